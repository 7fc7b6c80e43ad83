"""A scheduler starting up goes on past a region whose start-up check fails (SQLite and PostgreSQL).

The clock is fixed and handed to ``catch_up``; the scheduler is built but never
started, so no job can fire on the real clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.db.engine import session_scope
from newsletter.db.models import Edition, EditionStatus
from newsletter.schedule.daily import RunOutcome, region_schedules
from newsletter.schedule.runtime import SchedulerRuntime
from tests.conftest import make_settings, seed_engine

# 07:10 UTC on 30 Nov: Brussels (06:00 UTC) and Lagos (05:30 UTC) are due, inside the grace window.
NOW = datetime(2026, 11, 30, 7, 10, tzinfo=UTC)


@pytest.fixture
def built(engine: sa.Engine, db_url: str, tmp_path: Path) -> Iterator[SchedulerRuntime]:
    seed_engine(engine)
    daemon = SchedulerRuntime(engine, make_settings(db_url, tmp_path), threading.Event())
    yield daemon
    assert not daemon.scheduler.running


def test_catch_up_goes_on_past_a_region_that_fails_unexpectedly(built: SchedulerRuntime, engine: sa.Engine) -> None:
    with session_scope(engine) as session:  # bxl's approved edition has a snapshot nobody can read
        session.add(
            Edition(
                region_code="bxl",
                local_date=NOW.date(),
                status=EditionStatus.APPROVED,
                snapshot={"version": -1},
                html="<p>x</p>",
                text="x",
            )
        )
    schedules = [s for s in region_schedules(engine) if s.code in ("bxl", "lagos")]
    assert [s.code for s in schedules] == ["bxl", "lagos"]  # the broken region comes first

    runs = {run.region: run for run in built.catch_up(schedules, lambda: NOW)}

    assert runs["bxl"].outcome is RunOutcome.ERROR
    assert runs["bxl"].detail.startswith("ValueError: unsupported edition snapshot version")
    assert runs["lagos"].outcome is RunOutcome.SENT
