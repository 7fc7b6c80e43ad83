"""Sends on the task queue, with real processes: workers killed, the broker killed, pauses, two schedulers.

Everything runs for real: PostgreSQL (the ledger several workers share), a private
redis-server as the broker (tests/queue_harness.py), ``newsletter worker`` processes, the
CLI, and the SendGrid stand-in of this test process, which counts what each address got.
PostgreSQL only: workers on several machines share a server database, never a SQLite file.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from newsletter.db.engine import make_engine, session_scope
from newsletter.db.models import DeliveryState, Edition, EditionStatus, Subscriber
from newsletter.db.tables import table_of
from newsletter.schedule.daily import RunOutcome, run_edition
from newsletter.send.service import edition_status
from tests.conftest import make_settings
from tests.dispatch_harness import REGION, approve, edition_date, ledger_states, seed_content
from tests.peers.sendgrid import API_KEY, StandIn
from tests.queue_harness import RedisBroker, Workers, add_many_readers, wait_until
from tests.test_cli_errors import one_line
from tests.test_dispatch_processes import dispatcher_env

UNRESOLVED = (DeliveryState.CLAIMED, DeliveryState.UNKNOWN)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def prepare(engine: sa.Engine, postgres_url: str, tmp_path: Path, readers: int) -> list[str]:
    """Content seeded, today's edition approved (frozen), ``readers`` subscribers of the region."""
    seed_content(engine, tmp_path)
    approve(engine, make_settings(postgres_url, tmp_path), edition_date(engine))
    return add_many_readers(engine, readers, REGION)


def env_for(postgres_url: str, standin: StandIn, broker: RedisBroker, **extra: str) -> dict[str, str]:
    values = {"NEWSLETTER_QUEUE_URL": broker.url, "NEWSLETTER_BATCH_SIZE": "100", "NEWSLETTER_CONCURRENCY": "2"}
    values.update(extra)
    return dispatcher_env(postgres_url, standin, **values)


