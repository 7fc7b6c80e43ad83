"""Progress while importing: a live bar on a real pseudo-terminal, a plain line on a pipe."""

from __future__ import annotations

import re
from pathlib import Path

from newsletter.db.engine import make_engine
from tests.conftest import cli_env, run_cli, seed_engine
from tests.test_send_progress import ANSI, run_in_terminal

ROWS = 3000


def _list(tmp_path: Path) -> Path:
    path = tmp_path / "members.csv"
    lines = ["email,regions", *(f"reader{i}@example.com,dc" for i in range(ROWS))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _seeded(db_url: str) -> None:
    engine = make_engine(db_url)
    seed_engine(engine)
    engine.dispose()


def test_a_terminal_gets_a_bar_over_the_file(db_url: str, tmp_path: Path) -> None:
    _seeded(db_url)
    members = _list(tmp_path)
    env = cli_env(db_url, NEWSLETTER_OUTBOX_DIR=str(tmp_path / "outbox"))
    status, drawn = run_in_terminal(["subscribers", "import", str(members), "--confirmed"], env, tmp_path)
    assert status == 0, drawn
    assert ANSI.search(drawn)  # drawn with terminal controls
    frames = ANSI.sub("", drawn).replace("\r", "\n")
    bar = [line for line in frames.splitlines() if "importing members.csv" in line]
    assert bar and "━" in bar[-1]
    size_kb = members.stat().st_size / 1000
    assert re.search(rf"{size_kb:.1f}/{size_kb:.1f} kB", bar[-1])  # the whole file read
    assert f"{ROWS} created, 0 updated, 0 unchanged, 0 skipped, 0 bad" in frames
    assert "read " not in frames  # no plain lines on a terminal


def test_a_pipe_gets_plain_lines_and_no_bar(db_url: str, tmp_path: Path) -> None:
    _seeded(db_url)
    members = _list(tmp_path)
    args = ["subscribers", "import", str(members), "--confirmed"]
    result = run_cli(args, db_url, tmp_path, NEWSLETTER_OUTBOX_DIR=str(tmp_path / "outbox"))
    assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stdout) and "━" not in result.stdout
    size_mb = members.stat().st_size / 1e6
    progress = re.findall(rf"^  members\.csv: read (\d+\.\d) MB of {size_mb:.1f} MB \((\d+)%\)$", result.stdout, re.M)
    assert progress  # the first read gets its line at once
    assert result.stdout.splitlines()[-1] == f"{ROWS} created, 0 updated, 0 unchanged, 0 skipped, 0 bad"
