"""The one way an edition row comes into being: get or create it for (region, local date), race-safely.

Two schedulers at start-up, two ``daily`` runs, a dispatcher and the scheduler may all
reach the same edition at the same moment. A "look, then insert" lets both look, and the
unique (region_code, local_date) then fails the second insert (IntegrityError). Instead
the row is inserted with ``ON CONFLICT DO NOTHING`` and then read: the loser of the race
waits for the winner's transaction and uses the winner's row.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from newsletter.db.engine import session_scope
from newsletter.db.models import Edition
from newsletter.db.tables import table_of
from newsletter.errors import NotFoundError

__all__ = ["find_edition", "get_or_create_edition", "require_edition"]


def find_edition(session: Session, region_code: str, local_date: date) -> Edition | None:
    """The stored edition row for (region, local date), or None; never creates one."""
    return session.exec(
        select(Edition).where(col(Edition.region_code) == region_code, col(Edition.local_date) == local_date)
    ).first()


def require_edition(engine: sa.Engine, region_code: str, local_date: date) -> Edition:
    """The stored edition, or NotFoundError naming region and date."""
    with session_scope(engine) as session:
        edition = find_edition(session, region_code, local_date)
    if edition is None:
        raise NotFoundError(f"no edition for {region_code} on {local_date}")
    return edition


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(_edition_table())
    if dialect == "sqlite":
        return sqlite.insert(_edition_table())
    raise NotImplementedError(f"database {dialect!r} is not supported: use SQLite or PostgreSQL")


def _edition_table() -> sa.Table:
    return table_of(Edition)


def get_or_create_edition(session: Session, region_code: str, local_date: date) -> Edition:
    """The edition row for (region, local date), a new DRAFT when there was none; held until commit.

    The caller owns the transaction (and checked that the region exists). Two
    callers at once both get the same row:

    * PostgreSQL: the INSERT waits while another transaction's insert of the same
      key is uncommitted, then does nothing; ``SELECT ... FOR UPDATE`` then reads
      the committed row and holds it, so the next caller sees this one's changes.
    * SQLite: the INSERT takes the database's write lock (another writer waits in
      the busy timeout) and keeps it to the end of the transaction.
    """
    dialect = session.get_bind().dialect.name
    fresh = Edition(region_code=region_code, local_date=local_date)
    # The model's defaults (status, empty texts, created_at), unset columns left NULL.
    values = {c.name: getattr(fresh, c.name) for c in _edition_table().columns if getattr(fresh, c.name) is not None}
    session.execute(
        _insert(dialect).values(values).on_conflict_do_nothing(index_elements=["region_code", "local_date"])
    )
    query = (
        select(Edition)
        .where(col(Edition.region_code) == region_code, col(Edition.local_date) == local_date)
        # An Edition this session loaded earlier is refreshed from the row, not trusted.
        .execution_options(populate_existing=True)
    )
    if dialect == "postgresql":
        query = query.with_for_update()
    return session.exec(query).one()
