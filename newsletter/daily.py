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

import sqlalchemy as sa
from sqlmodel import select

from newsletter.config import Settings
from newsletter.db import session_scope
from newsletter.delivery.base import Backend
from newsletter.dispatch import SendReport, send_edition
from newsletter.editions import prepare_edition
from newsletter.errors import EmptyEditionError
from newsletter.models import Edition, EditionStatus, Region
from newsletter.scheduling import RegionSchedule, local_date_at
from newsletter.sqltypes import utcnow

log = logging.getLogger(__name__)

# Statuses in which an editor has signed the edition off (or it already went out).
SIGNED_OFF = (EditionStatus.APPROVED, EditionStatus.SENDING, EditionStatus.SENT)


class RunOutcome(StrEnum):
    SENT = "sent"  # the send ran (see the report: complete, paused or stopped)
    EMPTY = "empty"  # no stories: reported, nothing sent
    HELD = "held"  # approval required and missing
    MISSED = "missed"  # past the grace window: recorded, nothing sent


@dataclass(frozen=True)
class EditionRun:
    region: str
    local_date: date
    outcome: RunOutcome
    report: SendReport | None = None
    detail: str = ""


def region_schedules(engine: sa.Engine) -> list[RegionSchedule]:
    with session_scope(engine) as session:
        regions = session.exec(select(Region).order_by(Region.position, Region.code)).all()
        return [RegionSchedule(r.code, r.timezone, r.send_time) for r in regions]


def edition_status(engine: sa.Engine, region_code: str, local_date: date) -> EditionStatus | None:
    """The stored edition's status, or None when there is no edition yet."""
    with session_scope(engine) as session:
        status = session.exec(
            select(Edition.status).where(Edition.region_code == region_code, Edition.local_date == local_date)
        ).first()
        return EditionStatus(status) if status is not None else None


def _note(engine: sa.Engine, region_code: str, local_date: date, status: EditionStatus | None, note: str) -> None:
    """Record why an edition did not go out on its row (created if need be)."""
    with session_scope(engine) as session:
        edition = session.exec(
            select(Edition).where(Edition.region_code == region_code, Edition.local_date == local_date)
        ).first()
        if edition is None:
            edition = Edition(region_code=region_code, local_date=local_date)
            session.add(edition)
        if edition.status in SIGNED_OFF[1:]:
            return  # never relabel an edition that is going or has gone out
        if status is not None:
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
) -> EditionRun:
    """Prepare (assemble + render once) and send one region's edition for a local date."""
    now = now or datetime.now(UTC)
    try:
        with session_scope(engine) as session:
            prepare_edition(session, settings, region_code, local_date, now=now)
    except EmptyEditionError as exc:
        log.warning("edition %s %s not sent: %s", region_code, local_date, exc)
        _note(engine, region_code, local_date, None, f"empty: {exc}")
        return EditionRun(region_code, local_date, RunOutcome.EMPTY, detail=str(exc))

    if settings.require_approval:
        with session_scope(engine) as session:
            status = session.exec(
                select(Edition.status).where(Edition.region_code == region_code, Edition.local_date == local_date)
            ).one()
        if status not in SIGNED_OFF:
            detail = f"held at {now:%Y-%m-%d %H:%M} UTC: approval required (NEWSLETTER_REQUIRE_APPROVAL) and missing"
            log.warning("edition %s %s %s", region_code, local_date, detail)
            _note(engine, region_code, local_date, None, detail)
            return EditionRun(region_code, local_date, RunOutcome.HELD, detail=detail)

    report = send_edition(
        engine, settings, region_code, local_date, backend=backend, should_stop=should_stop, now=now
    )
    return EditionRun(region_code, local_date, RunOutcome.SENT, report=report)


def record_missed(engine: sa.Engine, region_code: str, local_date: date, scheduled_at: datetime) -> EditionRun:
    """Past the grace window: record the edition as missed and say so loudly."""
    detail = f"missed: scheduled for {scheduled_at:%Y-%m-%d %H:%M} UTC, not sent late (recorded {utcnow():%H:%M} UTC)"
    log.error("EDITION MISSED %s %s: %s", region_code, local_date, detail)
    _note(engine, region_code, local_date, EditionStatus.MISSED, detail)
    return EditionRun(region_code, local_date, RunOutcome.MISSED, detail=detail)


def run_daily(
    engine: sa.Engine, settings: Settings, *, now: datetime | None = None, backend: Backend | None = None
) -> list[EditionRun]:
    """Every region's edition for its own local date at ``now``, sent now."""
    now = now or datetime.now(UTC)
    return [
        run_edition(engine, settings, s.code, local_date_at(s, now), backend=backend, now=now)
        for s in region_schedules(engine)
    ]
