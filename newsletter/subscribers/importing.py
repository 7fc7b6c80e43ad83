"""`newsletter subscribers import`: a CSV list merged into the subscribers, in bulk.

The file is streamed (``import_file``) inside one transaction, so memory stays flat
however long the list is, and the import is all or nothing when it must be:
``strict`` (any bad row) and ``dry_run`` roll the whole transaction back after
counting what would have happened, with the very same code path as a real import.
The first occurrence of an address in the file is imported, every later one is a
bad row naming the first.

On SQLite the rows are merged in batches (``bulk``), and duplicates are found with
a temporary table of the addresses seen so far (address -> first line), not a set
in memory. On PostgreSQL the whole file is staged with one COPY and merged on the
server (``staged``). The file's own bad rows are reported as they are read, then
the duplicates, then the skipped rows, each in file order (on SQLite batch by batch).

Every row this import creates or changes gets a ``status_change`` row whose
detail names the file, the time and the mode: the record of where consent came
from. The same detail finds, after commit, the pending subscribers this import
created, for their confirmation mails.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.db.engine import session_scope
from newsletter.db.models import StatusCause, StatusChange, Subscriber, SubscriberStatus
from newsletter.db.queries import regions_in_order
from newsletter.subscribers.bulk import BatchResult, BulkMerger, Outcome, WantedRow
from newsletter.subscribers.bulk_sql import BulkWriter
from newsletter.subscribers.import_file import BadRow, duplicate_of, read_rows
from newsletter.subscribers.lifecycle import SubscribeOutcome, request_confirmation
from newsletter.subscribers.staged import StagedImport, StagedReport

BATCH_ROWS = 5000
SQLITE_CACHE_KIB = 32768


class ImportMode(StrEnum):
    CONFIRMED = "confirmed"  # the operator states every address opted in: imported active
    SEND_CONFIRMATIONS = "send-confirmations"  # imported pending; each new one is mailed a link


@dataclass
class ImportSummary:
    counts: Counter[Outcome] = field(default_factory=Counter)
    bad: int = 0
    written: bool = False
    run: str = ""  # the detail recorded on every status change of this run

    @property
    def good(self) -> int:
        """Rows that passed every check (created, updated, unchanged or skipped)."""
        return sum(self.counts.values())

    def created(self, count: int) -> None:
        """``count`` more addresses were created at once."""
        self.counts[Outcome.CREATED] += count

    def line(self) -> str:
        parts = [f"{self.counts[outcome]} {outcome.value}" for outcome in Outcome]
        return ", ".join([*parts, f"{self.bad} bad"])


@dataclass(frozen=True)
class ImportReporter:
    """Where rows that were not imported are told, and how far the file was read."""

    on_bad: Callable[[BadRow], None] = lambda _: None
    on_skipped: Callable[[int, str], None] = lambda _line, _reason: None
    on_bytes: Callable[[int], None] = lambda _: None


def _seen_table() -> sa.Table:
    return sa.Table(
        "import_seen_address",
        sa.MetaData(),
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("line", sa.Integer, nullable=False),
        prefixes=["TEMPORARY"],
        sqlite_with_rowid=False,  # one B-tree, not a table and an index
    )


class _Duplicates:
    """Finds rows whose address appeared on an earlier line of the same file."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self._table = _seen_table()
        self._writer = BulkWriter(connection)
        self._table.create(connection, checkfirst=True)
        connection.execute(sa.delete(self._table))

    def split(self, rows: list[WantedRow]) -> tuple[list[WantedRow], list[BadRow]]:
        first_in_batch: dict[str, int] = {}
        unique: list[WantedRow] = []
        bad: list[BadRow] = []
        for row in rows:
            if row.email in first_in_batch:
                bad.append(duplicate_of(row.line, first_in_batch[row.email]))
            else:
                first_in_batch[row.email] = row.line
                unique.append(row)
        sql = f"SELECT email, line FROM {self._table.name} WHERE email"
        earlier = dict(self._writer.select_in(sql, list(first_in_batch)))
        kept = []
        for row in unique:
            if row.email in earlier:
                bad.append(duplicate_of(row.line, earlier[row.email]))
            else:
                kept.append(row)
        # In address order: neighbouring keys land on the same index pages.
        self._writer.insert(self._table, ("email", "line"), sorted((row.email, row.line) for row in kept))
        return kept, bad

    def drop(self) -> None:
        self._table.drop(self._connection, checkfirst=True)


