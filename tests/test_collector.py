"""The collector's settings a sending process applies once it is up (newsletter.collector)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from newsletter.collector import FIRST_THRESHOLD
from tests.conftest import cli_env, seed_engine
from tests.dispatch_harness import REGION, edition_date

# The console entry point run in a process of its own, then the collector's settings it left.
CLI_PROBE = (
    "import gc, sys\n"
    "from newsletter.cli.main import main\n"
    "main(sys.argv[1:])\n"
    "print('collector', gc.get_threshold()[0], gc.get_freeze_count() > 0)\n"
)


def test_sending_settings_freeze_start_up_and_raise_the_first_threshold() -> None:
    # In a process of its own: the settings are process-wide, and pytest's must stay as they are.
    probe = (
        "import gc\n"
        "from newsletter.collector import spare_for_sending\n"
        "before = gc.get_threshold()[0], gc.get_freeze_count()\n"
        "spare_for_sending()\n"
        "print(*before, gc.get_threshold()[0], gc.get_freeze_count() > 0, gc.isenabled())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["700", "0", str(FIRST_THRESHOLD), "True", "True"]


def test_an_in_process_send_runs_with_the_sending_settings(
    sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path
) -> None:
    seed_engine(sqlite_engine)
    outbox = tmp_path / "outbox"
    env = cli_env(sqlite_url, NEWSLETTER_OUTBOX_DIR=str(outbox))
    send = ["send", REGION, "--date", str(edition_date(sqlite_engine)), "--yes"]

    def last_line(args: list[str]) -> str:
        done = subprocess.run(
            [sys.executable, "-c", CLI_PROBE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.splitlines()[-1]

    assert last_line([*send, "--dry-run"]) == "collector 700 False"  # a dry run sends nothing: the defaults stay
    assert not outbox.exists()
    assert last_line(send) == f"collector {FIRST_THRESHOLD} True"
    assert list(outbox.rglob("*.eml"))  # it did send
