"""Progress while sending: a live bar on a terminal (a real pseudo-terminal), plain lines elsewhere."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from newsletter.cli.sending import PLAIN_EVERY_SECONDS
from newsletter.db.engine import make_engine
from tests.conftest import cli_env, run_cli, seed_engine

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Two readers a batch at ten a second: the send lasts about a second, long enough for the bar to redraw.
SLOW = {"NEWSLETTER_BATCH_SIZE": "2", "NEWSLETTER_RATE_LIMIT_PER_SECOND": "10", "NEWSLETTER_CONCURRENCY": "1"}


def seeded(db_url: str) -> None:
    engine = make_engine(db_url)
    seed_engine(engine)
    engine.dispose()


def run_in_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its stdin and stdout; return its exit status and what it drew."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))  # 40 rows, 200 columns
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", *args],
        stdin=follower,
        stdout=follower,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "200"},
    )
    os.close(follower)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError as exc:  # EIO: the child closed its end
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    return process.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_a_live_bar_with_rate_and_time_left(db_url: str, tmp_path: Path) -> None:
    seeded(db_url)
    env = cli_env(db_url, NEWSLETTER_OUTBOX_DIR=str(tmp_path / "outbox"), **SLOW)
    status, drawn = run_in_terminal(["send", "dc", "--yes"], env, tmp_path)
    assert status == 0, drawn
    readers = len(list((tmp_path / "outbox").rglob("*.eml")))
    assert readers > 4
    assert ANSI.search(drawn)  # drawn with terminal controls, not printed as lines
    frames = ANSI.sub("", drawn).replace("\r", "\n")
    done = {int(n) for n in re.findall(rf"(\d+)/{readers}\b", frames)}
    assert readers in done and len(done) > 1  # redrawn as it went, not printed once at the end
    final = [line for line in frames.splitlines() if f"{readers}/{readers}" in line][-1]
    assert "━" in final and re.search(r"\d+/s", final) and re.search(r"\d:\d\d:\d\d", final)
    assert f"sent {readers}" in final
    assert f"this run: sent {readers}" in frames  # the summary follows the bar


def test_a_pipe_gets_a_plain_line_every_few_seconds(db_url: str, tmp_path: Path) -> None:
    seeded(db_url)
    started = time.monotonic()
    result = run_cli(["send", "dc", "--yes"], db_url, tmp_path, NEWSLETTER_OUTBOX_DIR=str(tmp_path / "outbox"), **SLOW)
    lasted = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stdout) and "━" not in result.stdout
    progress = [int(n) for n in re.findall(r"^  sent (\d+)$", result.stdout, flags=re.MULTILINE)]
    readers = len(list((tmp_path / "outbox").rglob("*.eml")))
    assert progress[0] == 2  # the first batch gets its line at once
    assert progress == sorted(progress) and progress[-1] <= readers
    # One line per PLAIN_EVERY_SECONDS at most, not one per batch (there are readers / 2 batches).
    assert len(progress) <= 1 + lasted / PLAIN_EVERY_SECONDS < readers / 2
