"""PostgreSQL's import: the whole file staged with one COPY, then merged by a few statements.

Every checked row is streamed into an unindexed temporary table (``import_row``)
while the file is read, so the server takes them in as fast as they are parsed.
Then, all on the server and inside the import's transaction: duplicates by a window
over the addresses (the first line wins), the new addresses (neither known nor
erased) numbered in address order, and their subscriber, status_change and
subscription rows each by one ``INSERT ... SELECT``. The rows for known or erased
addresses, none in a fresh list, are read back in file order and go through
``BulkMerger`` in batches, so the admission rules stay in one place. The temporary
tables go with the transaction, whether it commits or rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from newsletter.db.models import SubscriberStatus
from newsletter.subscribers.bulk import BatchResult, BulkMerger, WantedRow
from newsletter.subscribers.erased import address_hash
from newsletter.subscribers.import_file import REGION_SEPARATOR, BadRow, duplicate_of

FETCH_ROWS = 5000  # rows per fetch of a result read back (memory stays flat)

_STAGE = """CREATE TEMPORARY TABLE import_row (
    line integer NOT NULL, email text NOT NULL, name text, status text NOT NULL,
    regions text NOT NULL, erased_hash text) ON COMMIT DROP"""
_COPY = "COPY import_row (line, email, name, status, regions, erased_hash) FROM STDIN"
_DUPLICATES = """CREATE TEMPORARY TABLE import_duplicate ON COMMIT DROP AS
    SELECT line, first_line FROM (
        SELECT line, min(line) OVER (PARTITION BY email) AS first_line FROM import_row) AS found
    WHERE line <> first_line"""
_DROP_DUPLICATES = "DELETE FROM import_row AS r USING import_duplicate AS d WHERE r.line = d.line"
_NEW = """CREATE TEMPORARY TABLE import_new ON COMMIT DROP AS
    SELECT nextval(%(sequence)s::regclass) AS id, line, email, name, status, regions FROM (
        SELECT r.* FROM import_row AS r
        WHERE NOT EXISTS (SELECT FROM subscriber AS s WHERE s.email = r.email AND s.erased_at IS NULL)
          AND NOT EXISTS (SELECT FROM erased_address AS e WHERE e.address_hash = r.erased_hash)
        ORDER BY r.email) AS fresh"""
_KNOWN = """SELECT line, email, name, status, regions FROM import_row AS r
    WHERE NOT EXISTS (SELECT FROM import_new AS n WHERE n.line = r.line) ORDER BY line"""
_INSERT_SUBSCRIBERS = """INSERT INTO subscriber
    (id, email, name, status, paused, token_version, created_at, updated_at, confirmed_at, unsubscribed_at)
    SELECT id, email, name, status, false, 1, %(now)s, %(now)s,
        CASE WHEN status = %(active)s THEN %(now)s END,
        CASE WHEN status = ANY(%(suppressed)s) THEN %(now)s END
    FROM import_new"""
_INSERT_CHANGES = """INSERT INTO status_change (subscriber_id, old_status, new_status, cause, detail, at)
    SELECT id, NULL, status, %(cause)s, %(detail)s, %(now)s FROM import_new"""
_INSERT_SUBSCRIPTIONS = """INSERT INTO subscription (subscriber_id, region_code, active, created_at)
    SELECT n.id, code, n.status = %(active)s, %(now)s
    FROM import_new AS n CROSS JOIN LATERAL unnest(string_to_array(n.regions, %(separator)s)) AS code
    WHERE n.status <> ALL(%(suppressed)s)"""


@dataclass(frozen=True)
class StagedReport:
    """Where the merge tells what it found."""

    on_bad: Callable[[BadRow], None]  # a duplicate (the file's own bad rows are the caller's)
    on_batch: Callable[[BatchResult], None]  # each batch of known or erased addresses
    on_created: Callable[[int], None]  # how many new addresses were inserted at once


class StagedImport:
    """One import's staging and merge on ``connection`` (PostgreSQL, inside the caller's transaction)."""

    def __init__(self, connection: sa.Connection, merger: BulkMerger) -> None:
        self._connection = connection
        self._driver: Any = connection.connection.driver_connection  # psycopg, in this transaction
        self._merger = merger
        self._values = {  # the bound values of the set-based inserts
            **merger.stamp,
            "active": SubscriberStatus.ACTIVE.value,
            "suppressed": [status.value for status in SubscriberStatus if status.is_suppressed],
            "separator": REGION_SEPARATOR,
        }
        self._staged = 0

    def stage(self, rows: Iterable[WantedRow]) -> None:
        """COPY every row into ``import_row`` as it comes (with its hash if anyone was ever erased)."""
        self._connection.exec_driver_sql(_STAGE)  # through SQLAlchemy: it begins the transaction it commits
        with self._driver.cursor() as cursor:
            hashed = cursor.execute("SELECT 1 FROM erased_address LIMIT 1").fetchone() is not None
            with cursor.copy(_COPY) as copy:
                for row in rows:
                    regions = REGION_SEPARATOR.join(row.regions)
                    erased = address_hash(row.email) if hashed else None
                    copy.write_row((row.line, row.email, row.name, row.status.value, regions, erased))
                    self._staged += 1

    def merge(self, report: StagedReport, *, batch_rows: int) -> None:
        """Report the duplicates, merge the known addresses, insert the new ones."""
        with self._driver.cursor() as cursor:
            self._staged -= self._drop_duplicates(cursor, report)
            cursor.execute("SELECT pg_get_serial_sequence('subscriber', 'id')")
            (sequence,) = cursor.fetchone()
            cursor.execute(_NEW, {"sequence": sequence})
            created = cursor.rowcount
            if created < self._staged:
                self._merge_known(report, batch_rows)
            if created:
                for sql in (_INSERT_SUBSCRIBERS, _INSERT_CHANGES, _INSERT_SUBSCRIPTIONS):
                    cursor.execute(sql, self._values)
                report.on_created(created)

    def _drop_duplicates(self, cursor: Any, report: StagedReport) -> int:
        cursor.execute(_DUPLICATES)
        if not cursor.rowcount:
            return 0
        found = int(cursor.rowcount)
        cursor.execute(_DROP_DUPLICATES)
        for line, first in self._read("SELECT line, first_line FROM import_duplicate ORDER BY line"):
            report.on_bad(duplicate_of(line, first))
        return found

    def _merge_known(self, report: StagedReport, batch_rows: int) -> None:
        batch: list[WantedRow] = []
        for line, email, name, status, regions in self._read(_KNOWN):
            codes = tuple(regions.split(REGION_SEPARATOR)) if regions else ()
            batch.append(WantedRow(line, email, name, SubscriberStatus(status), codes))
            if len(batch) >= batch_rows:
                report.on_batch(self._merger.merge(batch))
                batch = []
        report.on_batch(self._merger.merge(batch))

    def _read(self, sql: str) -> Iterable[tuple[Any, ...]]:
        """The rows of ``sql`` through a server-side cursor, a fetch at a time."""
        with self._driver.cursor(name="import_read") as cursor:
            cursor.itersize = FETCH_ROWS
            cursor.execute(sql)
            yield from cursor
