"""The scheduler: persistent jobs, missed runs, double firings, the approval gate, SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from apscheduler.triggers.date import DateTrigger
from sqlmodel import Session, col, select

from newsletter.config import Settings
from newsletter.db.models import Delivery, DeliveryState, Edition, EditionStatus, Region
from newsletter.delivery.base import MessageContent, Recipient, SendResult
from newsletter.delivery.outbox import OutboxBackend
from newsletter.editions.lifecycle import approve_edition
from newsletter.errors import TransientDeliveryError
from newsletter.schedule.daily import RunOutcome, region_schedules, run_daily
from newsletter.schedule.rules import RegionSchedule, local_date_at, next_send
from newsletter.schedule.runtime import JOB_TABLE, RETRY_DELAY, SchedulerRuntime, fire_region, retry_job_id
from tests.conftest import PROJECT_ROOT, TEST_SECRET, make_settings, seed_engine

# A fixed clock: handed to act() and run_edition() as their `now`, never to a started
# scheduler (that reads the real clock; its tests derive their instants from now).
DC_SEND = datetime(2026, 11, 30, 11, 30, tzinfo=UTC)  # 06:30 EST on Monday 30 November


class RecordingBackend:
    """The outbox, plus a count of every message handed over: a second copy cannot hide."""

    name = "recording"

    def __init__(self, folder: Path) -> None:
        self.outbox = OutboxBackend(folder)
        self.handed_over: list[tuple[str, str]] = []  # (campaign, address)
        self.lock = threading.Lock()

    def send_batch(self, content: MessageContent, recipients: list[Recipient]) -> list[SendResult]:
        with self.lock:
            self.handed_over.extend((content.campaign, r.email) for r in recipients)
        return self.outbox.send_batch(content, recipients)

    def close(self) -> None:
        pass


class DownBackend:
    """A provider that is down: every request fails before anything is handed over."""

    name = "down"

    def send_batch(self, content: MessageContent, recipients: list[Recipient]) -> list[SendResult]:
        raise TransientDeliveryError("provider unavailable", status=503)

    def close(self) -> None:
        pass


@pytest.fixture
def seeded(sqlite_engine: sa.Engine) -> sa.Engine:
    seed_engine(sqlite_engine)
    return sqlite_engine


@pytest.fixture
def recorder(tmp_path: Path) -> RecordingBackend:
    return RecordingBackend(tmp_path / "outbox")


@pytest.fixture
def runtime(seeded: sa.Engine, sqlite_url: str, tmp_path: Path, recorder: RecordingBackend):
    """A built (not started) daemon runtime, its scheduler torn down afterwards."""
    settings = make_settings(sqlite_url, tmp_path)
    made = []

    def build(settings: Settings = settings, engine: sa.Engine = seeded, backend=recorder):
        daemon = SchedulerRuntime(engine, settings, threading.Event(), backend=backend)
        made.append(daemon)
        return daemon

    yield build
    for daemon in made:
        if daemon.scheduler.running:
            daemon.scheduler.shutdown(wait=True)  # before the database goes; a job due now is left alone


def dc(engine: sa.Engine) -> RegionSchedule:
    return next(s for s in region_schedules(engine) if s.code == "dc")


def deliveries(engine: sa.Engine, local_date: date, region: str = "dc") -> int:
    """Messages handed over for the edition (suppressed subscribers have rows too, but get none)."""
    with Session(engine) as session:
        return session.exec(
            select(sa.func.count())
            .select_from(Delivery)
            .join(Edition, col(Delivery.edition_id) == col(Edition.id))
            .where(
                Edition.region_code == region, Edition.local_date == local_date, Delivery.state == DeliveryState.SENT
            )
        ).one()


def edition_row(engine: sa.Engine, local_date: date, region: str = "dc") -> Edition | None:
    with Session(engine) as session:
        return session.exec(
            select(Edition).where(Edition.region_code == region, Edition.local_date == local_date)
        ).first()


def outbox_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "outbox").rglob("*.eml"))


def test_restart_does_not_duplicate_jobs_and_picks_up_new_send_times(runtime, seeded: sa.Engine) -> None:
    first = runtime()
    first.scheduler.start(paused=True)
    first.install_jobs(region_schedules(seeded))
    assert len(first.scheduler.get_jobs()) == 6
    first.scheduler.shutdown(wait=False)

    with Session(seeded) as session:
        region = session.get(Region, "dc")
        region.send_time = "05:45"
        session.add(region)
        session.commit()

    second = runtime()
    second.scheduler.start(paused=True)
    second.install_jobs(region_schedules(seeded))
    jobs = {job.id: job for job in second.scheduler.get_jobs()}
    assert sorted(jobs) == sorted(f"edition:{code}" for code in ("dc", "bxl", "lagos", "riyadh", "beijing", "sg"))
    with seeded.connect() as connection:
        assert connection.execute(sa.text(f"SELECT count(*) FROM {JOB_TABLE}")).scalar_one() == 6
    trigger = jobs["edition:dc"].trigger
    assert str(trigger.timezone) == "America/New_York"
    fire = trigger.get_next_fire_time(None, datetime(2026, 11, 30, 0, 0, tzinfo=UTC))
    assert fire == datetime(2026, 11, 30, 10, 45, tzinfo=UTC)
    assert jobs["edition:dc"].misfire_grace_time == 7200 and jobs["edition:dc"].coalesce is True


def test_a_run_late_but_inside_the_grace_window_goes_out_once(runtime, seeded, tmp_path) -> None:
    daemon = runtime()
    run = daemon.act(dc(seeded), DC_SEND + timedelta(minutes=95))
    assert run is not None and run.outcome is RunOutcome.SENT and run.report.completed
    sent = deliveries(seeded, DC_SEND.date())
    assert sent > 0 and len(outbox_files(tmp_path)) == sent
    assert edition_row(seeded, DC_SEND.date()).status is EditionStatus.SENT


def test_a_run_past_the_grace_window_is_recorded_missed_and_not_sent(runtime, seeded, tmp_path, caplog) -> None:
    daemon = runtime()
    run = daemon.act(dc(seeded), DC_SEND + timedelta(hours=2, minutes=1))
    assert run is not None and run.outcome is RunOutcome.MISSED
    edition = edition_row(seeded, DC_SEND.date())
    assert edition.status is EditionStatus.MISSED and "missed" in edition.note
    assert deliveries(seeded, DC_SEND.date()) == 0 and outbox_files(tmp_path) == []
    assert any(r.levelname == "ERROR" and "EDITION MISSED" in r.getMessage() for r in caplog.records)
    # A later firing the same day neither sends nor relabels it.
    assert daemon.act(dc(seeded), DC_SEND + timedelta(hours=5)) is None
    assert deliveries(seeded, DC_SEND.date()) == 0


def test_before_send_time_nothing_happens(runtime, seeded) -> None:
    daemon = runtime()
    assert daemon.act(dc(seeded), DC_SEND - timedelta(minutes=1)) is None
    assert edition_row(seeded, DC_SEND.date()) is None


def test_a_double_firing_sends_once(runtime, seeded, recorder) -> None:
    daemon = runtime()
    daemon.act(dc(seeded), DC_SEND)
    first = list(recorder.handed_over)
    assert first and len(first) == len(set(first)) == deliveries(seeded, DC_SEND.date())
    second = daemon.act(dc(seeded), DC_SEND + timedelta(minutes=1))
    assert second is None  # the edition is already sent
    # Even a firing that ignores the edition's state is stopped by the ledger.
    from newsletter.schedule.daily import run_edition

    again = run_edition(seeded, daemon.settings, "dc", DC_SEND.date(), backend=recorder, now=DC_SEND)
    assert sum(again.report.this_run.values()) == 0
    assert recorder.handed_over == first


def test_two_firings_at_once_send_each_subscriber_once(runtime, engine, recorder, tmp_path) -> None:
    seed_engine(engine)
    daemon = runtime(make_settings(str(engine.url.render_as_string(hide_password=False)), tmp_path), engine=engine)
    errors: list[BaseException] = []

    def fire() -> None:
        try:
            daemon.act(dc(engine), DC_SEND)
        except BaseException as exc:  # a refusal is fine; a double send is not
            errors.append(exc)

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert recorder.handed_over and len(recorder.handed_over) == len(set(recorder.handed_over))
    assert len(recorder.handed_over) == deliveries(engine, DC_SEND.date())
    assert edition_row(engine, DC_SEND.date()).status is EditionStatus.SENT
    assert len(errors) <= 1, errors  # the loser may be refused (SQLite's lock), never both


def test_approval_gate_holds_an_unapproved_edition(runtime, seeded, sqlite_url, tmp_path) -> None:
    gated = make_settings(sqlite_url, tmp_path, require_approval=True)
    daemon = runtime(gated)
    run = daemon.act(dc(seeded), DC_SEND)
    assert run.outcome is RunOutcome.HELD
    assert deliveries(seeded, DC_SEND.date()) == 0
    assert "approval required" in edition_row(seeded, DC_SEND.date()).note

    with Session(seeded) as session:
        approve_edition(session, gated, "dc", DC_SEND.date(), now=DC_SEND)
        session.commit()
    run = daemon.act(dc(seeded), DC_SEND + timedelta(minutes=10))
    assert run.outcome is RunOutcome.SENT and deliveries(seeded, DC_SEND.date()) > 0


def test_catch_up_acts_on_every_region(runtime, seeded) -> None:
    daemon = runtime()
    # 07:10 UTC on 30 Nov: Brussels (06:00 UTC) and Lagos (05:30) are due, Riyadh (03:00)
    # and Beijing/Singapore (23:00 the day before) are past grace, D.C. (11:30) not yet.
    now = datetime(2026, 11, 30, 7, 10, tzinfo=UTC)
    runs = {run.region: run.outcome for run in daemon.catch_up(region_schedules(seeded), lambda: now)}
    assert runs == {
        "bxl": RunOutcome.SENT,
        "lagos": RunOutcome.SENT,
        "riyadh": RunOutcome.MISSED,
        "beijing": RunOutcome.MISSED,
        "sg": RunOutcome.MISSED,
    }


def test_scheduler_process_sends_at_send_time_and_stops_cleanly_on_sigterm(seeded, sqlite_url, tmp_path) -> None:
    now = datetime.now(UTC)
    if now.second > 45:  # leave the process time to start before the minute turns
        time.sleep(61 - now.second)
        now = datetime.now(UTC)
    fire_at = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    with Session(seeded) as session:
        for region in session.exec(select(Region)).all():
            local = fire_at.astimezone(ZoneInfo(region.timezone))
            region.send_time = f"{local:%H:%M}"
            session.add(region)
        session.commit()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")},
        "NEWSLETTER_SECRET_KEY": TEST_SECRET,
        "NEWSLETTER_DATABASE_URL": sqlite_url,
        "NEWSLETTER_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    log_path = tmp_path / "scheduler.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "scheduler.py")],
            env=env,
            cwd=tmp_path,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with Session(seeded) as session:
                    statuses = session.exec(select(Edition.status)).all()
                if len(statuses) == 6 and all(s is EditionStatus.SENT for s in statuses):
                    break
                assert process.poll() is None, log_path.read_text()
                time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    log = log_path.read_text()
    assert "scheduler stopped cleanly" in log and " ERROR " not in log, log
    assert datetime.now(UTC) >= fire_at
    with Session(seeded) as session:
        editions = session.exec(select(Edition)).all()
        assert len(editions) == 6 and all(e.status is EditionStatus.SENT for e in editions), log
        rows = session.exec(
            select(Delivery.edition_id, Delivery.subscriber_id).where(Delivery.state == DeliveryState.SENT)
        ).all()
    assert len(rows) == len(set(rows)) == len(outbox_files(tmp_path)) > 0


def test_a_paused_send_is_retried_inside_the_grace_window(runtime, seeded, sqlite_url, tmp_path, caplog) -> None:
    daemon = runtime(make_settings(sqlite_url, tmp_path, max_retries=0), backend=DownBackend())
    scheduler = daemon.scheduler
    scheduler.start(paused=True)  # jobs go to the persistent store, where a retry replaces the last
    # A started scheduler reads the real clock: a send a day ahead of it, so no retry job falls due meanwhile.
    send = next_send(dc(seeded), datetime.now(UTC) + timedelta(days=1))
    local_date = local_date_at(dc(seeded), send)
    run = daemon.act(dc(seeded), send)
    assert run.outcome is RunOutcome.INCOMPLETE
    assert edition_row(seeded, local_date).status is EditionStatus.SENDING
    retry = scheduler.get_job("retry:dc")
    assert retry is not None and retry.trigger.run_date == send + RETRY_DELAY
    assert any(r.levelname == "ERROR" and "paused" in r.getMessage() for r in caplog.records)

    # Late in the window the retry is pinned to its end; past it, the partly sent edition is recorded.
    daemon.act(dc(seeded), send + timedelta(hours=1, minutes=58))
    assert scheduler.get_job("retry:dc").trigger.run_date == send + timedelta(hours=2, seconds=1)
    run = daemon.act(dc(seeded), send + timedelta(hours=2, seconds=1))
    assert run.outcome is RunOutcome.MISSED
    edition = edition_row(seeded, local_date)
    assert edition.status is EditionStatus.SENDING and "partly sent" in edition.note


def test_a_resumed_retry_finishes_the_send(runtime, seeded, sqlite_url, tmp_path, recorder) -> None:
    settings = make_settings(sqlite_url, tmp_path, max_retries=0)
    daemon = runtime(settings, backend=DownBackend())
    assert daemon.act(dc(seeded), DC_SEND).outcome is RunOutcome.INCOMPLETE
    daemon = runtime(settings, backend=recorder)  # the provider is back
    run = daemon.act(dc(seeded), DC_SEND + RETRY_DELAY)
    assert run.outcome is RunOutcome.SENT
    assert len(recorder.handed_over) == len(set(recorder.handed_over)) == deliveries(seeded, DC_SEND.date()) > 0


def test_daily_goes_on_past_a_region_recorded_missed(runtime, seeded, sqlite_url, tmp_path, recorder) -> None:
    daemon = runtime()
    daemon.act(dc(seeded), DC_SEND + timedelta(hours=3))  # D.C. recorded missed
    now = DC_SEND + timedelta(hours=3)
    runs = {
        run.region: run.outcome
        for run in run_daily(seeded, make_settings(sqlite_url, tmp_path), now=now, backend=recorder)
    }
    assert runs["dc"] is RunOutcome.SKIPPED
    assert all(runs[code] is RunOutcome.SENT for code in ("bxl", "lagos", "riyadh", "beijing", "sg"))
    assert {campaign.split("-")[0] for campaign, _ in recorder.handed_over} == {
        "bxl",
        "lagos",
        "riyadh",
        "beijing",
        "sg",
    }


def test_a_failed_send_is_not_held_for_approval_again(runtime, seeded, sqlite_url, tmp_path) -> None:
    gated = make_settings(sqlite_url, tmp_path, require_approval=True)
    daemon = runtime(gated)
    with Session(seeded) as session:
        approve_edition(session, gated, "dc", DC_SEND.date(), now=DC_SEND)
        edition = session.exec(select(Edition).where(Edition.region_code == "dc")).one()
        edition.status = EditionStatus.FAILED  # as a refused API key leaves it
        session.add(edition)
        session.commit()
    run = daemon.act(dc(seeded), DC_SEND)
    assert run.outcome is RunOutcome.SENT


def test_a_job_falling_due_as_the_scheduler_stops_is_left_for_the_next_start(runtime, seeded, caplog) -> None:
    """SIGTERM can land just as a one-off retry falls due: stopping neither runs it nor fails on it."""
    daemon = runtime()
    scheduler = daemon.scheduler
    scheduler.start(paused=True)  # a paused scheduler holds the due job until the stop, the race made certain
    overdue = datetime.now(UTC) - timedelta(minutes=1)  # due by the real clock the scheduler reads
    scheduler.add_job(fire_region, DateTrigger(run_date=overdue), args=["dc"], id=retry_job_id("dc"))
    scheduler.shutdown(wait=True)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert edition_row(seeded, overdue.astimezone(ZoneInfo("America/New_York")).date()) is None  # not run
    with seeded.connect() as connection:  # still stored: the next start's catch-up acts on the region
        assert connection.execute(sa.text(f"SELECT id FROM {JOB_TABLE}")).scalars().all() == ["retry:dc"]


def test_a_stored_job_runs_on_the_runtime_that_owns_the_scheduler(runtime, caplog) -> None:
    """No module-level runtime: the daemon's executor runs the stored job as its own method."""
    daemon = runtime()
    daemon.scheduler.start()
    # Due at once by the real clock the scheduler reads; a region that is gone is only logged.
    daemon.scheduler.add_job(fire_region, DateTrigger(run_date=datetime.now(UTC)), args=["atlantis"], id="retry:x")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and daemon.scheduler.get_job("retry:x") is not None:
        time.sleep(0.05)
    daemon.scheduler.shutdown(wait=True)  # the job in flight finishes first
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert messages == ["scheduled region atlantis no longer exists; its job will be removed on restart"]
