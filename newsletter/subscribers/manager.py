"""The list manager's actions on one address: add, show, remove, erase.

``add --confirmed`` goes through the same bulk merge as an import (a batch of one),
so both follow ``admission``; a plain ``add`` is the web form's subscribe request
made by the operator (a confirmation mail, the same refusals). ``remove`` is an
unsubscribe by the operator. ``erase`` answers an erasure request: the personal
data goes, the ledger's counts stay, and a hash of the address (``erased``) keeps
it from ever being mailed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.addresses import normalise_email
from newsletter.db.models import (
    Delivery,
    ErasedAddress,
    Event,
    StatusCause,
    StatusChange,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from newsletter.db.queries import regions_in_order
from newsletter.errors import ListError, NotFoundError
from newsletter.subscribers.bulk import BulkMerger, Outcome, WantedRow
from newsletter.subscribers.erased import address_hash
from newsletter.subscribers.history import changes_of
from newsletter.subscribers.lifecycle import (
    NO_MAIL_ON_REQUEST,
    SubscribeOutcome,
    check_request,
    revoke_links,
    subscribe,
    suppress,
)

ERASED_DOMAIN = "erased.invalid"  # RFC 2606: can never be a real mailbox


@dataclass(frozen=True)
class SubscriberView:
    email: str
    name: str | None
    status: SubscriberStatus
    paused: bool
    regions: tuple[str, ...]  # switched on (for a pending subscriber: asked for)
    created_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    history: tuple[StatusChange, ...]


@dataclass(frozen=True)
class ErasedView:
    erased_at: datetime


def _find(session: Session, email: str) -> Subscriber | None:
    return session.exec(select(Subscriber).where(Subscriber.email == email)).first()


def _erased_at(session: Session, email: str) -> datetime | None:
    found = session.get(ErasedAddress, address_hash(email))
    return found.erased_at if found is not None else None


def add_confirmed(session: Session, raw_email: str, region_codes: Sequence[str], *, now: datetime) -> Outcome:
    """Add (or complete) an address the operator states opted in; ListError when refused."""
    email = check_request(session, raw_email, region_codes)
    wanted = WantedRow(1, email, None, SubscriberStatus.ACTIVE, tuple(dict.fromkeys(region_codes)))
    merger = BulkMerger(
        session.connection(), cause=StatusCause.OPERATOR, detail="added by the operator, --confirmed", now=now
    )
    result = merger.merge([wanted])
    if result.skipped:
        raise ListError(f"{email}: {result.skipped[0][1]}")
    session.expire_all()  # the merge wrote past the ORM
    return next(iter(result.counts))


def add_pending(
    session: Session, raw_email: str, region_codes: Sequence[str], *, secret: bytes, now: datetime
) -> SubscribeOutcome:
    """The form's subscribe request, made by the operator: what to mail. ListError when refused."""
    email = check_request(session, raw_email, region_codes)
    if _erased_at(session, email) is not None:
        raise ListError(f"{email} was erased on request: it is never added again")
    found = _find(session, email)
    if found is not None and found.status in NO_MAIL_ON_REQUEST:
        raise ListError(f"{email} {found.status.value}: only the subscriber's own preference page can ask again")
    outcome = subscribe(session, email, region_codes, secret=secret, now=now, cause=StatusCause.OPERATOR)
    assert outcome is not None  # refused above
    return outcome


def describe(session: Session, raw_email: str) -> SubscriberView | ErasedView:
    """What `show` prints; NotFoundError for an address never seen."""
    email = normalise_email(raw_email)
    subscriber = _find(session, email)
    if subscriber is None or subscriber.id is None:
        erased_at = _erased_at(session, email)
        if erased_at is not None:
            return ErasedView(erased_at)
        raise NotFoundError(f"no subscriber has the address {email}")
    rows = {
        row.region_code: row.active
        for row in session.exec(select(Subscription).where(Subscription.subscriber_id == subscriber.id))
    }
    pending = subscriber.status is SubscriberStatus.PENDING
    regions = tuple(r.code for r in regions_in_order(session) if r.code in rows and (rows[r.code] or pending))
    return SubscriberView(
        email=subscriber.email,
        name=subscriber.name,
        status=subscriber.status,
        paused=subscriber.paused,
        regions=regions,
        created_at=subscriber.created_at,
        confirmed_at=subscriber.confirmed_at,
        unsubscribed_at=subscriber.unsubscribed_at,
        history=tuple(changes_of(session, subscriber.id)),
    )


def remove(session: Session, raw_email: str, *, now: datetime) -> tuple[str, bool, SubscriberStatus]:
    """Unsubscribe on the operator's word: (address, whether anything changed, status now)."""
    email = normalise_email(raw_email)
    subscriber = _find(session, email)
    if subscriber is None:
        raise NotFoundError(f"no subscriber has the address {email}")
    changed = suppress(
        session, subscriber, SubscriberStatus.UNSUBSCRIBED, now=now, cause=StatusCause.OPERATOR, detail="removed"
    )
    return email, changed, subscriber.status


def erase(session: Session, raw_email: str, *, now: datetime) -> bool:
    """Delete the address's personal data and keep its hash; True if a subscriber had it.

    The subscriber row stays, anonymised, so the ledger and the reports keep their
    counts: its address becomes ``erased-<id>@erased.invalid``, its name, regions
    and links go, the events lose the address and raw payload, and the address is
    blanked out of recorded error texts and history details. Erasing twice is harmless.
    """
    email = normalise_email(raw_email)
    hashed = address_hash(email)
    if session.get(ErasedAddress, hashed) is None:
        session.add(ErasedAddress(address_hash=hashed, erased_at=now))
    subscriber = _find(session, email)
    if subscriber is None or subscriber.id is None:
        return False
    suppress(session, subscriber, SubscriberStatus.UNSUBSCRIBED, now=now, cause=StatusCause.OPERATOR, detail="erased")
    revoke_links(session, subscriber, now=now)
    subscriber.email = f"erased-{subscriber.id}@{ERASED_DOMAIN}"
    subscriber.name = None
    subscriber.erased_at = now
    session.flush()
    session.execute(sa.delete(Subscription).where(col(Subscription.subscriber_id) == subscriber.id))
    session.execute(
        sa.update(Event)
        .where(sa.or_(col(Event.subscriber_id) == subscriber.id, col(Event.email) == email))
        .values(email="", payload={}, reason=sa.func.replace(Event.reason, email, "[erased]"))
    )
    session.execute(  # a provider's reason, kept as a change's detail, may quote the address
        sa.update(StatusChange)
        .where(col(StatusChange.subscriber_id) == subscriber.id)
        .values(detail=sa.func.replace(StatusChange.detail, email, "[erased]"))
    )
    session.execute(
        sa.update(Delivery)
        .where(col(Delivery.subscriber_id) == subscriber.id, col(Delivery.last_error).is_not(None))
        .values(last_error=sa.func.replace(Delivery.last_error, email, "[erased]"))
    )
    return True
