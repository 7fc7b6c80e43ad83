"""Real processes: a send stopped by SIGTERM or Ctrl-C, the exit codes, and `release` after a crash.

A stop is not a crash: the batches in flight finish and are recorded, nothing the
provider accepted stays `claimed`, and the summary names the next step. Exit
codes: 0 only when the edition is complete, 3 when it is left `sending`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.db.models import Delivery, DeliveryState
from newsletter.db.tables import table_of
from newsletter.send.service import SendOutcome, send_edition
from tests.conftest import make_settings
from tests.dispatch_harness import (
    REGION,
    active_readers,
    add_readers,
    approve,
    edition_date,
    ledger_states,
    seed_content,
)
from tests.peers.sendgrid import StandIn
from tests.test_cli_errors import one_line
from tests.test_dispatch_processes import dispatcher_env, send_command

INCOMPLETE = 3


@pytest.fixture
def prepared(engine: sa.Engine, db_url: str, tmp_path: Path) -> sa.Engine:
    """Content seeded and today's edition approved (frozen), as the scheduler leaves it."""
    seed_content(engine, tmp_path)
    approve(engine, make_settings(db_url, tmp_path), edition_date(engine))
    return engine


def newsletter(*args: str) -> list[str]:
    return [sys.executable, "-m", "newsletter", *args]


