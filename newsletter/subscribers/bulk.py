"""Apply many wanted subscriber states at once: a few SQL statements per batch, no ORM objects.

``import`` feeds it batches of validated CSV rows (on PostgreSQL only those of known
or erased addresses: ``staged`` inserts the new ones itself) and ``add --confirmed``
a batch of one, so both follow the same rule (``admission``) and leave the same traces: a
``status_change`` row for every status set, with the cause and its detail (for an
import, the file and time: the consent source).

Per batch: one lookup of the addresses already known (and of erased hashes among
the others), one of their regions, then an executemany per kind of write. Regions:
an active subscriber gets the listed regions switched on; a pending one gets them
stored, off, until the confirmation link switches them on (as the web form does);
a suppressed one keeps its regions untouched. Nothing is ever switched off: a
list that omits a region is not the subscriber asking to leave it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from newsletter.db.models import (
    StatusCause,
    StatusChange,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from newsletter.db.types import UTCDateTime
from newsletter.subscribers.admission import admitted_status
from newsletter.subscribers.bulk_sql import BulkWriter
from newsletter.subscribers.erased import address_hash
from newsletter.subscribers.history import DETAIL_CHARS


def _table(model: Any) -> sa.Table:
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)
    return table


_subscriber = _table(Subscriber)
_subscription = _table(Subscription)
_change = _table(StatusChange)

_SUBSCRIBER_COLUMNS = (
    "email",
    "name",
    "status",
    "paused",
    "token_version",
    "created_at",
    "updated_at",
    "confirmed_at",
    "unsubscribed_at",
)
_SUBSCRIPTION_COLUMNS = ("subscriber_id", "region_code", "active", "created_at")
_CHANGE_COLUMNS = ("subscriber_id", "old_status", "new_status", "cause", "detail", "at")

# Every batch's per-row update, written once: only the given values change.
_UPDATE_SUBSCRIBER = (
    sa.update(_subscriber)
    .where(_subscriber.c.id == sa.bindparam("b_id"))
    .values(
        status=sa.bindparam("b_status", type_=_subscriber.c.status.type),
        name=sa.func.coalesce(sa.bindparam("b_name", type_=sa.String()), _subscriber.c.name),
        confirmed_at=sa.func.coalesce(sa.bindparam("b_confirmed", type_=UTCDateTime()), _subscriber.c.confirmed_at),
        unsubscribed_at=sa.func.coalesce(
            sa.bindparam("b_unsubscribed", type_=UTCDateTime()), _subscriber.c.unsubscribed_at
        ),
        updated_at=sa.bindparam("b_now", type_=UTCDateTime()),
    )
)
_ACTIVATE_REGION = (
    sa.update(_subscription)
    .where(
        _subscription.c.subscriber_id == sa.bindparam("b_id"),
        _subscription.c.region_code == sa.bindparam("b_code"),
    )
    .values(active=sa.true())  # a literal: every bound value comes from the row dicts (bulk_sql)
)


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class WantedRow:
    """One validated row: what the list says about an address."""

    line: int  # where it came from (1 for a single `add`)
    email: str  # normal form (addresses.normalise_email)
    name: str | None  # None: leave the stored name alone
    status: SubscriberStatus  # ACTIVE, PENDING or a suppression
    regions: tuple[str, ...]  # known region codes


@dataclass
class BatchResult:
    counts: Counter[Outcome] = field(default_factory=Counter)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


@dataclass
class _Writes:
    """One batch's writes, as driver-ready tuples (see ``bulk_sql``)."""

    subscribers: list[tuple[Any, ...]] = field(default_factory=list)
    new_rows: list[WantedRow] = field(default_factory=list)  # same order as `subscribers`
    updates: list[dict[str, Any]] = field(default_factory=list)
    changes: list[tuple[Any, ...]] = field(default_factory=list)
    regions: list[tuple[Any, ...]] = field(default_factory=list)
    activations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Known:
    id: int
    status: SubscriberStatus
    name: str | None


