"""The daily job for one region, and for all of them: assemble, render, gate, send.

The scheduler, the ``daily`` command and editors' manual sends all come through
here. Every step is idempotent (the edition row is unique per region and date, the
ledger per edition and subscriber), so a repeated call sends nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.content.loading import LoadReport, load_content_dir
from newsletter.db.engine import session_scope
from newsletter.db.models import EditionStatus, Region
from newsletter.db.queries import regions_in_order
from newsletter.db.tables import table_of
from newsletter.db.types import utcnow
from newsletter.delivery.base import Backend
from newsletter.editions.clip_guard import check_html_size
from newsletter.editions.lifecycle import approval_missing, prepare_edition
from newsletter.editions.rows import find_edition, get_or_create_edition
from newsletter.errors import EmptyEditionError, HtmlTooLargeError, NewsletterError
from newsletter.queue.jobs import SendJob
from newsletter.schedule.rules import RegionSchedule, local_date_at
from newsletter.send.service import SendOutcome, SendReport, send_edition

log = logging.getLogger(__name__)


class RunOutcome(StrEnum):
    SENT = "sent"  # the send ran to the end of the list (see the report)
    QUEUED = "queued"  # handed to the task queue's workers (NEWSLETTER_QUEUE_URL)
    INCOMPLETE = "incomplete"  # the send paused, stopped or failed: run again to resume
    EMPTY = "empty"  # no stories: reported, nothing sent
    HELD = "held"  # approval required and missing, or the HTML over NEWSLETTER_MAX_HTML_KB
    MISSED = "missed"  # past the grace window: recorded, nothing sent
    SKIPPED = "skipped"  # recorded earlier as missed or cancelled: left alone
    ERROR = "error"  # this region failed; the other regions still ran


# What makes the daily job fail (exit non-zero in `newsletter daily`): the region's
# edition should have gone out and did not, and running again (or `resume`) is the
# way on. EMPTY, HELD, SKIPPED and MISSED are decisions or facts already recorded on
# the edition (no stories, no approval, missed or cancelled): reported, not failures.
FAILED = (RunOutcome.ERROR, RunOutcome.INCOMPLETE)


@dataclass(frozen=True)
class EditionRun:
    region: str
    local_date: date
    outcome: RunOutcome
    report: SendReport | None = None
    detail: str = ""


def region_schedules(engine: sa.Engine) -> list[RegionSchedule]:
    with session_scope(engine) as session:
        regions = regions_in_order(session)
        return [RegionSchedule(r.code, r.timezone, r.send_time) for r in regions]


def edition_status(engine: sa.Engine, region_code: str, local_date: date) -> EditionStatus | None:
    """The stored edition's status, or None when there is no edition yet."""
    with session_scope(engine) as session:
        edition = find_edition(session, region_code, local_date)
        return edition.status if edition is not None else None


def _note(engine: sa.Engine, region_code: str, local_date: date, status: EditionStatus | None, note: str) -> None:
    """Record on the edition's row (created if need be) why it did not go out as planned.

    An edition under way keeps its status (its ledger tells the truth); only the note changes.
    """
    with session_scope(engine) as session:
        edition = get_or_create_edition(session, region_code, local_date)
        # Going or gone out: never relabelled as missed, held or empty.
        if status is not None and not edition.status.is_under_way:
            edition.status = status
        edition.note = note


def run_edition(
    engine: sa.Engine,
    settings: Settings,
    region_code: str,
    local_date: date,
    *,
    backend: Backend | None = None,
    should_stop: Callable[[], bool] | None = None,
    now: datetime | None = None,
    retry_until: datetime | None = None,
) -> EditionRun:
    """Send one region's edition for a local date; the send assembles and renders it, once.

    Only a held edition is prepared here (so an editor finds the draft to preview and
    approve); one that may go out is prepared by the send itself (``open_send``).

    With NEWSLETTER_QUEUE_URL set the send is queued for the workers instead, once the
    edition is known to have stories and fit the HTML budget (so an empty or oversized one
    is noted here as without a queue); the queue retries a paused send until
    ``retry_until``, the end of the grace window.
    """
    now = now or datetime.now(UTC)
    status = edition_status(engine, region_code, local_date)
    if status is not None and status.is_closed:  # a decision was taken about it already
        return EditionRun(region_code, local_date, RunOutcome.SKIPPED, detail=f"edition is {status.value}")
    try:
        if approval_missing(settings, status):
            with session_scope(engine) as session:
                prepare_edition(session, settings, region_code, local_date, now=now)
            detail = f"held at {now:%Y-%m-%d %H:%M} UTC: approval required (NEWSLETTER_REQUIRE_APPROVAL) and missing"
            log.warning("edition %s %s %s", region_code, local_date, detail)
            _note(engine, region_code, local_date, None, detail)
            return EditionRun(region_code, local_date, RunOutcome.HELD, detail=detail)
        if settings.queue_url.get_secret_value():
            job = SendJob(region_code, local_date, retry_until=retry_until)
            return _queue_edition(engine, settings, job, status, now=now)
        report = send_edition(
            engine, settings, region_code, local_date, backend=backend, should_stop=should_stop, now=now
        )
    except EmptyEditionError as exc:
        log.warning("edition %s %s not sent: %s", region_code, local_date, exc)
        _note(engine, region_code, local_date, None, f"empty: {exc}")
        return EditionRun(region_code, local_date, RunOutcome.EMPTY, detail=str(exc))
    except HtmlTooLargeError as exc:
        # Gmail would clip it and hide the unsubscribe link: held for an editor, never sent as is.
        log.error("edition %s %s held: %s", region_code, local_date, exc)
        _note(engine, region_code, local_date, None, f"held: {exc}")
        return EditionRun(region_code, local_date, RunOutcome.HELD, detail=str(exc))
    if report.outcome is SendOutcome.COMPLETED:
        return EditionRun(region_code, local_date, RunOutcome.SENT, report=report)
    log.error("edition %s %s send %s: %s", region_code, local_date, report.outcome.value, report.message)
    return EditionRun(region_code, local_date, RunOutcome.INCOMPLETE, report=report, detail=report.message)


