"""Many rows per statement at driver speed, the same on SQLite and PostgreSQL.

SQLAlchemy's executemany runs every value through its type processors: about ten
microseconds a row, most of a million-row import. The bulk writers here hand the
driver values that are already in its form (enum values as their text, the one
timestamp of the batch processed once by its column type) and compile each
statement once. PostgreSQL inserts go through ``COPY ... FROM STDIN``, its fast
path; SQLite inserts and every update through the driver's ``executemany``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from newsletter.db.types import UTCDateTime


class BulkWriter:
    """Writes prepared rows on ``connection`` (inside the caller's transaction)."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self._dialect = connection.dialect
        self._copy = self._dialect.name == "postgresql"
        self._compiled: dict[object, tuple[str, tuple[str, ...] | None]] = {}

    def timestamp(self, value: datetime) -> Any:
        """``value`` as the driver takes it for a UTCDateTime column."""
        processor = UTCDateTime().dialect_impl(self._dialect).bind_processor(self._dialect)
        return processor(value) if processor is not None else value

    def insert(self, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (tuples in ``columns`` order, driver-ready values)."""
        if not rows:
            return
        quote = self._dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in columns)
        if self._copy:
            driver: Any = self._connection.connection.driver_connection  # psycopg, in this transaction
            with driver.cursor() as cursor, cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        # The other dialect is SQLite (db.errors refuses the rest): qmark parameters.
        marks = ", ".join("?" for _ in columns)
        cursor = self._connection.connection.cursor()
        try:
            cursor.executemany(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", rows)
        finally:
            cursor.close()

    def select_in(self, sql: str, values: Sequence[Any]) -> list[Any]:
        """Rows of ``sql`` (a SELECT ending ``WHERE <column>``) where the column is one of ``values``.

        Spelled for the driver (``= ANY(array)`` on PostgreSQL, ``IN (?, ...)`` on
        SQLite): an expanding IN would compile one bound parameter per value.
        """
        if not values:
            return []
        if self._copy:
            driver: Any = self._connection.connection.driver_connection
            with driver.cursor() as cursor:
                cursor.execute(f"{sql} = ANY(%s)", (list(values),), binary=True)  # binary: no per-element quoting
                return list(cursor.fetchall())
        cursor = self._connection.connection.cursor()  # the transaction's own DBAPI connection
        try:
            cursor.execute(f"{sql} IN ({', '.join('?' for _ in values)})", tuple(values))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def execute(self, statement: sa.Executable, rows: Sequence[dict[str, Any]]) -> None:
        """Run ``statement`` once per dict of bind values (driver-ready)."""
        if not rows:
            return
        sql, order = self._compile(statement)
        if order is None:
            self._connection.exec_driver_sql(sql, list(rows))
        else:
            self._connection.exec_driver_sql(sql, [tuple(row[name] for name in order) for row in rows])

    def _compile(self, statement: sa.Executable) -> tuple[str, tuple[str, ...] | None]:
        if statement not in self._compiled:
            compiled = statement.compile(dialect=self._dialect)  # type: ignore[attr-defined]
            order = tuple(compiled.positiontup) if compiled.positional else None
            self._compiled[statement] = (str(compiled), order)
        return self._compiled[statement]
