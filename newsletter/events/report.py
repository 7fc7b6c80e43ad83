"""What happened after an edition went out: figures from the ledger and the provider's events.

Every figure counts messages (ledger rows), not events, except where it says clicks:
a reader who opens three times is one unique open. Rates are over delivered messages.
Clicks are told apart by their URL: a story's link leads to its canonical URL, a share
link carries the shared URL tagged ``utm_content=share-<network>`` (see
:mod:`newsletter.render.share`) inside the network's own share URL.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import sqlalchemy as sa

from newsletter.db.engine import session_scope
from newsletter.db.models import Delivery, DeliveryState, Edition, EditionStatus, Event, EventType, Region
from newsletter.db.queries import regions_in_order
from newsletter.editions.rows import require_edition
from newsletter.events.ingest import PROVIDER
from newsletter.events.unsubscribes import OUR_PROVIDER, UnsubscribePath
from newsletter.render.share import NETWORKS, Network, network_of, without_utm
from newsletter.render.snapshot import EditionContent

__all__ = [
    "PRIVACY_PROXY_NOTE",
    "EditionReport",
    "Figures",
    "RegionPeriod",
    "StoryClicks",
    "Tracking",
    "classify_click",
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
_HANDED_OVER = (DeliveryState.QUEUED, DeliveryState.SENT)
_PROVIDER_UNSUBSCRIBES = (EventType.UNSUBSCRIBE, EventType.GROUP_UNSUBSCRIBE)
MACHINE_OPEN_FIELD = "sg_machine_open"  # SendGrid: true when Apple Mail Privacy Protection made the open
_URL_INSIDE = re.compile(r"https?://[^\s\"'<>]+")
# Where an unsubscribe came from: our two pages (events/unsubscribes.py), and SendGrid's own.
UNSUBSCRIBE_KINDS = (UnsubscribePath.ONE_CLICK.value, UnsubscribePath.PREFERENCE_PAGE.value, "provider")

_delivery = Delivery.__table__  # type: ignore[attr-defined]
_event = Event.__table__  # type: ignore[attr-defined]
_edition = Edition.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Tracking:
    """Whether the provider was asked to track opens and clicks (NEWSLETTER_TRACK_OPENS / _CLICKS)."""

    opens: bool
    clicks: bool


@dataclass(frozen=True)
class StoryClicks:
    slug: str
    headline: str
    url: str
    clicks: int  # on the story's own links (headline, read more)
    shares: dict[Network, int]  # on its share links, per network


@dataclass(frozen=True)
class Figures:
    """The counts every report shows, for one edition or summed over several."""

    handed_over: int = 0
    delivered: int = 0
    deferred: int = 0
    bounced_hard: int = 0
    bounced_soft: int = 0
    dropped: int = 0
    spam_reports: int = 0
    unsubscribes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(UNSUBSCRIBE_KINDS, 0))
    unique_opens: int = 0
    machine_opens: int = 0  # of those, messages with an open SendGrid flags as Apple MPP (sg_machine_open)
    unique_clicks: int = 0

    @property
    def open_rate(self) -> float | None:
        return _rate(self.unique_opens, self.delivered)

    @property
    def click_rate(self) -> float | None:
        return _rate(self.unique_clicks, self.delivered)

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.handed_over + other.handed_over,
            self.delivered + other.delivered,
            self.deferred + other.deferred,
            self.bounced_hard + other.bounced_hard,
            self.bounced_soft + other.bounced_soft,
            self.dropped + other.dropped,
            self.spam_reports + other.spam_reports,
            {kind: self.unsubscribes[kind] + other.unsubscribes[kind] for kind in UNSUBSCRIBE_KINDS},
            self.unique_opens + other.unique_opens,
            self.machine_opens + other.machine_opens,
            self.unique_clicks + other.unique_clicks,
        )

    def document(self) -> dict[str, Any]:
        return {
            "handed_over": self.handed_over,
            "delivered": self.delivered,
            "deferred": self.deferred,
            "bounced": {"hard": self.bounced_hard, "soft": self.bounced_soft},
            "dropped": self.dropped,
            "spam_reports": self.spam_reports,
            "unsubscribes": dict(self.unsubscribes),
            "unique_opens": self.unique_opens,
            "open_rate": self.open_rate,
            "machine_opens": self.machine_opens,
            "unique_clicks": self.unique_clicks,
            "click_rate": self.click_rate,
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


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
        figures = _figures(connection, edition.id)
        start = edition.send_started_at or _first_handover(connection, edition.id)
        per_url = _clicks_per_url(connection, edition.id)
        opens, clicks = _timeline(connection, edition.id, start)
    by_page = {without_utm(story.canonical_url): story for story in stories}
    story_clicks: Counter[str] = Counter()
    shares: dict[str, Counter[Network]] = {story.slug: Counter() for story in stories}
    networks: Counter[Network] = Counter()
    other = 0
    for url, count in per_url:
        page, network = classify_click(url)
        story = by_page.get(page) if page is not None else None
        if network is not None:
            networks[network] += count
            if story is not None:
                shares[story.slug][network] += count
        elif story is not None:
            story_clicks[story.slug] += count
        else:
            other += count
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
        stories=[
            StoryClicks(
                story.slug,
                story.headline,
                story.canonical_url,
                story_clicks[story.slug],
                {network: shares[story.slug][network] for network in NETWORKS},
            )
            for story in stories
        ],
        share_networks={network: networks[network] for network in NETWORKS},
        other_clicks=other,
        timeline_start=start,
        opens_by_hour=opens,
        clicks_by_hour=clicks,
    )


def classify_click(url: str) -> tuple[str | None, Network | None]:
    """(the page a clicked URL leads to, the share network if it is a share link).

    A share link is the network's URL with the shared story URL inside a query value
    (X and LinkedIn: ``url``, WhatsApp: ``text``, mail: ``body``); that inner URL's
    ``utm_content`` names the network. Anything else leads to itself, tags removed.
    """
    try:
        parts = urlsplit(url)
        values = [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    except ValueError:
        return None, None
    for value in values:
        for inner in _URL_INSIDE.findall(value):
            network = _network_of_url(inner)
            if network is not None:
                return without_utm(inner), network
    if parts.scheme not in ("http", "https"):
        return None, None
    return without_utm(url), _network_of_url(url)


def _network_of_url(url: str) -> Network | None:
    try:
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:
        return None
    content = dict(pairs).get("utm_content")
    return network_of(content) if content else None


def _of_edition(edition_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(_event.c.delivery_id == _delivery.c.id, _delivery.c.edition_id == edition_id)


def _figures(connection: sa.Connection, edition_id: int) -> Figures:
    d, e = _delivery.c, _event.c
    handed_over = connection.execute(
        sa.select(sa.func.count()).where(d.edition_id == edition_id, d.state.in_(_HANDED_OVER))
    ).scalar_one()
    # Messages per kind of event: a delivery bounced twice is one bounce.
    rows = connection.execute(
        sa.select(e.provider, e.event_type, e.raw_type, e.bounce_type, sa.func.count(sa.distinct(e.delivery_id)))
        .select_from(_event.join(_delivery, e.delivery_id == d.id))
        .where(d.edition_id == edition_id)
        .group_by(e.provider, e.event_type, e.raw_type, e.bounce_type)
    ).all()
    machine_opens = connection.execute(
        sa.select(sa.func.count(sa.distinct(e.delivery_id))).where(
            _of_edition(edition_id),
            e.provider == PROVIDER,
            e.event_type == EventType.OPEN,
            e.payload[MACHINE_OPEN_FIELD].as_boolean().is_(True),
        )
    ).scalar_one()
    counts: Counter[str] = Counter()
    unsubscribes = dict.fromkeys(UNSUBSCRIBE_KINDS, 0)
    for provider, kind, raw_type, bounce_type, messages in rows:
        kind = EventType(kind)
        if provider == OUR_PROVIDER:
            if kind is EventType.UNSUBSCRIBE and raw_type in unsubscribes:
                unsubscribes[raw_type] += messages
            continue
        if provider != PROVIDER:
            continue
        if kind is EventType.BOUNCE:
            # SendGrid's "blocked" is the soft bounce (the server refused this message, not the address).
            counts["bounce-soft" if bounce_type == "blocked" else "bounce-hard"] += messages
        elif kind in _PROVIDER_UNSUBSCRIBES:
            unsubscribes["provider"] += messages
        else:
            counts[kind.value] += messages
    return Figures(
        handed_over=handed_over,
        delivered=counts[EventType.DELIVERED.value],
        deferred=counts[EventType.DEFERRED.value],
        bounced_hard=counts["bounce-hard"],
        bounced_soft=counts["bounce-soft"],
        dropped=counts[EventType.DROPPED.value],
        spam_reports=counts[EventType.SPAM_REPORT.value],
        unsubscribes=unsubscribes,
        unique_opens=counts[EventType.OPEN.value],
        machine_opens=machine_opens,
        unique_clicks=counts[EventType.CLICK.value],
    )


def _first_handover(connection: sa.Connection, edition_id: int) -> datetime | None:
    d = _delivery.c
    first: datetime | None = connection.execute(
        sa.select(sa.func.min(d.sent_at)).where(d.edition_id == edition_id)
    ).scalar_one()
    return first


def _clicks_per_url(connection: sa.Connection, edition_id: int) -> list[tuple[str, int]]:
    e = _event.c
    rows = connection.execute(
        sa.select(e.url, sa.func.count())
        .where(_of_edition(edition_id), e.event_type == EventType.CLICK, e.provider == PROVIDER, e.url.is_not(None))
        .group_by(e.url)
    )
    return [(url, count) for url, count in rows]


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
            _of_edition(edition_id),
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
    return [
        RegionPeriod(
            code,
            name,
            by_region.get(code, []),
            _sum(edition_report(engine, code, day, tracking=tracking).figures for day in by_region.get(code, [])),
        )
        for code, name in regions
    ]


def _sum(figures: Iterable[Figures]) -> Figures:
    total = Figures()
    for item in figures:
        total = total + item
    return total


def known_region(engine: sa.Engine, region_code: str) -> bool:
    with session_scope(engine) as session:
        return session.get(Region, region_code) is not None