def _queue_edition(
    engine: sa.Engine, settings: Settings, job: SendJob, status: EditionStatus | None, *, now: datetime
) -> EditionRun:
    from newsletter.queue.celery_app import enqueue_send  # Celery is loaded only when a queue is set

    with session_scope(engine) as session:
        rendered = prepare_edition(session, settings, job.region_code, job.local_date, now=now)  # raises when empty
    if status in (None, EditionStatus.DRAFT, EditionStatus.APPROVED):  # as open_send: only a send not begun
        check_html_size(rendered, settings.max_html_kb)
    tasks = enqueue_send(settings, job, copies=settings.queue_tasks, keep_results=False)
    log.info("edition %s %s queued as %d tasks", job.region_code, job.local_date, len(tasks))
    detail = f"queued for the workers ({len(tasks)} tasks)"
    return EditionRun(job.region_code, job.local_date, RunOutcome.QUEUED, detail=detail)


def record_missed(engine: sa.Engine, region_code: str, local_date: date, scheduled_at: datetime) -> EditionRun:
    """Past the grace window: record the edition as missed (or partly sent) and say so loudly."""
    status = edition_status(engine, region_code, local_date)
    partly_sent = status is not None and status.is_under_way
    what = "partly sent and not resumed" if partly_sent else "missed"
    detail = (
        f"{what}: scheduled for {scheduled_at:%Y-%m-%d %H:%M} UTC and past the grace window, so not sent late "
        f"(recorded {utcnow():%H:%M} UTC)"
        + ("; `newsletter resume` finishes it if an editor decides so" if partly_sent else "")
    )
    log.error("EDITION %s %s %s: %s", what.upper(), region_code, local_date, detail)
    _note(engine, region_code, local_date, EditionStatus.MISSED, detail)
    return EditionRun(region_code, local_date, RunOutcome.MISSED, detail=detail)


def run_daily(
    engine: sa.Engine, settings: Settings, *, now: datetime | None = None, backend: Backend | None = None
) -> list[EditionRun]:
    """Every region's edition for its own local date at ``now``, sent now.

    One region's failure is logged and reported; the other regions still go out.
    """
    runs = []
    for schedule in region_schedules(engine):
        instant = now or datetime.now(UTC)
        local_date = local_date_at(schedule, instant)
        try:
            runs.append(run_edition(engine, settings, schedule.code, local_date, backend=backend, now=instant))
        except NewsletterError as exc:
            log.error("edition %s %s failed: %s", schedule.code, local_date, exc)
            runs.append(EditionRun(schedule.code, local_date, RunOutcome.ERROR, detail=str(exc)))
        except Exception as exc:  # a bug or a broken row must not cost the other regions their edition
            # Not KeyboardInterrupt or SystemExit: those still stop the whole run.
            log.exception("edition %s %s failed unexpectedly", schedule.code, local_date)
            runs.append(EditionRun(schedule.code, local_date, RunOutcome.ERROR, detail=one_line_error(exc)))
    return runs


def failed_runs(runs: list[EditionRun]) -> list[EditionRun]:
    """The runs that count as a failure of the daily job (see FAILED)."""
    return [run for run in runs if run.outcome in FAILED]


def one_line_error(exc: Exception) -> str:
    """``Type: first line of the message``: database errors carry their SQL on later lines."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def seed_if_empty(engine: sa.Engine, root: Path) -> LoadReport | None:
    """Load the content folder when the database has no region yet; None when it had some.

    Two runs started together on an empty database take turns instead of both
    inserting the same regions: the check and the load are one transaction that
    first holds the region table (PostgreSQL: a table lock that conflicts with
    itself; SQLite: the database's write lock, taken by a no-op write), so the
    second run waits and then finds the first one's regions.
    """
    with session_scope(engine) as session:
        table = table_of(Region)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(sa.text("LOCK TABLE region IN SHARE ROW EXCLUSIVE MODE"))
        else:
            session.execute(sa.update(table).where(sa.false()).values(code=table.c.code))
        if session.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
            return None
        return load_content_dir(session, root)