def cli(env: dict[str, str], tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def edition_is(engine: sa.Engine, local_date: object, status: EditionStatus) -> bool:
    return edition_status(engine, REGION, local_date).status is status  # type: ignore[arg-type]


def test_a_worker_killed_mid_send_leaves_only_unresolved_rows_and_the_other_finishes_the_list(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, sendgrid_standin: StandIn, redis_broker: RedisBroker,
    workers: Workers,
) -> None:  # fmt: skip
    emails = prepare(engine, postgres_url, tmp_path, 10_000)
    local_date = edition_date(engine)
    sendgrid_standin.delay = 0.2  # 100 requests of 100 recipients: the kill lands mid-way
    env = env_for(postgres_url, sendgrid_standin, redis_broker, NEWSLETTER_QUEUE_TASKS="2")
    doomed, survivor = workers.start(env), workers.start(env)

    queued = cli(env, tmp_path, "send", REGION, "--date", str(local_date), "--yes", "--no-wait")
    assert queued.returncode == 0, queued.stdout + queued.stderr
    assert "2 tasks" in queued.stdout
    # One task each (a worker reserves only what it runs); kill one when about a third is out.
    wait_until(lambda: doomed.task_ids("received") and survivor.task_ids("received"), 60, "both workers to start")
    wait_until(lambda: sendgrid_standin.accepted_recipients >= 3_000, 60, "3,000 accepted recipients")
    doomed.process.send_signal(signal.SIGKILL)
    assert doomed.process.wait(10) == -signal.SIGKILL
    wait_until(lambda: survivor.task_ids("succeeded"), 90, "the surviving worker to finish the list")

    states = ledger_states(engine)
    unresolved = {email for email, state in states.items() if state in UNRESOLVED}
    assert len(states) == 10_000, "every subscriber has a ledger row"
    assert 0 < len(unresolved) <= 2 * 100, "only the killed worker's batches in flight are unresolved"
    assert {state for email, state in states.items() if email not in unresolved} == {DeliveryState.QUEUED}
    got = sendgrid_standin.recipients()
    assert all(got[email] == 1 for email in emails if email not in unresolved)
    assert all(got[email] <= 1 for email in unresolved)  # sent or not: nobody knows, nobody got two
    assert edition_is(engine, local_date, EditionStatus.SENDING)
    status = cli(env, tmp_path, "status", REGION, "--date", str(local_date))
    assert f"{len(unresolved)} without a known outcome" in status.stdout, status.stdout + status.stderr

    released = cli(env, tmp_path, "release", REGION, "--date", str(local_date), "--older-than", "0", "--yes")
    assert f"released {len(unresolved)} deliveries" in released.stdout, released.stdout + released.stderr
    resumed = cli(env, tmp_path, "resume", REGION, "--date", str(local_date))

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert edition_is(engine, local_date, EditionStatus.SENT)
    assert Counter(ledger_states(engine).values()) == Counter({DeliveryState.QUEUED: 10_000})
    got = sendgrid_standin.recipients()
    assert all(got[email] == 1 for email in emails if email not in unresolved)
    assert all(1 <= got[email] <= 2 for email in unresolved)  # a second copy only where the operator released


def test_a_broker_killed_and_restarted_mid_send_loses_no_task_and_sends_nobody_twice(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, sendgrid_standin: StandIn, redis_broker: RedisBroker,
    workers: Workers,
) -> None:  # fmt: skip
    emails = prepare(engine, postgres_url, tmp_path, 10_000)
    local_date = edition_date(engine)
    sendgrid_standin.delay = 0.2
    env = env_for(postgres_url, sendgrid_standin, redis_broker, NEWSLETTER_QUEUE_TASKS="2")
    first = workers.start(env)  # runs one task; the other waits in the broker

    queued = cli(env, tmp_path, "send", REGION, "--date", str(local_date), "--yes", "--no-wait")
    assert queued.returncode == 0, queued.stdout + queued.stderr
    wait_until(lambda: sendgrid_standin.accepted_recipients >= 2_000, 60, "2,000 accepted recipients")
    redis_broker.kill()  # SIGKILL: no clean shutdown, only what the append-only file holds
    redis_broker.start()
    second = workers.start(env)

    def both_tasks_done() -> bool:
        return len(first.task_ids("succeeded") | second.task_ids("succeeded")) == 2

    wait_until(both_tasks_done, 100, "both queued tasks to run to the end")
    wait_until(lambda: edition_is(engine, local_date, EditionStatus.SENT), 30, "the edition to be sent")
    assert len(first.task_ids("received") | second.task_ids("received")) == 2
    assert Counter(ledger_states(engine).values()) == Counter({DeliveryState.QUEUED: 10_000})
    assert sendgrid_standin.recipients() == Counter(emails)


def test_a_paused_send_is_retried_by_the_queue_within_the_grace_window(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, sendgrid_standin: StandIn, redis_broker: RedisBroker,
    workers: Workers,
) -> None:  # fmt: skip
    emails = prepare(engine, postgres_url, tmp_path, 300)
    local_date = edition_date(engine)
    sendgrid_standin.script = ["500"]  # the provider fails once: with no retries of its own the send pauses
    extra = {"NEWSLETTER_QUEUE_TASKS": "1", "NEWSLETTER_MAX_RETRIES": "0", "NEWSLETTER_CONCURRENCY": "1"}
    env = env_for(postgres_url, sendgrid_standin, redis_broker, **extra)
    worker = workers.start(env)
    settings = make_settings(
        postgres_url, tmp_path, queue_url=redis_broker.url, queue_tasks=1, backend="sendgrid", sendgrid_api_key=API_KEY,
        sendgrid_api_host=sendgrid_standin.host,
    )  # fmt: skip

    # As the scheduler does at the send time: the grace window ends in 3 s, so the retry is pinned there.
    run = run_edition(engine, settings, REGION, local_date, retry_until=datetime.now(UTC) + timedelta(seconds=3))

    assert run.outcome is RunOutcome.QUEUED
    wait_until(lambda: edition_is(engine, local_date, EditionStatus.SENT), 60, "the retried send to finish")
    assert "paused; the queue tries again" in worker.text()
    assert sendgrid_standin.answers.count(500) == 1
    assert sendgrid_standin.recipients() == Counter(emails)


def test_two_schedulers_queueing_the_same_edition_at_once_produce_one_send(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, sendgrid_standin: StandIn, redis_broker: RedisBroker,
    workers: Workers,
) -> None:  # fmt: skip
    emails = prepare(engine, postgres_url, tmp_path, 2_000)
    local_date = edition_date(engine)
    sendgrid_standin.delay = 0.05
    env = env_for(postgres_url, sendgrid_standin, redis_broker, NEWSLETTER_QUEUE_TASKS="2")
    workers.start(env, concurrency=2)
    workers.start(env, concurrency=2)

    # `daily` is the scheduler's job for every region at once; two of them race here.
    daily = [
        subprocess.Popen(
            [sys.executable, "-m", "newsletter", "daily"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in daily]

    assert [process.returncode for process in daily] == [0, 0], outputs
    assert all(f"{REGION:<8} {local_date}  queued" in output for output in outputs), outputs
    wait_until(lambda: edition_is(engine, local_date, EditionStatus.SENT), 90, "the edition to be sent")
    assert Counter(ledger_states(engine).values()) == Counter({DeliveryState.QUEUED: 2_000})
    assert sendgrid_standin.recipients() == Counter(emails)


def test_a_worker_stopped_with_sigterm_puts_its_send_back_for_another_worker(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, sendgrid_standin: StandIn, redis_broker: RedisBroker,
    workers: Workers,
) -> None:  # fmt: skip
    emails = prepare(engine, postgres_url, tmp_path, 5_000)
    local_date = edition_date(engine)
    sendgrid_standin.delay = 0.2
    env = env_for(postgres_url, sendgrid_standin, redis_broker, NEWSLETTER_QUEUE_TASKS="1")
    first = workers.start(env)

    queued = cli(env, tmp_path, "send", REGION, "--date", str(local_date), "--yes", "--no-wait")
    assert queued.returncode == 0, queued.stdout + queued.stderr
    wait_until(lambda: sendgrid_standin.accepted_recipients >= 1_000, 60, "1,000 accepted recipients")
    first.process.send_signal(signal.SIGTERM)  # a deploy: the batches in flight finish, the rest waits

    assert first.process.wait(60) == 0, first.text()
    assert sendgrid_standin.accepted_recipients < 5_000
    assert not {s for s in ledger_states(engine).values() if s in UNRESOLVED}, "in-flight batches were recorded"
    workers.start(env)
    wait_until(lambda: edition_is(engine, local_date, EditionStatus.SENT), 90, "another worker to finish the send")
    assert sendgrid_standin.recipients() == Counter(emails)


def test_a_queued_send_refused_by_the_worker_exits_1_with_the_reason(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, sendgrid_standin: StandIn, redis_broker: RedisBroker,
    workers: Workers,
) -> None:  # fmt: skip
    prepare(engine, postgres_url, tmp_path, 10)
    env = env_for(
        postgres_url, sendgrid_standin, redis_broker, NEWSLETTER_QUEUE_TASKS="2", NEWSLETTER_REQUIRE_APPROVAL="1"
    )
    workers.start(env)

    refused = cli(env, tmp_path, "send", "bxl", "--yes")  # bxl's edition was never approved

    assert refused.returncode == 1, refused.stdout + refused.stderr
    # Both tasks refused it: one reason, on one line.
    assert one_line(refused.stderr).endswith("is not approved (NEWSLETTER_REQUIRE_APPROVAL is on)")
    assert "queued edition bxl" in refused.stdout
    assert sendgrid_standin.accepted_recipients == 0


def test_a_queued_send_whose_tasks_end_with_an_exception_is_one_line_on_stderr(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, sendgrid_standin: StandIn, redis_broker: RedisBroker,
    workers: Workers,
) -> None:  # fmt: skip
    prepare(engine, postgres_url, tmp_path, 10)
    local_date = edition_date(engine)
    with session_scope(engine) as session:  # a stored snapshot this version cannot read: every task raises
        edition = session.exec(select(Edition).where(Edition.region_code == REGION)).one()
        edition.snapshot = {"version": -1}
    env = env_for(postgres_url, sendgrid_standin, redis_broker, NEWSLETTER_QUEUE_TASKS="2")
    worker = workers.start(env)

    result = cli(env, tmp_path, "send", REGION, "--date", str(local_date), "--yes")

    assert result.returncode == 1, result.stdout + result.stderr
    assert len(worker.task_ids("raised")) == 2, worker.text()  # each task ended with the exception
    assert one_line(result.stderr) == (
        f"error: edition {REGION} {local_date} not complete: the edition is approved; "
        "a task ended with ValueError: unsupported edition snapshot version -1"
    )
    assert f"edition {REGION} {local_date} (#{edition.id}): approved" in result.stdout  # the summary stays
    assert sendgrid_standin.accepted_recipients == 0


def test_a_followed_send_whose_task_result_was_lost_with_the_broker_ends_once_the_edition_is_sent(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, sendgrid_standin: StandIn, redis_broker: RedisBroker,
    workers: Workers,
) -> None:  # fmt: skip
    emails = prepare(engine, postgres_url, tmp_path, 300)
    local_date = edition_date(engine)
    sendgrid_standin.delay = 0.25  # batches of 20, one at a time: the send lasts a few seconds
    slow = {"NEWSLETTER_QUEUE_TASKS": "1", "NEWSLETTER_BATCH_SIZE": "20", "NEWSLETTER_CONCURRENCY": "1"}
    env = env_for(postgres_url, sendgrid_standin, redis_broker, **slow)
    worker = workers.start(env)

    follow = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "send", REGION, "--date", str(local_date), "--yes"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: sendgrid_standin.accepted_recipients >= 40, 60, "the worker to be sending")
        redis_broker.kill()
        # The task ends while the broker is away: its result (and the message's ack) has nowhere to go.
        wait_until(lambda: edition_is(engine, local_date, EditionStatus.SENT), 60, "the edition to be sent")
        redis_broker.start()
        out, err = follow.communicate(timeout=90)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.communicate(timeout=10)

    assert follow.returncode == 0, out + err
    assert sendgrid_standin.recipients() == Counter(emails)
    assert Counter(ledger_states(engine).values()) == Counter({DeliveryState.QUEUED: 300})
    assert len(err.splitlines()) <= 1, err
    assert f"edition {REGION} {local_date} (#" in out and out.splitlines()[-2].endswith(": sent"), out
    assert not worker.task_ids("succeeded"), worker.text()  # its result was never stored


def test_a_followed_send_of_a_sent_edition_that_owes_a_reader_ends_once_that_reader_has_it(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, sendgrid_standin: StandIn, redis_broker: RedisBroker,
    workers: Workers,
) -> None:  # fmt: skip
    emails = prepare(engine, postgres_url, tmp_path, 40)
    local_date = edition_date(engine)
    subscribers = table_of(Subscriber)
    late = subscribers.c.email == emails[0]
    with engine.begin() as connection:  # paused for the first send: no ledger row
        connection.execute(sa.update(subscribers).where(late).values(paused=True))
    env = env_for(postgres_url, sendgrid_standin, redis_broker, NEWSLETTER_QUEUE_TASKS="1")
    workers.start(env)
    first = cli(env, tmp_path, "send", REGION, "--date", str(local_date), "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    assert edition_is(engine, local_date, EditionStatus.SENT)
    with engine.begin() as connection:  # back before anyone sends again: the SENT edition owes them one
        connection.execute(sa.update(subscribers).where(late).values(paused=False))
    sendgrid_standin.delay = 0.5  # the worker is still at it when `send` first reads a SENT edition

    again = cli(env, tmp_path, "send", REGION, "--date", str(local_date), "--yes")

    assert again.returncode == 0, again.stdout + again.stderr
    assert sendgrid_standin.recipients() == Counter(emails)  # the follow ended after the late reader's message
    assert again.stdout.splitlines()[-2].endswith(": sent"), again.stdout
