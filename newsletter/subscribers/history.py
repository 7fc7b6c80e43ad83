"""The status history: every change of a subscriber's status, with its cause.

One function records a change, whoever makes it (the web form and pages, the
provider webhook, an import, the operator), so ``newsletter subscribers show``
can answer "why is this address not getting mail?" and an import can prove where
a subscriber's consent came from (the file and time, in ``detail``).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from newsletter.db.models import StatusCause, StatusChange, Subscriber, SubscriberStatus

DETAIL_CHARS = 300  # the column's width


def record_change(
    session: Session,
    subscriber: Subscriber,
    old: SubscriberStatus | None,
    *,
    cause: StatusCause,
    detail: str = "",
    now: datetime,
) -> None:
    """Record that ``subscriber`` went from ``old`` (None: it was created) to its current status."""
    if subscriber.id is None:
        session.flush()  # a new subscriber needs its id before the history row can point at it
    assert subscriber.id is not None
    session.add(
        StatusChange(
            subscriber_id=subscriber.id,
            old_status=old,
            new_status=subscriber.status,
            cause=cause,
            detail=detail[:DETAIL_CHARS],
            at=now,
        )
    )


def changes_of(session: Session, subscriber_id: int) -> list[StatusChange]:
    """A subscriber's history, oldest first."""
    query = (
        select(StatusChange)
        .where(StatusChange.subscriber_id == subscriber_id)
        .order_by(col(StatusChange.at), col(StatusChange.id))
    )
    return list(session.exec(query))
