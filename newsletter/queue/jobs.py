"""What a queued send carries and what its task does: the send service, and when to try again.

No queue library here: a task is a :class:`SendJob` as plain JSON values, and its body
is :func:`run_job`, which calls :func:`newsletter.send.service.send_edition` (the same
function an in-process send calls) and says whether the queue should run it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.send.pacing import PAUSED_RETRY_DELAY
from newsletter.send.service import SendOutcome, send_edition

log = logging.getLogger(__name__)

# A task whose database went away (restart, failover, a dropped connection) is tried
# again this soon, this many times: its claims are committed, so nothing is lost meanwhile.
DATABASE_RETRY_SECONDS = 10.0
DATABASE_RETRIES = 30

ERROR = "error"  # JobResult.outcome of a send refused before it began (not approved, missed, empty…)


@dataclass(frozen=True)
class SendJob:
    """One region's edition to send. ``retry_until`` (the grace window's end) lets a paused send be retried."""

    region_code: str
    local_date: date
    send_missed: bool = False
    allow_large_html: bool = False
    retry_until: datetime | None = None

    def to_message(self) -> dict[str, Any]:
        return {
            "region_code": self.region_code,
            "local_date": self.local_date.isoformat(),
            "send_missed": self.send_missed,
            "allow_large_html": self.allow_large_html,
            "retry_until": self.retry_until.isoformat() if self.retry_until else None,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> SendJob:
        until = message.get("retry_until")
        return cls(
            region_code=str(message["region_code"]),
            local_date=date.fromisoformat(message["local_date"]),
            send_missed=bool(message.get("send_missed", False)),
            allow_large_html=bool(message.get("allow_large_html", False)),
            retry_until=datetime.fromisoformat(until) if until else None,
        )


@dataclass(frozen=True)
class JobResult:
    """What one run of a task did: the send's outcome (or ERROR), its report, and when to run again."""

    outcome: str
    edition_status: str = ""
    lines: list[str] = field(default_factory=list)
    retry_in: float | None = None  # seconds; None: the task is finished

    def to_message(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "edition_status": self.edition_status, "lines": self.lines}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> JobResult:
        return cls(str(message["outcome"]), str(message.get("edition_status", "")), list(message.get("lines", [])))


def run_job(
    engine: sa.Engine,
    settings: Settings,
    job: SendJob,
    *,
    should_stop: Callable[[], bool],
    retries: int = 0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> JobResult:
    """The task body: send (or resume) the edition, then decide whether the queue runs this task again.

    * a send **stopped** because the worker is shutting down goes back on the queue at
      once, for another worker (the ledger resumes it where it stopped);
    * a **paused** send is tried again every PAUSED_RETRY_DELAY while the grace window
      (``retry_until``) lasts, the last try pinned to its end, as the scheduler does;
    * a **database error** is tried again shortly, a bounded number of times;
    * a send **refused** before it began (not approved, missed, empty, too large) is
      reported in the result, not retried: running it again would say the same.
    """
    try:
        report = send_edition(
            engine,
            settings,
            job.region_code,
            job.local_date,
            should_stop=should_stop,
            send_missed=job.send_missed,
            allow_large_html=job.allow_large_html,
        )
    except NewsletterError as exc:
        log.error("queued send of %s %s refused: %s", job.region_code, job.local_date, exc)
        return JobResult(ERROR, lines=[f"error: {exc}"])
    except sa.exc.OperationalError as exc:
        if retries >= DATABASE_RETRIES:
            raise
        log.error("queued send of %s %s lost its database (%s); retrying", job.region_code, job.local_date, exc.orig)
        return JobResult(ERROR, lines=[f"database error: {exc.orig}"], retry_in=DATABASE_RETRY_SECONDS)
    result = JobResult(report.outcome.value, report.edition_status.value, report.lines())
    if report.outcome is SendOutcome.STOPPED:
        return JobResult(result.outcome, result.edition_status, result.lines, retry_in=0.0)
    if report.outcome is SendOutcome.PAUSED and job.retry_until is not None:
        left = (job.retry_until - now()).total_seconds()
        if left > 0:
            delay = min(PAUSED_RETRY_DELAY.total_seconds(), left)
            log.error("edition %s %s paused; the queue tries again in %.0f s", job.region_code, job.local_date, delay)
            return JobResult(result.outcome, result.edition_status, result.lines, retry_in=delay)
        log.error(
            "EDITION PARTLY SENT %s %s: paused past its grace window; `newsletter resume` finishes it",
            job.region_code,
            job.local_date,
        )
    return result