def run_newsletter(
    env: dict[str, str], cwd: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``newsletter ARGS`` to its end in a real process, its output captured."""
    return subprocess.run(newsletter(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if not condition():
        process.kill()
        raise AssertionError(f"never saw {what}: {process.communicate(timeout=30)}")


def stop_mid_send(prepared: sa.Engine, db_url: str, tmp_path: Path, standin: StandIn, signum: int) -> None:
    """Start a send, signal it while batches are in flight, check the stop, then resume it."""
    readers = [r.email for r in active_readers(40)]
    add_readers(prepared, active_readers(40))
    local_date = edition_date(prepared)
    standin.delay = 1.0  # each request is answered a second late: batches are in flight when the signal lands
    env = dispatcher_env(db_url, standin, NEWSLETTER_BATCH_SIZE="5", NEWSLETTER_CONCURRENCY="2")
    process = subprocess.Popen(
        send_command(local_date), env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: len(standin.accepted) >= 2 and standin.in_flight > 0, process, "a batch in flight")
        in_flight_at_signal = standin.in_flight
        os.kill(process.pid, signum)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)

    assert in_flight_at_signal > 0
    assert process.returncode == INCOMPLETE, stdout + stderr
    assert "stopped" in stdout and "this run: queued" in stdout, stdout + stderr
    # The signal's announcement, then why the edition is not complete and what to run next.
    assert f"next: `newsletter resume {REGION} --date {local_date}`" in stderr.splitlines()[-1], stdout + stderr
    assert len(stderr.splitlines()) == 2 and "Traceback" not in stderr, stderr
    states = ledger_states(prepared)
    assert DeliveryState.CLAIMED not in states.values(), Counter(states.values())
    accepted = standin.recipients()
    assert {email for email, state in states.items() if state is DeliveryState.QUEUED} == set(accepted)
    assert 0 < len(accepted) < len(readers), "the stop should have left readers for the resume"

    resumed = run_newsletter(env, tmp_path, "resume", REGION, "--date", str(local_date), timeout=180)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert standin.recipients() == Counter(readers)
    assert Counter(ledger_states(prepared).values()) == Counter({DeliveryState.QUEUED: len(readers)})


def test_sigterm_mid_send_finishes_the_batches_in_flight_and_says_how_to_resume(
    prepared: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    stop_mid_send(prepared, db_url, tmp_path, sendgrid_standin, signal.SIGTERM)


def test_ctrl_c_mid_send_is_the_same_stop(
    prepared: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    stop_mid_send(prepared, db_url, tmp_path, sendgrid_standin, signal.SIGINT)


def test_a_second_signal_aborts_at_once_leaving_the_batch_in_flight_claimed(
    prepared: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(prepared, active_readers(10))
    local_date = edition_date(prepared)
    sendgrid_standin.script = ["202", "hang"]  # the second batch never gets its answer
    env = dispatcher_env(db_url, sendgrid_standin)
    process = subprocess.Popen(
        send_command(local_date), env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: len(sendgrid_standin.received) >= 2, process, "the second request")
        os.kill(process.pid, signal.SIGTERM)
        # The first signal is heard (the stop is announced) while the batch still hangs.
        assert process.stderr is not None
        announced = process.stderr.readline()
        assert "stopping" in announced and "again" in announced, announced
        os.kill(process.pid, signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    assert process.returncode == -signal.SIGTERM
    assert Counter(ledger_states(prepared).values()) == Counter({DeliveryState.QUEUED: 5, DeliveryState.CLAIMED: 5})


def test_exit_code_is_zero_only_when_the_edition_is_complete(
    prepared: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(prepared, active_readers(20))
    local_date = edition_date(prepared)
    # The last batch's connection drops: those readers' outcome is unknown. The run reached
    # the end of the list (under a threshold of 100 %), yet the edition is not complete.
    sendgrid_standin.script = ["202", "202", "202", "drop"]
    env = dispatcher_env(db_url, sendgrid_standin, NEWSLETTER_ERROR_THRESHOLD="1", NEWSLETTER_MAX_RETRIES="0")
    unknown = subprocess.run(
        send_command(local_date), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert unknown.returncode == INCOMPLETE, unknown.stdout + unknown.stderr
    assert "unknown 5" in unknown.stdout and "newsletter status" in one_line(unknown.stderr)

    again = run_newsletter(env, tmp_path, "resume", REGION, "--date", str(local_date))
    assert again.returncode == INCOMPLETE, again.stdout + again.stderr  # still unknown: not done

    released = run_newsletter(env, tmp_path, "release", REGION, "--date", str(local_date), "--yes")
    assert released.returncode == 0 and "released 5" in released.stdout, released.stdout + released.stderr
    done = run_newsletter(env, tmp_path, "resume", REGION, "--date", str(local_date))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "completed" in done.stdout


def test_a_paused_send_exits_incomplete(
    prepared: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(prepared, active_readers(10))
    local_date = edition_date(prepared)
    sendgrid_standin.script = ["202", "500"]  # the provider fails the second batch; no retries allowed
    env = dispatcher_env(db_url, sendgrid_standin, NEWSLETTER_MAX_RETRIES="0")
    paused = subprocess.run(
        send_command(local_date), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert paused.returncode == INCOMPLETE, paused.stdout + paused.stderr
    assert "paused" in paused.stdout
    assert f"next: `newsletter resume {REGION} --date {local_date}`" in one_line(paused.stderr)


def test_release_right_after_a_crash_says_why_nothing_was_released_and_when_it_will_be(
    prepared: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    add_readers(prepared, active_readers(10))
    local_date = edition_date(prepared)
    sendgrid_standin.script = ["202", "hang"]
    env = dispatcher_env(db_url, sendgrid_standin)
    process = subprocess.Popen(
        send_command(local_date), env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: len(sendgrid_standin.received) >= 2, process, "the second request")
        os.kill(process.pid, signal.SIGKILL)  # the crash: the hanging batch stays claimed
    finally:
        process.communicate(timeout=30)
    sendgrid_standin.release_hang.set()
    d = table_of(Delivery).c
    with prepared.connect() as connection:
        touched = connection.execute(sa.select(d.updated_at).where(d.state == DeliveryState.CLAIMED)).scalars().all()
    assert len(touched) == 5
    releasable_at = max(touched) + timedelta(minutes=15)

    result = run_newsletter(env, tmp_path, "release", REGION, "--date", str(local_date), "--yes")

    assert result.returncode == 0, result.stderr
    assert "released 0 deliveries" in result.stdout, result.stdout
    assert "5 claims were touched less than 15 minutes ago" in result.stdout, result.stdout
    assert f"releasable at {releasable_at:%Y-%m-%d %H:%M:%S} UTC" in result.stdout, result.stdout
    assert "--older-than" in result.stdout, result.stdout
    assert Counter(ledger_states(prepared).values()) == Counter({DeliveryState.QUEUED: 5, DeliveryState.CLAIMED: 5})

    forced = run_newsletter(env, tmp_path, "release", REGION, "--date", str(local_date), "--older-than", "0", "--yes")
    assert forced.returncode == 0 and "released 5 deliveries" in forced.stdout, forced.stdout + forced.stderr
    assert "younger" not in forced.stdout and "less than" not in forced.stdout


def test_a_stop_heard_while_pacing_claims_no_further_batch(prepared: sa.Engine, db_url: str, tmp_path: Path) -> None:
    add_readers(prepared, active_readers(20))
    local_date = edition_date(prepared)
    # One message a second: the pacer holds the second batch of 5 for about 5 s. The stop
    # arrives during that wait; nothing more may be claimed after it.
    settings = make_settings(db_url, tmp_path, batch_size=5, concurrency=1, rate_limit_per_second=1)
    stop = threading.Event()
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the dispatcher's clock: the stop lands in the first wait
        slept.append(seconds)
        stop.set()

    report = send_edition(prepared, settings, REGION, local_date, should_stop=stop.is_set, sleep=sleep)

    assert slept, "the pacer should have waited before the second batch"
    assert report.outcome is SendOutcome.STOPPED
    assert Counter(ledger_states(prepared).values()) == Counter({DeliveryState.SENT: 5})
    assert not report.edition_complete
