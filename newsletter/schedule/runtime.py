"""The APScheduler 3 daemon: one cron job per region, persisted in the project's database.

APScheduler only pulls the trigger. What a firing does is decided by
:func:`newsletter.schedule.rules.decide` with the clock read at that moment, and what
is sent is guarded by the delivery ledger, so a double firing sends nothing twice.

Missed runs: at start-up every region's current decision is acted on (send if
inside the grace window, record "missed" if past it); while running, a job that
fires late within ``misfire_grace_time`` still runs, and one later than that is
recorded as missed by the EVENT_JOB_MISSED listener. Nothing is sent late silently.

Interrupted sends: a send that pauses (provider outage, error threshold) is tried
again every ``RETRY_DELAY`` by a one-off job while the grace window lasts; the
ledger resumes it where it stopped. Past the window it is recorded, loudly, as
partly sent, for an editor to finish with ``newsletter resume`` or leave. With a task
queue (NEWSLETTER_QUEUE_URL) a firing only queues the send; the queue's task retries
a paused one on the same terms (``newsletter.queue.jobs``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from newsletter.config import Settings
from newsletter.delivery.base import Backend
from newsletter.schedule.daily import (
    EditionRun,
    RunOutcome,
    edition_status,
    one_line_error,
    record_missed,
    region_schedules,
    run_edition,
)
from newsletter.schedule.rules import RegionSchedule, Verdict, decide, local_date_at
from newsletter.send.pacing import PAUSED_RETRY_DELAY as RETRY_DELAY
from newsletter.send.service import SendOutcome

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"


class _StoppingScheduler(BackgroundScheduler):  # type: ignore[misc]  # APScheduler 3 ships no types: its classes are Any
    """A BackgroundScheduler that hands out no job once it has begun to stop.

    APScheduler 3's thread makes one more pass over the job stores after
    ``shutdown()`` has closed the executors, and a pass can also run while
    ``shutdown(wait=True)`` waits for the job in flight. A job that falls due then
    (a one-off retry, or a cron firing at the moment of SIGTERM) fails to submit,
    and removing the spent one-off job raises ``JobLookupError`` in that thread.
    Here a pass in progress finishes first and later passes do nothing, so the
    job stays in the persistent store and the next start (whose catch-up acts on
    every region) deals with it.
    """

    def __init__(self, **options: Any) -> None:
        self._pass_lock = threading.Lock()
        self._stopping = False
        super().__init__(**options)

    def _process_jobs(self) -> float | None:  # APScheduler 3's one pass over the stores
        with self._pass_lock:
            if self._stopping:
                return None  # wait for the wake-up that ends the thread
            result: float | None = super()._process_jobs()
            return result

    def shutdown(self, wait: bool = True) -> None:
        with self._pass_lock:
            self._stopping = True
        super().shutdown(wait=wait)


def job_id(region_code: str) -> str:
    return f"edition:{region_code}"


def retry_job_id(region_code: str) -> str:
    return f"retry:{region_code}"


class SchedulerRuntime:
    """The daemon: its engine, settings, stop event, backend and APScheduler, and what a firing does.

    Made by :func:`run_scheduler` (or a test) and handed to everything that needs it;
    nothing is kept at module level. Its jobs run on its own executor, which calls
    :meth:`fire_region` on it (see :func:`fire_region`).
    """

    def __init__(
        self, engine: sa.Engine, settings: Settings, stop: threading.Event, *, backend: Backend | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.stop = stop
        self.backend = backend  # None: the configured backend, built per send
        self.scheduler = _StoppingScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)},
            executors={"default": _RuntimeExecutor(self)},
            job_defaults={
                # On purpose, not APScheduler's defaults (1 s grace): a job held up for
                # less than the grace window still sends; later ones are recorded missed.
                "misfire_grace_time": settings.misfire_grace_seconds,
                # Several missed firings of one region collapse into one run.
                "coalesce": True,
                "max_instances": 1,
            },
            timezone=UTC,
        )
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)

    def act(self, schedule: RegionSchedule, now: datetime) -> EditionRun | None:
        """Do what the rule says for a region at ``now``: send, record missed, or nothing."""
        grace = timedelta(seconds=self.settings.misfire_grace_seconds)
        decision = decide(schedule, now, grace)
        if decision.verdict is Verdict.NOT_YET:
            return None
        status = edition_status(self.engine, schedule.code, decision.local_date)
        if status is not None and status.is_done:
            log.info("edition %s %s already %s", schedule.code, decision.local_date, status.value)
            return None
        if decision.verdict is Verdict.MISSED:
            return record_missed(self.engine, schedule.code, decision.local_date, decision.scheduled_at)
        run = run_edition(
            self.engine,
            self.settings,
            schedule.code,
            decision.local_date,
            backend=self.backend,
            should_stop=self.stop.is_set,
            now=now,
            retry_until=decision.scheduled_at + grace,  # with a task queue, it retries a paused send until then
        )
        log.info("edition %s %s: %s %s", run.region, run.local_date, run.outcome.value, run.detail)
        if run.outcome is RunOutcome.INCOMPLETE and run.report and run.report.outcome is SendOutcome.PAUSED:
            self._retry_later(schedule.code, now + RETRY_DELAY, decision.scheduled_at + grace)
        return run

    def _retry_later(self, region_code: str, at: datetime, window_ends: datetime) -> None:
        """A one-off firing to resume a paused send; the last one lands on the window's end."""
        if self.stop.is_set():
            return
        at = min(at, window_ends + timedelta(seconds=1))  # past the end, the rule records it
        self.scheduler.add_job(
            fire_region,
            DateTrigger(run_date=at),
            args=[region_code],
            id=retry_job_id(region_code),
            name=f"{region_code} resume of a paused send",
            replace_existing=True,
        )
        log.error("edition %s paused; trying again at %s UTC", region_code, f"{at:%H:%M:%S}")

    def fire_region(self, region_code: str) -> None:
        """The job body: re-read the region (its send time may have changed) and act."""
        for schedule in region_schedules(self.engine):
            if schedule.code == region_code:
                self.act(schedule, datetime.now(UTC))
                return
        log.error("scheduled region %s no longer exists; its job will be removed on restart", region_code)

    def _on_missed(self, event: JobExecutionEvent) -> None:
        """A job fired later than its grace: record the edition as missed, loudly."""
        region_code = event.job_id.partition(":")[2]
        for schedule in region_schedules(self.engine):
            if schedule.code == region_code:
                scheduled = event.scheduled_run_time.astimezone(UTC)
                local_date = local_date_at(schedule, scheduled)
                status = edition_status(self.engine, region_code, local_date)
                if status is None or not status.is_done:
                    record_missed(self.engine, region_code, local_date, scheduled)

    def install_jobs(self, schedules: list[RegionSchedule]) -> None:
        """One cron job per region at its local send time; stale jobs are removed."""
        wanted = {job_id(s.code) for s in schedules}
        for job in self.scheduler.get_jobs():
            if job.id not in wanted and not job.id.startswith("retry:"):
                job.remove()
        for schedule in schedules:
            hour, minute = schedule.send_time.split(":")
            self.scheduler.add_job(
                fire_region,
                CronTrigger(hour=int(hour), minute=int(minute), timezone=schedule.zone),
                args=[schedule.code],
                id=job_id(schedule.code),
                name=f"{schedule.code} edition at {schedule.send_time} {schedule.timezone}",
                replace_existing=True,  # a restart updates the job instead of adding another
            )

    def catch_up(self, schedules: list[RegionSchedule], clock: Callable[[], datetime]) -> list[EditionRun]:
        """At start-up, act on every region's current decision (replaced jobs lose misfires).

        The clock is read again for each region: sending one region may take a while,
        and the next one must be judged at the time it is actually handled. A region
        whose check fails is logged and reported as ERROR; the others still run.
        """
        runs = []
        for schedule in schedules:
            if self.stop.is_set():
                break
            now = clock()
            try:
                run = self.act(schedule, now)
            except Exception as exc:  # one broken region must not keep the scheduler (and the others) from starting
                log.exception("start-up check of %s failed", schedule.code)
                run = EditionRun(
                    schedule.code, local_date_at(schedule, now), RunOutcome.ERROR, detail=one_line_error(exc)
                )
            if run is not None:
                runs.append(run)
        return runs


