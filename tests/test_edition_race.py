"""Two connections creating the same edition at once: both succeed, one row (SQLite and PostgreSQL).

Connection A creates the edition and holds its transaction open; connection B starts
creating the same (region, date) meanwhile. A commits only once B is about to write
its edition row, so B has already looked for the row and found none: a plain insert
then fails on the unique (region, local date). Whichever way the two statements then
interleave, B must end up using A's row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.db.engine import make_engine, session_scope
from newsletter.db.models import Edition, EditionStatus
from newsletter.editions.lifecycle import prepare_edition
from newsletter.schedule.daily import record_missed
from tests.conftest import make_settings, seed_engine

DAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # after every seed story's publication; no real clock reads it


@pytest.fixture
def cfg(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path)


@pytest.fixture
def engines(engine: sa.Engine, db_url: str) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    """A's engine (seeded) and B's own engine: separate connections, as two processes have."""
    seed_engine(engine)
    other = make_engine(db_url)
    yield engine, other
    other.dispose()


def signal_before_edition_insert(engine: sa.Engine) -> threading.Event:
    """An event set when ``engine`` is about to send its first INSERT into the edition table."""
    reached = threading.Event()

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT") and " edition " in f"{statement} ".replace("\n", " "):
            reached.set()

    return reached


def b_prepares(engine: sa.Engine, settings: Settings) -> int:
    with session_scope(engine) as session:
        return prepare_edition(session, settings, "dc", DAY, now=NOW).edition_id


def b_records_missed(engine: sa.Engine, _settings: Settings) -> int:
    record_missed(engine, "dc", DAY, NOW)
    with session_scope(engine) as session:
        edition = session.exec(select(Edition).where(Edition.region_code == "dc", Edition.local_date == DAY)).one()
        assert edition.id is not None
        return edition.id


@pytest.mark.parametrize("b_action", [b_prepares, b_records_missed], ids=["prepare", "record_missed"])
def test_two_connections_creating_one_edition_both_succeed_with_one_row(
    engines: tuple[sa.Engine, sa.Engine], cfg: Settings, b_action: Callable[[sa.Engine, Settings], int]
) -> None:
    a_engine, b_engine = engines
    b_reached_insert = signal_before_edition_insert(b_engine)
    outcome: dict[str, Any] = {}

    def run_b() -> None:
        try:
            outcome["id"] = b_action(b_engine, cfg)
        except Exception as exc:  # reported by the assertion below, with its type
            outcome["error"] = exc

    with Session(a_engine, expire_on_commit=False) as a:
        a_id = prepare_edition(a, cfg, "dc", DAY, now=NOW).edition_id  # inserted, not committed
        b = threading.Thread(target=run_b)
        b.start()
        assert b_reached_insert.wait(60), "B never reached its insert"
        a.commit()
    b.join(60)
    assert not b.is_alive()

    assert "error" not in outcome, f"B failed: {outcome['error']!r}"
    assert outcome["id"] == a_id
    with Session(a_engine) as session:
        rows = session.exec(select(Edition).where(Edition.region_code == "dc", Edition.local_date == DAY)).all()
        assert [row.id for row in rows] == [a_id]
        if b_action is b_records_missed:
            assert rows[0].status is EditionStatus.MISSED
        else:
            assert rows[0].html  # B re-assembled the draft in A's row
