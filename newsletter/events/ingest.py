"""SendGrid Event Webhook payloads: map each event by table, store it, act on it.

Habits taken from anymail's SendGrid webhook: verification happens before this
module sees anything; every event is mapped through a table, never by ad-hoc
string tests; the raw event is kept; an event type or shape we do not know is
stored as ``UNKNOWN`` instead of failing the batch (SendGrid would retry a failed
batch for a day and every other event in it would be lost meanwhile).

Events join the ledger on the ledger-id custom arg that delivery stamps on every
message (:mod:`newsletter.delivery.stamps`; SendGrid flattens custom args into the
event object). Only when that is missing do we fall back to the email address. An
event for a ledger row left claimed (a crash) or unknown (a timeout) resolves it to
queued: the provider has the message, so nobody may send it again
(:func:`resolve_accepted`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.db.engine import session_scope
from newsletter.db.models import (
    UNRESOLVED_DELIVERY_STATES,
    Delivery,
    DeliveryState,
    Event,
    EventType,
    StatusCause,
    Subscriber,
    SubscriberStatus,
)
from newsletter.db.tables import table_of
from newsletter.db.types import UTCDateTime
from newsletter.delivery.stamps import LEDGER_ARG, read_ledger_id
from newsletter.subscribers.lifecycle import suppress

PROVIDER = "sendgrid"
_CHUNK = 500  # keeps IN (...) lists well under every driver's parameter limit
_delivery = table_of(Delivery)

EVENT_TYPES: dict[str, EventType] = {member.value: member for member in EventType if member is not EventType.UNKNOWN}

# A drop stops future sends only when the reason is about the recipient. Other
# drop reasons (a malformed SMTPAPI header, spam content, an account quota) are
# our problem, not theirs. Keys are SendGrid's reason texts, lower-cased.
PERMANENT_DROP_REASONS: dict[str, SubscriberStatus] = {
    "bounced address": SubscriberStatus.BOUNCED,
    "invalid": SubscriberStatus.BOUNCED,
    "spam reporting address": SubscriberStatus.COMPLAINED,
    "unsubscribed address": SubscriberStatus.UNSUBSCRIBED,
}

ALWAYS_SUPPRESS: dict[EventType, SubscriberStatus] = {
    EventType.SPAM_REPORT: SubscriberStatus.COMPLAINED,
    EventType.UNSUBSCRIBE: SubscriberStatus.UNSUBSCRIBED,
    EventType.GROUP_UNSUBSCRIBE: SubscriberStatus.UNSUBSCRIBED,
}


@dataclass(frozen=True)
class ParsedEvent:
    event_type: EventType
    raw_type: str
    provider_event_id: str | None
    email: str
    reason: str
    occurred_at: datetime
    delivery_id: int | None
    bounce_type: str
    url: str | None
    payload: dict[str, Any]


@dataclass
class IngestReport:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    suppressed: int = 0
    resolved: int = 0  # unresolved ledger rows (claimed, unknown) these events proved accepted
    # The editions those rows belong to: one may have nobody left now (send.edition.close_resolved).
    resolved_editions: set[int] = field(default_factory=set)


def _clean(value: Any) -> Any:
    # PostgreSQL refuses NUL in text and JSONB; a stray one must not sink the batch.
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {str(key).replace("\x00", ""): _clean(item) for key, item in value.items()}
    return value


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


_MAX_URL = 8000  # far past any link we send; the raw payload keeps the whole value anyway


def _occurred_at(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return fallback
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback


def parse_event(raw: Any, *, received_at: datetime) -> ParsedEvent:
    """Map one raw event; anything unrecognisable becomes an UNKNOWN event, kept whole."""
    payload = _clean(raw) if isinstance(raw, dict) else {"unparsed": _clean(raw)}
    raw_type = _text(payload.get("event"), 64)
    reason = payload.get("reason") or payload.get("response") or ""
    return ParsedEvent(
        event_type=EVENT_TYPES.get(raw_type, EventType.UNKNOWN),
        raw_type=raw_type,
        provider_event_id=_text(payload.get("sg_event_id"), 200) or None,
        email=_text(payload.get("email"), 320).strip().lower(),
        reason=reason if isinstance(reason, str) else "",
        occurred_at=_occurred_at(payload.get("timestamp"), received_at),
        delivery_id=read_ledger_id(payload.get(LEDGER_ARG)),
        bounce_type=_text(payload.get("type"), 32).lower(),
        url=_text(payload.get("url"), _MAX_URL) or None,
        payload=payload,
    )


def suppression_for(event: ParsedEvent) -> SubscriberStatus | None:
    """The status that stops future sends after this event, or None to keep sending."""
    if event.event_type in ALWAYS_SUPPRESS:
        return ALWAYS_SUPPRESS[event.event_type]
    if event.event_type is EventType.BOUNCE:
        # "blocked" is SendGrid's soft bounce: the receiving server refused this
        # message (reputation, content), not the address. It may work tomorrow.
        return None if event.bounce_type == "blocked" else SubscriberStatus.BOUNCED
    if event.event_type is EventType.DROPPED:
        return PERMANENT_DROP_REASONS.get(event.reason.strip().lower())
    return None


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _known_event_ids(session: Session, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        query = select(Event.provider_event_id).where(
            Event.provider == PROVIDER, col(Event.provider_event_id).in_(chunk)
        )
        found.update(value for value in session.exec(query) if value is not None)
    return found


def _delivery_owners(session: Session, ids: Sequence[int]) -> dict[int, int]:
    owners: dict[int, int] = {}
    for chunk in _chunks(ids):
        rows = session.exec(select(Delivery.id, Delivery.subscriber_id).where(col(Delivery.id).in_(chunk)))
        owners.update((delivery_id, subscriber_id) for delivery_id, subscriber_id in rows if delivery_id is not None)
    return owners


def _subscribers_by_email(session: Session, emails: Sequence[str]) -> dict[str, Subscriber]:
    found: dict[str, Subscriber] = {}
    for chunk in _chunks(emails):
        found.update((s.email, s) for s in session.exec(select(Subscriber).where(col(Subscriber.email).in_(chunk))))
    return found


def _subscribers_by_id(session: Session, ids: Sequence[int]) -> dict[int, Subscriber]:
    found: dict[int, Subscriber] = {}
    for chunk in _chunks(ids):
        rows = session.exec(select(Subscriber).where(col(Subscriber.id).in_(chunk)))
        # A stored row always has its id; the check only narrows ``int | None`` for the type checker.
        found.update((s.id, s) for s in rows if s.id is not None)
    return found


def record_events(session: Session, raw_events: Sequence[Any], *, now: datetime) -> IngestReport:
    """Store new events, skip ones already stored, and suppress where an event says so."""
    report = IngestReport(received=len(raw_events))
    parsed = [parse_event(raw, received_at=now) for raw in raw_events]
    seen = _known_event_ids(session, list({e.provider_event_id for e in parsed if e.provider_event_id}))
    fresh: list[ParsedEvent] = []
    for event in parsed:
        if event.provider_event_id is not None:
            if event.provider_event_id in seen:
                report.duplicates += 1
                continue
            seen.add(event.provider_event_id)  # the same event twice in one batch
        fresh.append(event)

    owners = _delivery_owners(session, list({e.delivery_id for e in fresh if e.delivery_id is not None}))
    by_email = _subscribers_by_email(session, list({e.email for e in fresh if e.email and e.delivery_id not in owners}))
    by_id = _subscribers_by_id(session, list(set(owners.values())))

    for event in fresh:
        delivery_id = event.delivery_id if event.delivery_id in owners else None
        # A ledger id we do not know (another deployment, a test send) links no
        # delivery; the address still identifies who complained or bounced.
        subscriber = by_id.get(owners[delivery_id]) if delivery_id is not None else by_email.get(event.email)
        session.add(
            Event(
                provider=PROVIDER,
                provider_event_id=event.provider_event_id,
                event_type=event.event_type,
                raw_type=event.raw_type,
                delivery_id=delivery_id,
                subscriber_id=subscriber.id if subscriber else None,
                email=event.email,
                reason=event.reason,
                url=event.url,
                bounce_type=event.bounce_type or None,
                occurred_at=event.occurred_at,
                received_at=now,
                payload=event.payload,
            )
        )
        status = suppression_for(event)
        if (
            subscriber is not None
            and status is not None
            and suppress(
                session,
                subscriber,
                status,
                now=now,
                cause=StatusCause.WEBHOOK,
                detail=f"{event.raw_type}: {event.reason}",
            )
        ):
            report.suppressed += 1
        report.stored += 1
    accepted = {e.delivery_id for e in fresh if e.delivery_id in owners and e.event_type is not EventType.UNKNOWN}
    moved = resolve_accepted(session, sorted(i for i in accepted if i is not None), now=now)
    report.resolved, report.resolved_editions = sum(moved.values()), set(moved)
    return report


def resolve_accepted(session: Session, delivery_ids: Sequence[int], *, now: datetime) -> Counter[int]:
    """Move unresolved rows (claimed, unknown) that an event names to QUEUED; how many moved, per edition.

    Any event of ours (processed first, but they arrive in any order) proves SendGrid
    accepted the message, so resending it would be a duplicate. A fresh claim may
    still belong to a sender waiting for its answer: that is safe, because the
    ledger's later writes change only CLAIMED rows (or confirm a resolved one,
    see ``send.ledger.record``), so its answer can never turn this row back into
    something a release or a resend would pick up.
    """
    moved: Counter[int] = Counter()
    for chunk in _chunks(delivery_ids):
        result = session.connection().execute(
            sa.update(_delivery)
            .where(_delivery.c.id.in_(chunk), _delivery.c.state.in_(UNRESOLVED_DELIVERY_STATES))
            .values(
                state=DeliveryState.QUEUED,
                resolved_at=now,
                sent_at=sa.func.coalesce(_delivery.c.sent_at, sa.literal(now, UTCDateTime())),
                updated_at=now,
            )
            .returning(_delivery.c.edition_id)
        )
        moved.update(result.scalars())
    return moved


def ingest(engine: sa.Engine, raw_events: Sequence[Any], *, now: datetime) -> IngestReport:
    """Record a batch in one transaction, all or nothing.

    Two deliveries of the same batch can race (SendGrid retries while the first
    is still being written). The loser hits the unique ``provider_event_id`` and
    is retried once, when the winner's rows are visible and count as duplicates.
    """
    try:
        with session_scope(engine) as session:
            return record_events(session, raw_events, now=now)
    except sa.exc.IntegrityError:
        with session_scope(engine) as session:
            return record_events(session, raw_events, now=now)