def fire_region(region_code: str) -> None:
    """What a stored job names: the persistent store keeps an importable function and
    picklable arguments (an engine is not), so each job is this name plus the region
    code, and the daemon's executor runs it as ``SchedulerRuntime.fire_region``."""
    raise RuntimeError(f"the job for {region_code} runs only on a SchedulerRuntime's scheduler")


class _RuntimeExecutor(ThreadPoolExecutor):  # type: ignore[misc]  # APScheduler 3 ships no types
    """APScheduler's thread pool, running each stored :func:`fire_region` on the runtime."""

    def __init__(self, runtime: SchedulerRuntime) -> None:
        super().__init__()
        self._runtime = runtime

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        # Jobs are read from the store for each run, so this one was never bound before.
        if job.func is fire_region:
            job.func = self._runtime.fire_region
        super()._do_submit_job(job, run_times)


def run_scheduler(engine: sa.Engine, settings: Settings, stop: threading.Event) -> None:
    """Run until ``stop`` is set (SIGTERM/SIGINT): then finish the batch in flight and return."""
    runtime = SchedulerRuntime(engine, settings, stop)
    scheduler = runtime.scheduler
    schedules = region_schedules(engine)
    scheduler.start(paused=True)
    runtime.install_jobs(schedules)
    runtime.catch_up(schedules, lambda: datetime.now(UTC))
    scheduler.resume()
    for job in scheduler.get_jobs():
        log.info("scheduled %s; next run %s", job.name, job.next_run_time)
    stop.wait()
    log.info("stopping: finishing the batch in flight")
    scheduler.shutdown(wait=True)
    log.info("scheduler stopped cleanly")