class BulkMerger:
    """Merges batches of wanted rows inside the caller's transaction (``connection``)."""

    def __init__(self, connection: sa.Connection, *, cause: StatusCause, detail: str, now: datetime) -> None:
        self._connection = connection
        self._writer = BulkWriter(connection)
        self._cause = cause.value
        self._detail = detail[:DETAIL_CHARS]
        self._now = self._writer.timestamp(now)  # as the driver takes it; the same for every row

    @property
    def stamp(self) -> dict[str, Any]:
        """The cause, detail and time written on every change (driver-ready), by name."""
        return {"cause": self._cause, "detail": self._detail, "now": self._now}

    def merge(self, rows: Sequence[WantedRow]) -> BatchResult:
        """Apply one batch (distinct addresses; a few thousand at most)."""
        result = BatchResult()
        if not rows:
            return result
        known = self._known([row.email for row in rows])
        erased = self._erased([row.email for row in rows if row.email not in known])
        regions = self._regions([found.id for found in known.values()])
        writes = _Writes()
        # In address order: new rows then land on neighbouring pages of the email index.
        for row in sorted(rows, key=lambda row: row.email):
            found = known.get(row.email)
            if found is None:
                outcome = self._plan_new(row, erased, writes, result)
            else:
                outcome = self._plan_known(row, found, regions.get(found.id, {}), writes, result)
            result.counts[outcome] += 1
        self._write(writes)
        result.skipped.sort()  # reported in file order
        return result

    def _known(self, emails: list[str]) -> dict[str, _Known]:
        sql = "SELECT id, email, status, name FROM subscriber WHERE erased_at IS NULL AND email"
        return {
            email: _Known(subscriber_id, SubscriberStatus(status), name)
            for subscriber_id, email, status, name in self._writer.select_in(sql, emails)
        }

    def _erased(self, emails: list[str]) -> set[str]:
        """Which of these addresses were erased (by their hashes)."""
        if not emails or self._connection.exec_driver_sql("SELECT 1 FROM erased_address LIMIT 1").first() is None:
            return set()  # the usual case: nobody ever erased, so no need to hash and look up a batch
        by_hash = {address_hash(email): email for email in emails}
        sql = "SELECT address_hash FROM erased_address WHERE address_hash"
        return {by_hash[found] for (found,) in self._writer.select_in(sql, list(by_hash))}

    def _regions(self, ids: list[int]) -> dict[int, dict[str, bool]]:
        found: dict[int, dict[str, bool]] = {}
        sql = "SELECT subscriber_id, region_code, active FROM subscription WHERE subscriber_id"
        for subscriber_id, code, active in self._writer.select_in(sql, ids):
            found.setdefault(subscriber_id, {})[code] = bool(active)
        return found

    def _change(self, subscriber_id: int, old: SubscriberStatus | None, new: SubscriberStatus) -> tuple[Any, ...]:
        return (subscriber_id, old.value if old else None, new.value, self._cause, self._detail, self._now)

    def _plan_new(self, row: WantedRow, erased: set[str], writes: _Writes, result: BatchResult) -> Outcome:
        if row.email in erased:
            result.skipped.append((row.line, "erased on request: never added again"))
            return Outcome.SKIPPED
        now = self._now
        writes.subscribers.append(
            (
                row.email,
                row.name,
                row.status.value,
                False,
                1,
                now,
                now,
                now if row.status is SubscriberStatus.ACTIVE else None,
                now if row.status.is_suppressed else None,
            )
        )
        writes.new_rows.append(row)
        return Outcome.CREATED

    def _plan_known(
        self, row: WantedRow, found: _Known, stored: dict[str, bool], writes: _Writes, result: BatchResult
    ) -> Outcome:
        current = found.status
        final = admitted_status(current, row.status)
        if final is None:
            result.skipped.append((row.line, f"{current.value}: never re-activated by the list manager"))
            return Outcome.SKIPPED
        region_writes = self._plan_regions(found.id, final, row.regions, stored, writes)
        new_name = row.name if row.name is not None and row.name != found.name else None
        if final is current and new_name is None:
            return Outcome.UPDATED if region_writes else Outcome.UNCHANGED
        becomes_suppressed = final.is_suppressed and not current.is_suppressed
        writes.updates.append(
            {
                "b_id": found.id,
                "b_status": final.value,
                "b_name": new_name,
                "b_confirmed": self._now if final is SubscriberStatus.ACTIVE and current is not final else None,
                "b_unsubscribed": self._now if becomes_suppressed else None,
                "b_now": self._now,
            }
        )
        if final is not current:
            writes.changes.append(self._change(found.id, current, final))
        return Outcome.UPDATED

    def _plan_regions(
        self,
        subscriber_id: int,
        final: SubscriberStatus,
        codes: tuple[str, ...],
        stored: dict[str, bool],
        writes: _Writes,
    ) -> bool:
        """Queue the region writes this row needs; True if there are any."""
        if final.is_suppressed:
            return False
        active = final is SubscriberStatus.ACTIVE
        queued = False
        for code in codes:
            if code not in stored:
                writes.regions.append(self._region(subscriber_id, code, active))
                queued = True
            elif active and not stored[code]:
                writes.activations.append({"b_id": subscriber_id, "b_code": code})
                queued = True
        return queued

    def _region(self, subscriber_id: int, code: str, active: bool) -> tuple[Any, ...]:
        return (subscriber_id, code, active, self._now)

    def _write(self, writes: _Writes) -> None:
        if writes.subscribers:
            # No RETURNING: SQLite cannot return ids in parameter order from one
            # multi-row statement, so SQLAlchemy would insert row by row. Ask afterwards.
            self._writer.insert(_subscriber, _SUBSCRIBER_COLUMNS, writes.subscribers)
            sql = "SELECT email, id FROM subscriber WHERE email"
            new_ids = dict(self._writer.select_in(sql, [row.email for row in writes.new_rows]))
            for row in writes.new_rows:
                subscriber_id = new_ids[row.email]
                writes.changes.append(self._change(subscriber_id, None, row.status))
                if not row.status.is_suppressed:
                    active = row.status is SubscriberStatus.ACTIVE
                    writes.regions.extend(self._region(subscriber_id, code, active) for code in row.regions)
        self._writer.execute(_UPDATE_SUBSCRIBER, writes.updates)
        self._writer.execute(_ACTIVATE_REGION, writes.activations)
        self._writer.insert(_subscription, _SUBSCRIPTION_COLUMNS, writes.regions)
        self._writer.insert(_change, _CHANGE_COLUMNS, writes.changes)
