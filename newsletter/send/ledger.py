"""The delivery ledger's SQL: who is next, claim them, record answers, release, count.

Everything here is SQLAlchemy Core on plain rows (no ORM objects): it runs once
per batch of up to a thousand subscribers, a thousand times for a million.

The ledger's unique (edition_id, subscriber_id) is the whole exactly-once story: a
claim is one ``INSERT ... SELECT ... RETURNING``, so when two dispatchers race for the
same subscriber the database gives the row to one. On SQLite the loser skips that row
(``ON CONFLICT DO NOTHING``); on PostgreSQL its whole claim fails on the unique index and
writes nothing (:func:`claim_next` says so as an empty claim), because ``ON CONFLICT``'s
speculative insertion cost every claimed row a third of its server time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.db.models import (
    SUPPRESSED_SUBSCRIBER_STATUSES,
    UNRESOLVED_DELIVERY_STATES,
    Delivery,
    DeliveryState,
    Event,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from newsletter.db.tables import table_of
from newsletter.db.types import UTCDateTime

_CHUNK = 500  # keeps IN (...) lists well under every driver's parameter limit
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE for a duplicate key

# Suppressed subscribers (SUPPRESSED_SUBSCRIBER_STATUSES) still get a ledger row (state
# SUPPRESSED, reason in last_error), so an edition's counts say how many were held back and why.
UNRESOLVED = UNRESOLVED_DELIVERY_STATES

_delivery = table_of(Delivery)
_subscriber = table_of(Subscriber)
_subscription = table_of(Subscription)
_event = table_of(Event)


class Candidate(NamedTuple):
    """A row of the list; a tuple, not a dataclass: made once per reader of every send."""

    subscriber_id: int
    email: str
    token_version: int
    status: str  # a SubscriberStatus value, left as the stored text (no enum per row)


class Claimed(NamedTuple):
    delivery_id: int
    subscriber_id: int
    email: str
    token_version: int


@dataclass(frozen=True)
class Unresolved:
    delivery_id: int
    subscriber_id: int
    email: str
    state: DeliveryState
    claimed_at: datetime
    last_error: str | None


def _on_the_list(edition_id: Any, region_code: Any, after: Any) -> list[sa.ColumnElement[bool]]:
    """Who an edition goes to (or is recorded as suppressed for) past ``after``, not yet in its ledger.

    The key bound is repeated on every table on purpose: PostgreSQL does not carry a
    range across a join, and without it each page would scan the subscriber table and
    the edition's ledger from the start (quadratic over a million readers).
    """
    s, sub, d = _subscriber.c, _subscription.c, _delivery.c
    return [
        sub.region_code == region_code,
        sub.active.is_(True),
        sub.subscriber_id > after,
        s.id > after,
        sa.or_(
            sa.and_(s.status == SubscriberStatus.ACTIVE, s.paused.is_(False)),
            s.status.in_([sa.literal(status.value, sa.String()) for status in sorted(SUPPRESSED_SUBSCRIBER_STATUSES)]),
        ),
        ~sa.exists().where(d.edition_id == edition_id, d.subscriber_id > after, d.subscriber_id == sub.subscriber_id),
    ]


_LIST_JOIN = _subscription.join(_subscriber, _subscriber.c.id == _subscription.c.subscriber_id)


def next_candidates(
    connection: sa.Connection, *, edition_id: int, region_code: str, after: int, limit: int
) -> list[Candidate]:
    """The next subscribers of the region by id (keyset), without a ledger row for the edition yet.

    Active and not paused subscribers are to be sent; unsubscribed, bounced and
    complained ones are returned too, to be recorded as suppressed. Pending
    (never confirmed) subscribers are not on the list at all.
    """
    rows = connection.execute(
        _next_candidates_statement(),
        {"edition_id": edition_id, "region_code": region_code, "after": after, "limit": limit},
    )
    return [Candidate._make(row) for row in rows]


@cache
def _next_candidates_statement() -> sa.Select[tuple[int, str, int, str]]:
    """Built once with bound parameters: building and compiling it per batch cost more than running it."""
    s, sub = _subscriber.c, _subscription.c
    return (
        sa.select(sub.subscriber_id, s.email, s.token_version, sa.type_coerce(s.status, sa.String()))
        .select_from(_LIST_JOIN)
        .where(*_on_the_list(sa.bindparam("edition_id"), sa.bindparam("region_code"), sa.bindparam("after")))
        .order_by(sub.subscriber_id)
        .limit(sa.bindparam("limit", type_=sa.Integer()))
    )


def _insert(dialect: str) -> postgresql.Insert | sqlite.Insert:
    if dialect == "postgresql":
        return postgresql.insert(_delivery)
    if dialect == "sqlite":
        return sqlite.insert(_delivery)
    raise NotImplementedError(f"no claim statement for {dialect}")


@dataclass(frozen=True)
class ClaimResult:
    to_send: list[Claimed]  # rows this caller won, to hand to a backend, in subscriber order
    suppressed: int  # rows this caller recorded as suppressed
    last_subscriber_id: int | None  # the highest subscriber this claim wrote a row for; None: it wrote none


def claim_next(
    connection: sa.Connection, *, edition_id: int, region_code: str, after: int, limit: int, now: datetime
) -> ClaimResult:
    """Claim the next ``limit`` readers past ``after`` (keyset) in one statement; return those this caller won.

    ``INSERT ... SELECT ... ORDER BY subscriber_id LIMIT n``: the list is read and its
    rows written by the database in one pass, so the list's conditions are checked at
    the instant of the claim (a reader who unsubscribed a moment ago is recorded as
    suppressed, never sent), and no batch of ids travels to the database and back. A
    reader another dispatcher claimed first is never sent twice: the unique (edition,
    subscriber) decides (on PostgreSQL in a savepoint, so a lost race undoes this claim
    alone, not the caller's transaction).

    No row written (``last_subscriber_id`` None) means the list is exhausted past
    ``after``, or a reader picked was taken by another dispatcher meanwhile (on
    PostgreSQL the claim then writes none of its rows, see the module's docstring):
    the caller tells the two apart with :func:`next_candidates`.
    """
    dialect = connection.dialect.name
    parameters = {"edition_id": edition_id, "region_code": region_code, "after": after, "limit": limit, "now": now}
    if dialect == "postgresql":
        try:
            with connection.begin_nested():  # a lost race undoes the claim alone, not the caller's transaction
                row = connection.execute(_claim_statement(dialect), parameters).one()
        except sa.exc.IntegrityError as error:
            if not is_lost_race(error.orig):
                raise
            return ClaimResult([], 0, None)
        return claim_result(tuple(row))
    rows = connection.execute(_claim_statement(dialect), parameters).all()
    if not rows:
        return ClaimResult([], 0, None)
    claimed = DeliveryState.CLAIMED.value
    to_send = [Claimed(row[0], row[1], row[3], row[4]) for row in rows if row[2] == claimed]
    # RETURNING promises no order; a batch goes out in subscriber order.
    to_send.sort(key=_by_subscriber)
    return ClaimResult(to_send, len(rows) - len(to_send), max(row[1] for row in rows))


def claim_result(row: tuple[Any, ...]) -> ClaimResult:
    """What PostgreSQL's claim returns, one row of arrays (see :func:`_claim_statement`), as a ClaimResult."""
    ids, subscribers, emails, versions, written, last = row
    if not written:
        return ClaimResult([], 0, None)
    # The arrays line up but come in no promised order; a batch goes out in subscriber order.
    to_send = sorted(map(Claimed, ids or (), subscribers or (), emails or (), versions or ()), key=_by_subscriber)
    return ClaimResult(to_send, written - len(to_send), last)


def is_lost_race(error: BaseException | None) -> bool:
    """A PostgreSQL claim that met a reader another dispatcher claimed first: the ledger's unique index refused it."""
    return getattr(error, "sqlstate", None) == UNIQUE_VIOLATION


def _by_subscriber(claimed: Claimed) -> int:
    return claimed.subscriber_id


def _claim_rows(status: sa.ColumnElement[Any], subscriber_id: sa.ColumnElement[int], now: Any) -> sa.Select[Any]:
    """The ledger row of each reader picked: claimed when active, else suppressed with the reason."""
    is_active = status == SubscriberStatus.ACTIVE
    return sa.select(
        sa.bindparam("edition_id", type_=sa.Integer()),
        subscriber_id,
        sa.case((is_active, DeliveryState.CLAIMED.value), else_=DeliveryState.SUPPRESSED.value),
        sa.literal(0, sa.Integer),
        sa.case((is_active, sa.null()), else_=sa.literal("subscriber ", sa.String).concat(sa.cast(status, sa.String))),
        now,
        now,
    )


@cache
def _claim_statement(dialect: str) -> sa.Executable:
    """The claim, built once per dialect with bound parameters (the compiled form is then cached).

    It returns what a message needs (email, token version) for rows to send. On
    PostgreSQL that is one row of arrays (ids, subscribers, emails, token versions,
    position by position) with the count and highest subscriber of every row written:
    one row to fetch instead of a thousand (:func:`claim_result` reads it), and no
    ``ON CONFLICT`` (see the module's docstring). SQLite has no INSERT in a CTE, so no
    aggregate over it: a row per written row, suppressed ones with their id and state alone.
    """
    if dialect == "postgresql":
        return _postgresql_claim()
    s, sub, d = _subscriber.c, _subscription.c, _delivery.c
    rows = (
        _claim_rows(s.status, sub.subscriber_id, sa.bindparam("now", type_=UTCDateTime()))
        .select_from(_LIST_JOIN)
        .where(*_claim_conditions())
        .order_by(sub.subscriber_id)
        .limit(sa.bindparam("limit", type_=sa.Integer()))
    )
    claim = (
        _insert(dialect)
        .from_select(_CLAIM_COLUMNS, rows)
        .on_conflict_do_nothing(index_elements=["edition_id", "subscriber_id"])
    )
    state = sa.type_coerce(d.state, sa.String())  # the stored text: no enum conversion per row
    # SQLite's RETURNING may hold subqueries on the inserted row.
    to_send = d.state == DeliveryState.CLAIMED

    def of_reader(column: str, type_: sa.types.TypeEngine[Any]) -> sa.ColumnElement[Any]:
        # Written out because SQLAlchemy does not correlate a subquery in RETURNING with
        # the inserted row (it would add the table to the subquery's FROM).
        looked_up = sa.literal_column(
            f"(SELECT reader.{column} FROM {_subscriber.name} AS reader"
            f" WHERE reader.id = {_delivery.name}.subscriber_id)",
            type_,
        )
        return sa.case((to_send, looked_up), else_=sa.null())

    return claim.returning(
        d.id, d.subscriber_id, state, of_reader("email", sa.String()), of_reader("token_version", sa.Integer())
    )


_CLAIM_COLUMNS = ["edition_id", "subscriber_id", "state", "attempts", "last_error", "claimed_at", "updated_at"]


def _claim_conditions() -> list[sa.ColumnElement[bool]]:
    return _on_the_list(sa.bindparam("edition_id"), sa.bindparam("region_code"), sa.bindparam("after"))


def compiled_claim(dialect: sa.Dialect) -> tuple[str, dict[str, Any]]:
    """PostgreSQL's claim as the driver's SQL text, with the statement's literal values.

    For a caller that hands it to psycopg itself (``send.claims_ahead``); it adds the
    parameters :func:`claim_next` takes.
    """
    compiled = _postgresql_claim().compile(dialect=dialect)
    return compiled.string, dict(compiled.params)


@cache
def _postgresql_claim() -> sa.Select[Any]:
    """The readers picked, with what a message needs, in a CTE the written rows join back to.

    A join to the subscriber table instead was planned, on lists up to a few hundred
    thousand, as a hash of the whole table per claim (quadratic).
    """
    s, sub, d = _subscriber.c, _subscription.c, _delivery.c
    picked = (
        sa.select(sub.subscriber_id, s.status, s.email, s.token_version)
        .select_from(_LIST_JOIN)
        .where(*_claim_conditions())
        .order_by(sub.subscriber_id)
        .limit(sa.bindparam("limit", type_=sa.Integer()))
        .cte("picked")
    )
    p = picked.c
    now = sa.bindparam("now", type_=UTCDateTime())
    written = (
        _insert("postgresql")
        .from_select(
            _CLAIM_COLUMNS, _claim_rows(p.status, p.subscriber_id, now).select_from(picked).order_by(p.subscriber_id)
        )
        .returning(d.id, d.subscriber_id, sa.type_coerce(d.state, sa.String()).label("state"))
        .cte("written")
    )
    w = written.c
    to_send = w.state == DeliveryState.CLAIMED.value

    def gathered(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        # No ORDER BY in the aggregate: it would sort each array on its own. Aggregates of one
        # pass take the rows in the same order, so the arrays line up; claim_result sorts them.
        return sa.func.array_agg(column).filter(to_send)

    return sa.select(
        gathered(w.id),
        gathered(w.subscriber_id),
        gathered(p.email),
        gathered(p.token_version),
        sa.func.count(),
        sa.func.max(w.subscriber_id),
    ).select_from(written.join(picked, p.subscriber_id == w.subscriber_id))


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _id_filters(dialect: str, ids: Sequence[int]) -> Iterable[tuple[Sequence[int], sa.ColumnElement[bool]]]:
    """``delivery.id`` among ``ids``, as (ids, condition) pairs: on PostgreSQL one array parameter.

    An IN list is a parameter per id, which SQLAlchemy renders and psycopg parses again on
    every batch (too long a statement for its cache): about 5 µs of the dispatcher's CPU
    per recipient recorded, against 1.5 µs for ``= ANY(array)``. Elsewhere, IN lists of _CHUNK.
    """
    if dialect == "postgresql":
        yield ids, _delivery.c.id == sa.any_(sa.literal(list(ids), postgresql.ARRAY(_delivery.c.id.type)))
        return
    for chunk in _chunks(ids):
        yield chunk, _delivery.c.id.in_(chunk)


@dataclass(frozen=True)
class Answer:
    """One group of rows that got the same answer (most of a batch shares one)."""

    state: DeliveryState
    delivery_ids: Sequence[int]
    provider_message_id: str | None = None
    error: str | None = None


def record(connection: sa.Connection, answers: Iterable[Answer], *, attempts: int, now: datetime) -> list[int]:
    """Mark claimed rows with the backend's answer. Only rows still CLAIMED change.

    A row a provider event resolved meanwhile (QUEUED, ``resolved_at`` set, see
    ``events.ingest.resolve_accepted``) takes a handed-over answer (its message id)
    and ignores any other: a late UNKNOWN or FAILED never downgrades what the
    provider said it accepted into something a release or a resend would pick up.

    Returns the ids of handed-over answers (SENT, QUEUED) whose row was gone: an
    operator released it while the batch was still retrying. The caller writes
    those back (:func:`record_late`) so nobody sends them again.
    """
    d = _delivery.c
    missing: list[int] = []
    resolved = sa.and_(d.state == DeliveryState.QUEUED, d.resolved_at.is_not(None))
    for answer in answers:
        handed_over = answer.state in (DeliveryState.SENT, DeliveryState.QUEUED)
        claimed = d.state == DeliveryState.CLAIMED
        writable = sa.or_(claimed, resolved) if handed_over else claimed
        values = {
            "state": answer.state,
            "provider_message_id": answer.provider_message_id,
            "last_error": answer.error,
            "attempts": attempts,
            "updated_at": now,
            "sent_at": now if handed_over else None,
        }
        for ids, among in _id_filters(connection.dialect.name, answer.delivery_ids):
            updated = (
                connection.execute(sa.update(_delivery).where(among, writable).values(**values).returning(d.id))
                .scalars()
                .all()
            )
            if handed_over and len(updated) < len(ids):
                missing += sorted(set(ids) - set(updated))
    return missing


def touch(connection: sa.Connection, delivery_ids: Sequence[int], *, now: datetime) -> None:
    """Refresh ``updated_at`` of claims still being worked on.

    The operator's release treats CLAIMED rows untouched for a while as abandoned;
    a batch that is still retrying must not look abandoned, or it could be sent twice.
    """
    d = _delivery.c
    for ids in _chunks(delivery_ids):
        connection.execute(
            sa.update(_delivery).where(d.id.in_(ids), d.state == DeliveryState.CLAIMED).values(updated_at=now)
        )


@dataclass(frozen=True)
class LateAnswer:
    """A handed-over answer whose claim had been released meanwhile: the reader did get it."""

    edition_id: int
    subscriber_id: int
    state: DeliveryState
    provider_message_id: str | None
    attempts: int


def record_late(connection: sa.Connection, late: Sequence[LateAnswer], *, now: datetime) -> int:
    """Write back rows for readers whose released claim was handed over after all.

    Without the row, the next send would take them as never sent and mail them a
    second copy. If another dispatcher claimed them again in between, its row wins
    (ON CONFLICT DO NOTHING): that copy is already on its way. Returns the rows written.
    """
    if not late:
        return 0
    values = [
        {
            "edition_id": a.edition_id,
            "subscriber_id": a.subscriber_id,
            "state": a.state.value,
            "provider_message_id": a.provider_message_id,
            "attempts": a.attempts,
            "last_error": None,
            "claimed_at": now,
            "updated_at": now,
            "sent_at": now,
        }
        for a in late
    ]
    statement = (
        _insert(connection.dialect.name)
        .values(values)
        .on_conflict_do_nothing(index_elements=["edition_id", "subscriber_id"])
        .returning(_delivery.c.id)
    )
    return len(connection.execute(statement).all())


def release(connection: sa.Connection, delivery_ids: Sequence[int]) -> int:
    """Delete claims that were certainly not handed over, so the next send picks them up."""
    d = _delivery.c
    released = 0
    for ids in _chunks(delivery_ids):
        result = connection.execute(sa.delete(_delivery).where(d.id.in_(ids), d.state == DeliveryState.CLAIMED))
        released += result.rowcount
    return released


def _has_event() -> sa.Exists:
    """The delivery row has a provider event: the provider accepted its message."""
    return sa.exists().where(_event.c.delivery_id == _delivery.c.id)


def release_unresolved(
    connection: sa.Connection, *, edition_id: int, claimed_before: datetime, no_event_before: datetime | None = None
) -> int:
    """The operator's release: UNKNOWN rows, and CLAIMED rows older than ``claimed_before``.

    Recent CLAIMED rows are left alone: they may belong to a dispatcher that is
    still waiting for its answer. A row with a provider event is never released
    (the provider has the message). ``no_event_before`` (``release --without-events``)
    releases only rows last written before it, so each had that long to get an event.
    """
    d = _delivery.c
    conditions = [
        d.edition_id == edition_id,
        sa.or_(
            d.state == DeliveryState.UNKNOWN,
            sa.and_(d.state == DeliveryState.CLAIMED, d.updated_at < claimed_before),
        ),
        ~_has_event(),
    ]
    if no_event_before is not None:
        conditions.append(d.updated_at < no_event_before)
    return connection.execute(sa.delete(_delivery).where(*conditions)).rowcount


@dataclass(frozen=True)
class EventWait:
    """The unresolved rows of an edition by what the provider said, and those its events resolved."""

    accepted: int  # unresolved, but an event names them: the provider has them (resolved at the next event)
    waiting: int  # no event yet, written less than the wait ago: one may still come
    without_events: int  # no event after the wait: what ``release --without-events`` releases
    resolved: int  # were claimed or unknown; a provider event moved them to queued


def event_wait(connection: sa.Connection, *, edition_id: int, no_event_before: datetime) -> EventWait:
    """Split the edition's unresolved rows by provider events, in one pass."""
    d = _delivery.c
    has_event = _has_event()
    unresolved_row = d.state.in_(UNRESOLVED)

    def count(*conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0)), 0)

    row = connection.execute(
        sa.select(
            count(unresolved_row, has_event),
            count(unresolved_row, ~has_event, d.updated_at >= no_event_before),
            count(unresolved_row, ~has_event, d.updated_at < no_event_before),
            count(d.resolved_at.is_not(None)),
        ).where(d.edition_id == edition_id)
    ).one()
    return EventWait(*(int(value) for value in row))


def young_claims(
    connection: sa.Connection, *, edition_id: int, touched_since: datetime
) -> tuple[int, datetime | None, datetime | None]:
    """CLAIMED rows touched at or after ``touched_since`` (those the release keeps): count, oldest and newest touch."""
    d = _delivery.c
    row = connection.execute(
        sa.select(sa.func.count(), sa.func.min(d.updated_at), sa.func.max(d.updated_at)).where(
            d.edition_id == edition_id, d.state == DeliveryState.CLAIMED, d.updated_at >= touched_since
        )
    ).one()
    return int(row[0]), row[1], row[2]


def outstanding(
    connection: sa.Connection, *, edition_id: int, region_code: str, listed_before: datetime | None = None
) -> bool:
    """Whether the edition still owes anyone an answer: a CLAIMED/UNKNOWN row, or an eligible reader with no row.

    ``listed_before`` leaves out subscriptions made after that instant (the send's
    start): readers who join while a big list is going out are welcome to the
    rest of the send, but must not keep a finished edition open, nor reopen it.

    The unresolved rows are read first on purpose. A claim moves from CLAIMED to
    deleted (released) to candidate; under READ COMMITTED each statement sees the
    latest commits, so a release landing between the two reads is seen by one of
    them, never missed by both.
    """
    d, sub = _delivery.c, _subscription.c
    unresolved_row = connection.execute(
        sa.select(d.id).where(d.edition_id == edition_id, d.state.in_(UNRESOLVED)).limit(1)
    ).first()
    if unresolved_row is not None:
        return True
    conditions = _on_the_list(edition_id, region_code, 0)
    if listed_before is not None:
        conditions.append(sub.created_at <= sa.literal(listed_before, UTCDateTime()))
    left = connection.execute(sa.select(sub.subscriber_id).select_from(_LIST_JOIN).where(*conditions).limit(1)).first()
    return left is not None


def state_counts(connection: sa.Connection, *, edition_id: int) -> dict[DeliveryState, int]:
    """Rows per state for an edition; every state present, zero when none."""
    return state_counts_by_edition(connection, [edition_id])[edition_id]


def state_counts_by_edition(
    connection: sa.Connection, edition_ids: Sequence[int]
) -> dict[int, dict[DeliveryState, int]]:
    """:func:`state_counts` for several editions in one query per chunk of ids."""
    d = _delivery.c
    counts = {edition_id: dict.fromkeys(DeliveryState, 0) for edition_id in edition_ids}
    for chunk in _chunks(edition_ids):
        rows = connection.execute(
            sa.select(d.edition_id, d.state, sa.func.count())
            .where(d.edition_id.in_(chunk))
            .group_by(d.edition_id, d.state)
        )
        for edition_id, state, count in rows:
            counts[edition_id][DeliveryState(state)] = count
    return counts


def readers_left(connection: sa.Connection, *, edition_id: int, region_code: str) -> int:
    """How many of the region's readers have no ledger row for the edition yet (to send or to suppress)."""
    query = sa.select(sa.func.count()).select_from(_LIST_JOIN).where(*_on_the_list(edition_id, region_code, 0))
    return int(connection.execute(query).scalar_one())


def last_delivery_id(connection: sa.Connection) -> int:
    """The highest ledger id so far (0 for an empty ledger)."""
    return int(connection.execute(sa.select(sa.func.max(_delivery.c.id))).scalar() or 0)


@dataclass(frozen=True)
class FailureGroup:
    """The FAILED rows of an edition that share one reason (the provider's text): how many, a few addresses."""

    reason: str  # "" when none was recorded
    count: int
    examples: list[str]


def failures_by_reason(
    connection: sa.Connection, *, edition_id: int, reasons: int = 10, examples: int = 3
) -> list[FailureGroup]:
    """The ``reasons`` most frequent failure reasons, most frequent first, each with ``examples`` addresses."""
    d, s = _delivery.c, _subscriber.c
    reason = sa.func.coalesce(d.last_error, "")
    failed = (d.edition_id == edition_id, d.state == DeliveryState.FAILED)
    counts = connection.execute(
        sa.select(reason.label("reason"), sa.func.count().label("n"))
        .where(*failed)
        .group_by(reason)
        .order_by(sa.func.count().desc(), reason)
        .limit(reasons)
    ).all()
    groups = []
    for text, count in counts:
        addresses = connection.execute(
            sa.select(s.email)
            .select_from(_delivery.join(_subscriber, s.id == d.subscriber_id))
            .where(*failed, reason == text)
            .order_by(d.id)
            .limit(examples)
        ).scalars()
        groups.append(FailureGroup(text, count, list(addresses)))
    return groups


def unresolved(connection: sa.Connection, *, edition_id: int, limit: int = 100) -> list[Unresolved]:
    """Rows whose outcome nobody recorded (claimed) or nobody knows (unknown), oldest first."""
    d, s = _delivery.c, _subscriber.c
    query = (
        sa.select(d.id, d.subscriber_id, s.email, d.state, d.claimed_at, d.last_error)
        .select_from(_delivery.join(_subscriber, s.id == d.subscriber_id))
        .where(d.edition_id == edition_id, d.state.in_(UNRESOLVED))
        .order_by(d.id)
        .limit(limit)
    )
    return [
        Unresolved(row.id, row.subscriber_id, row.email, DeliveryState(row.state), row.claimed_at, row.last_error)
        for row in connection.execute(query)
    ]
