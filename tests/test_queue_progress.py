"""A send handed to the queue's workers shows the in-process send's progress while ``send`` follows it.

Real processes: PostgreSQL, a private redis-server, one ``newsletter worker``, the SendGrid
stand-in answering slowly enough for the send to last several seconds, and the CLI on a
pipe (plain lines) or on a pseudo-terminal (the live bar).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.cli.sending import PLAIN_EVERY_SECONDS
from newsletter.db.engine import make_engine
from newsletter.db.models import EditionStatus
from tests.conftest import make_settings
from tests.dispatch_harness import REGION, approve, edition_date, ledger_states, seed_content
from tests.peers.sendgrid import StandIn
from tests.queue_harness import RedisBroker, Workers, add_many_readers
from tests.test_dispatch_processes import dispatcher_env
from tests.test_queue_workers import cli, edition_is
from tests.test_send_progress import ANSI, run_in_terminal

READERS = 300
# One task, one batch of 20 in flight, each answered after 0.25 s: the send lasts over 3 s.
SLOW = {"NEWSLETTER_QUEUE_TASKS": "1", "NEWSLETTER_BATCH_SIZE": "20", "NEWSLETTER_CONCURRENCY": "1"}


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def started(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, standin: StandIn, broker: RedisBroker, workers: Workers
) -> dict[str, str]:
    seed_content(engine, tmp_path)
    approve(engine, make_settings(postgres_url, tmp_path), edition_date(engine))
    add_many_readers(engine, READERS, REGION)
    standin.delay = 0.25
    env = dispatcher_env(postgres_url, standin, NEWSLETTER_QUEUE_URL=broker.url, **SLOW)
    workers.start(env)
    return env


def test_following_a_queued_send_on_a_pipe_prints_a_plain_line_every_few_seconds(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, sendgrid_standin: StandIn, redis_broker: RedisBroker,
    workers: Workers,
) -> None:  # fmt: skip
    env = started(engine, postgres_url, tmp_path, sendgrid_standin, redis_broker, workers)
    local_date = edition_date(engine)

    began = time.monotonic()
    result = cli(env, tmp_path, "send", REGION, "--date", str(local_date), "--yes")
    lasted = time.monotonic() - began

    assert result.returncode == 0, result.stdout + result.stderr
    assert edition_is(engine, local_date, EditionStatus.SENT)
    assert not ANSI.search(result.stdout) and "━" not in result.stdout
    rows = len(ledger_states(engine))
    progress = [int(n) for n in re.findall(r"^  (?:suppressed \d+, )?queued (\d+)$", result.stdout, flags=re.M)]
    assert len(progress) >= 2, result.stdout  # a line while it went, not only the summary
    follow = result.stdout.split("queued edition", 1)[1].split(f"edition {REGION} {local_date} (#", 1)[0]
    assert len(follow.splitlines()) == 1 + len(progress), follow  # answers only: no claims in flight
    assert progress == sorted(progress) and 0 < progress[0] < progress[-1] <= rows
    assert len(progress) <= 2 + lasted / PLAIN_EVERY_SECONDS  # a line per PLAIN_EVERY_SECONDS, not per poll
    assert result.stdout.index("queued edition dc") < result.stdout.index("  queued ")
    assert f"edition {REGION} {local_date}" in result.stdout.splitlines()[-2]  # the summary follows


def test_following_a_queued_send_on_a_terminal_draws_the_live_bar(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, sendgrid_standin: StandIn, redis_broker: RedisBroker,
    workers: Workers,
) -> None:  # fmt: skip
    env = started(engine, postgres_url, tmp_path, sendgrid_standin, redis_broker, workers)
    local_date = edition_date(engine)

    status, drawn = run_in_terminal(["send", REGION, "--date", str(local_date), "--yes"], env, tmp_path)

    assert status == 0, drawn
    rows = len(ledger_states(engine))  # every reader of the region: sent to or suppressed
    assert ANSI.search(drawn)
    frames = ANSI.sub("", drawn).replace("\r", "\n")
    done = {int(n) for n in re.findall(rf"(\d+)/{rows}\b", frames)}
    assert rows in done and len(done) > 1  # redrawn as the workers went
    final = [line for line in frames.splitlines() if f"{rows}/{rows}" in line][-1]
    assert "━" in final and re.search(r"\d+/s", final) and re.search(r"\d:\d\d:\d\d", final)
    assert re.search(r"queued \d+", final)
    assert f"edition {REGION} {local_date}" in frames.split(final, 1)[1]  # the summary follows the bar
