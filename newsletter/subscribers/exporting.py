"""`newsletter subscribers export`: the list as CSV, streamed from a server-side cursor.

The columns are the import's (``email, name, status, regions``), so exporting and
importing the result changes nothing. Emails and names that a spreadsheet would run
as a formula get a quote in front (``csv_guard``), which the import takes off again.
Regions are the ones switched on, or for a pending subscriber the ones asked for. Erased subscribers are never exported.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from typing import Any, TextIO

import sqlalchemy as sa

from newsletter.db.models import Region, Subscriber, SubscriberStatus, Subscription
from newsletter.subscribers.csv_guard import guard
from newsletter.subscribers.import_file import REGION_SEPARATOR

COLUMNS = ("email", "name", "status", "regions")
_FETCH_ROWS = 5000


def _table(model: Any) -> sa.Table:
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)
    return table


_subscriber, _subscription, _region = _table(Subscriber), _table(Subscription), _table(Region)


def _query(region: str | None, status: SubscriberStatus | None) -> sa.Select[Any]:
    s, sub, r = _subscriber.c, _subscription.c, _region.c
    pending = s.status == SubscriberStatus.PENDING
    joined = _subscriber.outerjoin(
        _subscription, sa.and_(sub.subscriber_id == s.id, sa.or_(sub.active.is_(True), pending))
    ).outerjoin(_region, r.code == sub.region_code)
    query = (
        sa.select(s.id, s.email, s.name, sa.type_coerce(s.status, sa.String()), sub.region_code)
        .select_from(joined)
        .where(s.erased_at.is_(None))
        .order_by(s.id, r.position, r.code)
    )
    if status is not None:
        query = query.where(s.status == status)
    if region is not None:
        chosen = _subscription.alias("chosen")
        query = query.where(
            sa.exists().where(
                chosen.c.subscriber_id == s.id,
                chosen.c.region_code == region,
                sa.or_(chosen.c.active.is_(True), pending),
            )
        )
    return query


def export_rows(
    connection: sa.Connection, *, region: str | None = None, status: SubscriberStatus | None = None
) -> Iterator[tuple[str, str, str, str]]:
    """One CSV row per subscriber, in id order, read in chunks (never the whole list)."""
    result = connection.execution_options(stream_results=True, yield_per=_FETCH_ROWS).execute(_query(region, status))
    for _, rows in itertools.groupby(result, key=lambda row: row[0]):
        first, *rest = rows
        codes = [row[4] for row in (first, *rest) if row[4] is not None]
        yield guard(first[1]), guard(first[2] or ""), first[3], REGION_SEPARATOR.join(codes)


def write_csv(out: TextIO, rows: Iterator[tuple[str, str, str, str]]) -> int:
    """Write the header and every row; the number of rows written."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count
