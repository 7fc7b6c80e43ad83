"""The pure scheduling rules, with the clock passed in, across 2026's DST changes."""

from datetime import UTC, date, datetime, timedelta

import pytest

from newsletter.schedule.rules import RegionSchedule, Verdict, decide, next_send, send_instant

DC = RegionSchedule("dc", "America/New_York", "06:30")
BXL = RegionSchedule("bxl", "Europe/Brussels", "07:00")
LAGOS = RegionSchedule("lagos", "Africa/Lagos", "06:30")
RIYADH = RegionSchedule("riyadh", "Asia/Riyadh", "06:00")
BEIJING = RegionSchedule("beijing", "Asia/Shanghai", "07:00")
SG = RegionSchedule("sg", "Asia/Singapore", "07:00")
GRACE = timedelta(hours=2)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        # US spring forward, Sunday 8 March 2026: EST (-5) before, EDT (-4) from that day.
        (DC, utc(2026, 3, 7, 12), utc(2026, 3, 8, 10, 30)),
        (DC, utc(2026, 3, 8, 12), utc(2026, 3, 9, 10, 30)),
        (DC, utc(2026, 3, 6, 12), utc(2026, 3, 7, 11, 30)),
        # US fall back, Sunday 1 November 2026: EDT (-4) before, EST (-5) from that day.
        (DC, utc(2026, 10, 31, 12), utc(2026, 11, 1, 11, 30)),
        (DC, utc(2026, 10, 30, 12), utc(2026, 10, 31, 10, 30)),
        # EU spring forward, Sunday 29 March 2026: CET (+1) before, CEST (+2) from that day.
        (BXL, utc(2026, 3, 28, 12), utc(2026, 3, 29, 5, 0)),
        (BXL, utc(2026, 3, 27, 12), utc(2026, 3, 28, 6, 0)),
        # EU fall back, Sunday 25 October 2026: CEST (+2) before, CET (+1) from that day.
        (BXL, utc(2026, 10, 24, 12), utc(2026, 10, 25, 6, 0)),
        (BXL, utc(2026, 10, 23, 12), utc(2026, 10, 24, 5, 0)),
        # No DST: the same UTC instant all year.
        (LAGOS, utc(2026, 3, 8, 12), utc(2026, 3, 9, 5, 30)),
        (RIYADH, utc(2026, 10, 25, 12), utc(2026, 10, 26, 3, 0)),
        (BEIJING, utc(2026, 11, 1, 12), utc(2026, 11, 1, 23, 0)),
        (SG, utc(2026, 3, 29, 12), utc(2026, 3, 29, 23, 0)),
    ],
)
def test_next_send_across_dst(schedule: RegionSchedule, after: datetime, expected: datetime) -> None:
    assert next_send(schedule, after) == expected


def test_send_time_in_a_spring_forward_gap_moves_forward() -> None:
    night_owl = RegionSchedule("dc", "America/New_York", "02:30")
    assert send_instant(night_owl, date(2026, 3, 8)) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT


def test_send_time_in_a_fall_back_overlap_takes_the_first() -> None:
    night_owl = RegionSchedule("dc", "America/New_York", "01:30")
    assert send_instant(night_owl, date(2026, 11, 1)) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT


def test_next_send_is_strictly_after() -> None:
    assert next_send(DC, utc(2026, 11, 30, 11, 30)) == utc(2026, 12, 1, 11, 30)


@pytest.mark.parametrize(
    ("now", "verdict"),
    [
        (utc(2026, 11, 30, 11, 29), Verdict.NOT_YET),
        (utc(2026, 11, 30, 11, 30), Verdict.DUE),
        (utc(2026, 11, 30, 13, 30), Verdict.DUE),  # exactly at the end of the grace window
        (utc(2026, 11, 30, 13, 31), Verdict.MISSED),
    ],
)
def test_grace_window(now: datetime, verdict: Verdict) -> None:
    decision = decide(DC, now, GRACE)
    assert decision.verdict is verdict
    assert decision.local_date == date(2026, 11, 30)
    assert decision.scheduled_at == utc(2026, 11, 30, 11, 30)


def test_local_date_is_the_regions_not_utcs() -> None:
    # 23:30 UTC on 28 Nov is already 07:30 on 29 Nov in Beijing.
    decision = decide(BEIJING, utc(2026, 11, 28, 23, 30), GRACE)
    assert decision.local_date == date(2026, 11, 29)
    assert decision.verdict is Verdict.DUE
