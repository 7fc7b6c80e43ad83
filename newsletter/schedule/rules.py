"""When each region's edition is due: pure rules with the clock passed in.

APScheduler only pulls the trigger (see :mod:`newsletter.schedule.runtime`); these
functions decide. Send times are local wall-clock times in the region's IANA zone,
so they follow daylight-saving changes in both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class RegionSchedule:
    code: str
    timezone: str
    send_time: str  # "HH:MM", local

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def local_time(self) -> time:
        hour, minute = self.send_time.split(":")
        return time(int(hour), int(minute))


class Verdict(StrEnum):
    NOT_YET = "not_yet"  # today's send time is still ahead
    DUE = "due"  # at or past send time, inside the grace window
    MISSED = "missed"  # past the grace window: record it, never send late silently


@dataclass(frozen=True)
class Decision:
    region: str
    local_date: date
    scheduled_at: datetime  # UTC
    verdict: Verdict


def local_date_at(schedule: RegionSchedule, instant: datetime) -> date:
    """The region's calendar date at an instant."""
    return instant.astimezone(schedule.zone).date()


def send_instant(schedule: RegionSchedule, local_date: date) -> datetime:
    """The UTC instant of the region's send on a local date.

    zoneinfo reads a wall time with ``fold=0``: one that falls in a spring-forward
    gap (02:30 that never happens) is read with the old offset, which lands an hour
    later on the new clock (03:30); one repeated in a fall-back overlap is its first
    occurrence. Either way the send happens once that day.
    """
    return datetime.combine(local_date, schedule.local_time, tzinfo=schedule.zone).astimezone(UTC)


def next_send(schedule: RegionSchedule, after: datetime) -> datetime:
    """The first send instant strictly after ``after`` (UTC)."""
    day = local_date_at(schedule, after)
    while True:
        instant = send_instant(schedule, day)
        if instant > after:
            return instant
        day += timedelta(days=1)


def decide(schedule: RegionSchedule, now: datetime, grace: timedelta) -> Decision:
    """Is the region's edition for its current local date due at ``now``?"""
    today = local_date_at(schedule, now)
    scheduled = send_instant(schedule, today)
    if now < scheduled:
        verdict = Verdict.NOT_YET
    elif now - scheduled <= grace:
        verdict = Verdict.DUE
    else:
        verdict = Verdict.MISSED
    return Decision(schedule.code, today, scheduled, verdict)


def due_editions(schedules: list[RegionSchedule], now: datetime, grace: timedelta) -> list[Decision]:
    """Every region's decision at ``now``, in the order given."""
    return [decide(schedule, now, grace) for schedule in schedules]
