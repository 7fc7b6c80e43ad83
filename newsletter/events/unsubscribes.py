"""Unsubscribes through our own pages, recorded beside the provider's events for the report.

SendGrid reports the unsubscribes it handles itself; the one-click POST (RFC 8058)
and the preference page reach us instead and would otherwise leave no trace per
edition. Each is stored as an ``unsubscribe`` event of provider ``newsletter``,
``raw_type`` naming the path, joined to the reader's latest delivery: the links
carry the subscriber's token but not the edition, and the latest mail they got is
the one they are most likely acting on.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from newsletter.db.models import Delivery, DeliveryState, Event, EventType, StatusCause, Subscriber, SubscriberStatus
from newsletter.subscribers.lifecycle import suppress

OUR_PROVIDER = "newsletter"
_HANDED_OVER = (DeliveryState.QUEUED, DeliveryState.SENT)


class UnsubscribePath(StrEnum):
    ONE_CLICK = "one_click"  # the List-Unsubscribe-Post request a mailbox provider makes
    PREFERENCE_PAGE = "preference_page"  # a reader on our pages: the unsubscribe page's button or the preference page


def unsubscribe_via(session: Session, subscriber: Subscriber, path: UnsubscribePath, *, now: datetime) -> bool:
    """Unsubscribe (idempotent) and, when it changed anything, record the path taken. True if recorded."""
    if not suppress(
        session, subscriber, SubscriberStatus.UNSUBSCRIBED, now=now, cause=StatusCause.FORM, detail=path.value
    ):
        return False
    latest = session.exec(
        select(Delivery.id)
        .where(Delivery.subscriber_id == subscriber.id, col(Delivery.state).in_(_HANDED_OVER))
        .order_by(col(Delivery.id).desc())
        .limit(1)
    ).first()
    session.add(
        Event(
            provider=OUR_PROVIDER,
            event_type=EventType.UNSUBSCRIBE,
            raw_type=path.value,
            delivery_id=latest,
            subscriber_id=subscriber.id,
            email=subscriber.email,
            occurred_at=now,
            received_at=now,
            payload={"path": path.value},
        )
    )
    return True
