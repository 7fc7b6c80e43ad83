"""One send assembles and renders the edition exactly once: the scheduler's job, ``daily`` and ``send``.

The real assembly and render functions run; a counter is wrapped around each (the
wrapper delegates to the original), in this process for the scheduler's
``run_edition`` and in a real child process for the two commands. On SQLite: the
count does not depend on the database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from newsletter.db.engine import session_scope
from newsletter.editions import lifecycle
from newsletter.editions.lifecycle import region_today
from newsletter.schedule.daily import RunOutcome, run_edition
from tests.conftest import PROJECT_ROOT, TEST_SECRET, make_settings
from tests.dispatch_harness import REGION, active_readers, add_readers, seed_content

READERS = 3

# Run in the child: wrap the two functions where lifecycle calls them, run the CLI, write the counts.
_COUNTING_CLI = """
import atexit, json, sys
from collections import Counter
from newsletter.editions import lifecycle
counts = Counter()
def counted(name, original):
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        counts[name] += 1
        return result
    return wrapper
lifecycle.assemble = counted("assemble", lifecycle.assemble)
lifecycle.render_edition = counted("render", lifecycle.render_edition)
atexit.register(lambda: open(sys.argv[1], "w").write(json.dumps(counts)))
from newsletter.cli import main
main(sys.argv[2:])
"""


def _count_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()

    def counted(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            counts[name] += 1  # calls that returned: an empty region's assembly raises
            return result

        return wrapper

    monkeypatch.setattr(lifecycle, "assemble", counted("assemble", lifecycle.assemble))
    monkeypatch.setattr(lifecycle, "render_edition", counted("render", lifecycle.render_edition))
    return counts


def _counted_cli(args: list[str], database_url: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    counts_file = tmp_path / "counts.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        "NEWSLETTER_SECRET_KEY": TEST_SECRET,
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_BASE_URL": "https://news.example.com",
        "NEWSLETTER_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    result = subprocess.run(
        [sys.executable, "-c", _COUNTING_CLI, str(counts_file), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, json.loads(counts_file.read_text(encoding="utf-8"))


@pytest.fixture
def seeded(sqlite_engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    seed_content(sqlite_engine, tmp_path)
    add_readers(sqlite_engine, active_readers(READERS))
    return sqlite_engine


def test_the_scheduler_job_assembles_and_renders_a_draft_once(
    seeded: sa.Engine, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    now = datetime.now(UTC)
    with session_scope(seeded) as session:
        local_date = region_today(session, REGION, now=now)
    counts = _count_calls(monkeypatch)

    run = run_edition(seeded, settings, REGION, local_date, now=now)

    assert run.outcome is RunOutcome.SENT and run.report is not None
    assert dict(counts) == {"assemble": 1, "render": 1}
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == READERS


def test_newsletter_send_assembles_and_renders_a_draft_once(seeded: sa.Engine, sqlite_url: str, tmp_path: Path) -> None:
    result, counts = _counted_cli(["send", REGION, "--yes"], sqlite_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert counts == {"assemble": 1, "render": 1}
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == READERS


def test_daily_assembles_and_renders_each_region_once(seeded: sa.Engine, sqlite_url: str, tmp_path: Path) -> None:
    result, counts = _counted_cli(["daily"], sqlite_url, tmp_path)
    regions_with_an_edition = result.stdout.count(" sent ")
    assert regions_with_an_edition >= 1, result.stdout + result.stderr
    # One assembly and one rendering per region that went out, none for a region with nothing to send.
    assert counts == {"assemble": regions_with_an_edition, "render": regions_with_an_edition}, result.stdout