@contextlib.contextmanager
def _sqlite_bulk_mode(connection: sa.Connection) -> Iterator[None]:
    """SQLite settings for one bulk import on this connection, restored afterwards.

    Entered before the transaction writes anything (foreign_keys only changes then).
    A million rows' indexes outgrow the default 2 MB page cache (bounded here, so memory
    stays flat). Every row's checks are already made by the import: SQLite evaluates an
    ``IN (...)`` CHECK (our enum columns) by building a small table per row, and a
    foreign key by a look-up per row, together most of the insert time; the import
    writes only enum values from the code (``bulk``), subscriber ids it has just read
    or written, and region codes checked against the region table, all in this
    transaction. So both are off while it runs, and back on for anything else.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.exec_driver_sql("PRAGMA ignore_check_constraints=ON")
    try:
        yield
    finally:
        connection.rollback()  # no-op after a commit; an exception's work is undone before the checks return
        connection.exec_driver_sql("PRAGMA ignore_check_constraints=OFF")
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.exec_driver_sql(f"PRAGMA cache_size={int(cache or 0)}")


def run_detail(path: Path, mode: ImportMode, now: datetime) -> str:
    """The consent source recorded on every change: file, time, mode, and a run id."""
    return f"import of {path.name} at {now:%Y-%m-%d %H:%M:%S} UTC, --{mode.value} (run {uuid.uuid4().hex[:8]})"


def import_file(
    engine: sa.Engine,
    path: Path,
    *,
    mode: ImportMode,
    strict: bool = False,
    dry_run: bool = False,
    now: datetime,
    reporter: ImportReporter | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ImportSummary:
    """Import the list; ListError when the file itself is unusable (nothing written then)."""
    report = reporter or ImportReporter()
    subscribe_as = SubscriberStatus.ACTIVE if mode is ImportMode.CONFIRMED else SubscriberStatus.PENDING
    summary = ImportSummary(run=run_detail(path, mode, now))

    def bad(row: BadRow) -> None:
        summary.bad += 1
        report.on_bad(row)

    def merged(result: BatchResult) -> None:
        summary.counts.update(result.counts)
        for line, reason in result.skipped:
            report.on_skipped(line, reason)

    with engine.connect() as connection, _sqlite_bulk_mode(connection):
        with Session(bind=connection) as session:
            known_regions = {region.code for region in regions_in_order(session)}
        merger = BulkMerger(connection, cause=StatusCause.IMPORT, detail=summary.run, now=now)
        items = read_rows(path, known_regions=known_regions, subscribe_as=subscribe_as, on_bytes=report.on_bytes)
        rows = _good_rows(items, bad)
        if connection.dialect.name == "postgresql":
            staged = StagedImport(connection, merger)
            staged.stage(rows)
            staged.merge(StagedReport(on_bad=bad, on_batch=merged, on_created=summary.created), batch_rows=batch_rows)
        else:
            _merge_in_batches(connection, rows, merger, bad=bad, merged=merged, batch_rows=batch_rows)
        if dry_run or (strict and summary.bad):
            connection.rollback()
        else:
            connection.commit()
            summary.written = True
    return summary


def _good_rows(items: Iterable[WantedRow | BadRow], bad: Callable[[BadRow], None]) -> Iterator[WantedRow]:
    """The rows that passed their checks; the others go to ``bad`` as they are met."""
    for item in items:
        if isinstance(item, BadRow):
            bad(item)
        else:
            yield item


def _merge_in_batches(
    connection: sa.Connection,
    rows: Iterable[WantedRow],
    merger: BulkMerger,
    *,
    bad: Callable[[BadRow], None],
    merged: Callable[[BatchResult], None],
    batch_rows: int,
) -> None:
    """SQLite's import: batches of rows, each checked against the addresses seen before, then merged."""
    duplicates = _Duplicates(connection)

    def flush(batch: list[WantedRow]) -> None:
        kept, duplicated = duplicates.split(batch)
        for row in duplicated:
            bad(row)
        merged(merger.merge(kept))

    batch: list[WantedRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_rows:
            flush(batch)
            batch = []
    flush(batch)
    duplicates.drop()


def confirmations_for_run(engine: sa.Engine, run: str, *, secret: bytes, now: datetime) -> Iterator[SubscribeOutcome]:
    """A confirmation mail's content for every pending subscriber this run created, in id order."""
    after = 0
    while True:
        with session_scope(engine) as session:
            ids = list(
                session.exec(
                    select(StatusChange.subscriber_id)
                    .where(
                        StatusChange.detail == run,
                        col(StatusChange.old_status).is_(None),
                        StatusChange.new_status == SubscriberStatus.PENDING,
                        StatusChange.subscriber_id > after,
                    )
                    .order_by(col(StatusChange.subscriber_id))
                    .limit(500)
                )
            )
            if not ids:
                return
            after = ids[-1]
            subscribers = session.exec(select(Subscriber).where(col(Subscriber.id).in_(ids))).all()
            outcomes = [
                request_confirmation(session, subscriber, secret=secret, now=now)
                for subscriber in subscribers
                if subscriber.status is SubscriberStatus.PENDING
            ]
        yield from outcomes
