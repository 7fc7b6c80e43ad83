"""The import's merge, on each database's path: every kind of row, in small batches, three times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from newsletter.db.engine import make_engine, session_scope
from newsletter.db.models import StatusChange, Subscriber, Subscription
from newsletter.subscribers import manager
from newsletter.subscribers.importing import ImportMode, ImportReporter, confirmations_for_run, import_file
from tests.conftest import seed_engine

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = b"s" * 32

LIST = (
    "email,name,regions,status\n"
    "new1@imp.example,New One,dc;lagos,\n"  # 2: created active in two regions
    "not-an-address,,dc,\n"  # 3: bad
    "NEW1@imp.example,,bxl,\n"  # 4: duplicate of 2
    "known@imp.example,,lagos,\n"  # 5: a region added
    "gone@imp.example,,dc,\n"  # 6: unsubscribed: skipped
    "erased@imp.example,,dc,\n"  # 7: erased: skipped
    "pend@imp.example,Pen,dc,\n"  # 8: pending -> active, named
    "sup@imp.example,,,bounced\n"  # 9: created as a suppression, no regions
    "new2@imp.example,,dc,pending\n"  # 10: created pending, its region stored off
    "known@imp.example,,dc,\n"  # 11: duplicate of 5
)


@pytest.fixture
def members_db(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    seed_engine(engine)
    with session_scope(engine) as session:
        manager.add_confirmed(session, "known@imp.example", ["dc"], now=NOW)
        manager.add_confirmed(session, "gone@imp.example", ["dc"], now=NOW)
        manager.add_confirmed(session, "erased@imp.example", ["dc"], now=NOW)
        manager.add_pending(session, "pend@imp.example", ["dc"], secret=SECRET, now=NOW)
    with session_scope(engine) as session:
        manager.remove(session, "gone@imp.example", now=NOW)
        manager.erase(session, "erased@imp.example", now=NOW)
    yield engine
    engine.dispose()


def _import(engine: sa.Engine, path: Path, *, dry_run: bool = False) -> tuple[str, list[str], str]:
    told: list[str] = []
    reporter = ImportReporter(
        on_bad=lambda row: told.append(f"{row.line}: bad: {row.reason}"),
        on_skipped=lambda line, reason: told.append(f"{line}: skipped: {reason}"),
    )
    summary = import_file(
        engine, path, mode=ImportMode.CONFIRMED, dry_run=dry_run, now=NOW, reporter=reporter, batch_rows=2
    )
    assert summary.written is not dry_run
    return summary.line(), told, summary.run


def _state(engine: sa.Engine) -> dict[str, tuple[str, str | None, dict[str, bool]]]:
    with session_scope(engine) as session:
        subscribers = session.exec(select(Subscriber).where(col(Subscriber.email).like("%@imp.example"))).all()
        regions = session.exec(select(Subscription)).all()
        return {
            s.email: (
                s.status.value,
                s.name,
                {r.region_code: r.active for r in regions if r.subscriber_id == s.id},
            )
            for s in subscribers
        }


def test_every_kind_of_row_merges_the_same_way_and_only_once(members_db: sa.Engine, tmp_path: Path) -> None:
    engine = members_db
    path = tmp_path / "members.csv"
    path.write_text(LIST, encoding="utf-8")
    before = _state(engine)
    line, told, _ = _import(engine, path, dry_run=True)
    assert line == "3 created, 2 updated, 0 unchanged, 2 skipped, 3 bad"
    assert _state(engine) == before  # a dry run writes nothing

    line, told, run = _import(engine, path)
    assert line == "3 created, 2 updated, 0 unchanged, 2 skipped, 3 bad"
    assert [entry for entry in told if "bad" in entry] == [
        "3: bad: invalid address 'not-an-address': An email address must have an @-sign.",
        "4: bad: duplicate of line 2",
        "11: bad: duplicate of line 5",
    ]
    assert [entry for entry in told if "skipped" in entry] == [
        "6: skipped: unsubscribed: never re-activated by the list manager",
        "7: skipped: erased on request: never added again",
    ]
    state = _state(engine)
    assert state["new1@imp.example"] == ("active", "New One", {"dc": True, "lagos": True})
    assert state["known@imp.example"] == ("active", None, {"dc": True, "lagos": True})
    assert state["gone@imp.example"] == ("unsubscribed", None, {"dc": True})
    assert state["pend@imp.example"] == ("active", "Pen", {"dc": True})
    assert state["sup@imp.example"] == ("bounced", None, {})
    assert state["new2@imp.example"] == ("pending", None, {"dc": False})
    assert "erased@imp.example" not in state
    with session_scope(engine) as session:
        changes = session.exec(select(StatusChange).where(StatusChange.detail == run)).all()
        emails = {s.id: s.email for s in session.exec(select(Subscriber)).all()}
        assert sorted((emails[c.subscriber_id], c.old_status, c.new_status.value) for c in changes) == [
            ("new1@imp.example", None, "active"),
            ("new2@imp.example", None, "pending"),
            ("pend@imp.example", "pending", "active"),
            ("sup@imp.example", None, "bounced"),
        ]
    assert [outcome.email for outcome in confirmations_for_run(engine, run, secret=SECRET, now=NOW)] == [
        "new2@imp.example"
    ]

    line, told, run = _import(engine, path)
    assert line == "0 created, 0 updated, 5 unchanged, 2 skipped, 3 bad"
    assert _state(engine) == state
    with session_scope(engine) as session:
        assert not session.exec(select(StatusChange).where(StatusChange.detail == run)).all()
