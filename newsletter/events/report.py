"""What happened after an edition went out: its report, and the same figures per region over a period.

The counts come from :mod:`.figures`, the clicks per story and share network from
:mod:`.clicks`; this module adds the edition's facts, the 48-hour timeline and the notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from newsletter.db.engine import session_scope
from newsletter.db.models import Delivery, Edition, EditionStatus, Event, EventType, Region
from newsletter.db.queries import regions_in_order
from newsletter.db.tables import table_of
from newsletter.editions.rows import require_edition
from newsletter.events.clicks import StoryClicks, clicks_per_url, tally_clicks
from newsletter.events.figures import Figures, edition_figures, of_edition
from newsletter.events.ingest import PROVIDER
from newsletter.render.share import NETWORKS, Network
from newsletter.render.snapshot import EditionContent

__all__ = [
    "PRIVACY_PROXY_NOTE",
    "TIMELINE_HOURS",
    "EditionReport",
    "RegionPeriod",
    "Tracking",
    "edition_report",
    "known_region",
    "period_report",
]

TIMELINE_HOURS = 48
PRIVACY_PROXY_NOTE = (
    "Opens are inflated by mail privacy proxies (Apple Mail Privacy Protection and others fetch "
    "every message's images, opened or not): read unique opens as an upper bound, clicks as the firmer signal; "
    "machine opens are those SendGrid attributes to Apple's proxy."
)

_delivery = table_of(Delivery)
_event = table_of(Event)
_edition = table_of(Edition)


@dataclass(frozen=True)
class Tracking:
    """Whether the provider was asked to track opens and clicks (NEWSLETTER_TRACK_OPENS / _CLICKS)."""

    opens: bool
    clicks: bool


@dataclass(frozen=True)
class EditionReport:
    region_code: str
    edition_name: str  # the region's, e.g. "The Washington D.C. Morning Wire"
    local_date: date
    edition_id: int
    subject: str
    status: EditionStatus
    send_started_at: datetime | None
    tracking: Tracking
    figures: Figures
    stories: list[StoryClicks]
    share_networks: dict[Network, int]
    other_clicks: int  # ads, sources, footer, anything not a story or share link
    timeline_start: datetime | None  # hour 0 of the timeline: the send's start
    opens_by_hour: list[int]  # open events in each of the first 48 hours
    clicks_by_hour: list[int]

    @property
    def notes(self) -> list[str]:
        notes = [PRIVACY_PROXY_NOTE]
        if not self.tracking.opens:
            notes.append("Open tracking is off (NEWSLETTER_TRACK_OPENS): mail sent so reports no opens.")
        if not self.tracking.clicks:
            notes.append("Click tracking is off (NEWSLETTER_TRACK_CLICKS): mail sent so reports no clicks.")
        notes.append("Email share links are mailto: links, which the provider cannot track.")
        return notes

    def document(self) -> dict[str, Any]:
        """The report as plain JSON values, with stable keys (``report --json``, the HTML page)."""
        return {
            "edition": {
                "region": self.region_code,
                "name": self.edition_name,
                "date": self.local_date.isoformat(),
                "id": self.edition_id,
                "subject": self.subject,
                "status": self.status.value,
                "send_started_at": self.send_started_at.isoformat() if self.send_started_at else None,
            },
            "tracking": {"opens": self.tracking.opens, "clicks": self.tracking.clicks},
            **self.figures.document(),
            "stories": [
                {
                    "slug": story.slug,
                    "headline": story.headline,
                    "url": story.url,
                    "clicks": story.clicks,
                    "shares": {network.value: story.shares[network] for network in NETWORKS},
                }
                for story in self.stories
            ],
            "share_networks": {network.value: self.share_networks[network] for network in NETWORKS},
            "other_clicks": self.other_clicks,
            "timeline": {
                "start": self.timeline_start.isoformat() if self.timeline_start else None,
                "hours": TIMELINE_HOURS,
                "opens": self.opens_by_hour,
                "clicks": self.clicks_by_hour,
            },
            "notes": self.notes,
        }


def edition_report(engine: sa.Engine, region_code: str, local_date: date, *, tracking: Tracking) -> EditionReport:
    """The report of one edition (NotFoundError when there is none)."""
    edition = require_edition(engine, region_code, local_date)
    assert edition.id is not None
    with session_scope(engine) as session:
        region = session.get(Region, region_code)
        edition_name = region.edition_name if region is not None else region_code
    stories = EditionContent.from_snapshot(edition.snapshot).stories if edition.snapshot else []
    with engine.connect() as connection:
        figures = edition_figures(connection, edition.id)
        start = edition.send_started_at or _first_handover(connection, edition.id)
        per_url = clicks_per_url(connection, edition.id)
        opens, clicks = _timeline(connection, edition.id, start)
    tally = tally_clicks(per_url, stories)
    return EditionReport(
        region_code=region_code,
        edition_name=edition_name,
        local_date=local_date,
        edition_id=edition.id,
        subject=edition.subject,
        status=edition.status,
        send_started_at=edition.send_started_at,
        tracking=tracking,
        figures=figures,
        stories=tally.stories,
        share_networks=tally.networks,
        other_clicks=tally.other,
        timeline_start=start,
        opens_by_hour=opens,
        clicks_by_hour=clicks,
    )


def _first_handover(connection: sa.Connection, edition_id: int) -> datetime | None:
    d = _delivery.c
    first: datetime | None = connection.execute(
        sa.select(sa.func.min(d.sent_at)).where(d.edition_id == edition_id)
    ).scalar_one()
    return first


def _timeline(connection: sa.Connection, edition_id: int, start: datetime | None) -> tuple[list[int], list[int]]:
    """Open and click events per hour since ``start``, for the first 48 hours."""
    opens, clicks = [0] * TIMELINE_HOURS, [0] * TIMELINE_HOURS
    if start is None:
        return opens, clicks
    e = _event.c
    end = start + timedelta(hours=TIMELINE_HOURS)
    rows = connection.execute(
        sa.select(e.event_type, e.occurred_at)
        .where(
            of_edition(edition_id),
            e.provider == PROVIDER,
            e.event_type.in_([EventType.OPEN, EventType.CLICK]),
            e.occurred_at >= start,
            e.occurred_at < end,
        )
        .execution_options(yield_per=5000)  # a big list's opens stream through, never all in memory
    )
    for kind, occurred_at in rows:
        hour = int((occurred_at - start) // timedelta(hours=1))
        (opens if EventType(kind) is EventType.OPEN else clicks)[hour] += 1
    return opens, clicks


@dataclass(frozen=True)
class RegionPeriod:
    """One region's editions sent since an instant, their figures summed."""

    region_code: str
    region_name: str
    editions: list[date]
    figures: Figures

    def document(self) -> dict[str, Any]:
        return {
            "region": self.region_code,
            "name": self.region_name,
            "editions": [day.isoformat() for day in self.editions],
            **self.figures.document(),
        }


def period_report(
    engine: sa.Engine, *, since: date, tracking: Tracking, region_code: str | None = None
) -> list[RegionPeriod]:
    """Per region (display order; one region if named), its editions from local date ``since`` on that went out."""
    with session_scope(engine) as session:
        regions = [(r.code, r.name) for r in regions_in_order(session) if region_code in (None, r.code)]
    with engine.connect() as connection:
        sent = connection.execute(
            sa.select(_edition.c.region_code, _edition.c.local_date)
            .where(_edition.c.local_date >= since, _edition.c.send_started_at.is_not(None))
            .order_by(_edition.c.local_date)
        ).all()
    by_region: dict[str, list[date]] = {}
    for code, day in sent:
        by_region.setdefault(code, []).append(day)
    rows = []
    for code, name in regions:
        days = by_region.get(code, [])
        figures = (edition_report(engine, code, day, tracking=tracking).figures for day in days)
        rows.append(RegionPeriod(code, name, days, sum(figures, Figures())))
    return rows


def known_region(engine: sa.Engine, region_code: str) -> bool:
    with session_scope(engine) as session:
        return session.get(Region, region_code) is not None
