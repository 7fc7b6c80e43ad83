"""Load validated content into the database: one transaction, idempotent upserts.

A second load of the same files changes nothing: rows are compared first and only
written when they differ. Subscribers are only created, never overwritten, because
their state after creation belongs to them (preferences, unsubscribes, bounces).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.content.files import AdIn, ContentSet, RegionIn, StoryIn, read_content_dir
from newsletter.db.models import (
    Ad,
    AdRegion,
    Region,
    Signal,
    Source,
    Story,
    StoryRegion,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from newsletter.db.types import utcnow

# The sample content ships inside the package (package data), so ``newsletter seed`` and
# the demo's first ``newsletter daily`` work from any directory, not only a checkout.
SAMPLES = Path(__file__).resolve().parent / "samples"


@dataclass
class LoadReport:
    """What a load did, per kind of record: created, updated, unchanged."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, kind: str, outcome: str) -> None:
        self.counts.setdefault(kind, Counter())[outcome] += 1

    @property
    def changed(self) -> int:
        return sum(c["created"] + c["updated"] for c in self.counts.values())

    def lines(self) -> list[str]:
        return [
            f"{kind}: {c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged"
            for kind, c in self.counts.items()
        ]


def load_content_dir(session: Session, root: Path) -> LoadReport:
    """Validate every file under ``root`` first, then upsert all of it in ``session``.

    The caller owns the transaction: nothing is committed here, so a failure
    anywhere leaves the database as it was.
    """
    known = set(session.exec(select(Region.code)).all())
    content = read_content_dir(root, known_regions=known)
    return load_content(session, content)


def load_content(session: Session, content: ContentSet) -> LoadReport:
    report = LoadReport()
    for position, region in enumerate(content.regions):
        report.add("regions", _upsert_region(session, region, position))
    session.flush()
    for story in content.stories:
        report.add("stories", upsert_story(session, story))
    for ad in content.ads:
        report.add("ads", upsert_ad(session, ad))
    for subscriber in content.subscribers:
        report.add("subscribers", _create_subscriber(session, subscriber.email, subscriber.regions, subscriber.status))
    session.flush()
    return report


def _assign(row: Any, values: dict[str, Any]) -> bool:
    """Set attributes that differ; True when anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _upsert_region(session: Session, region: RegionIn, position: int) -> str:
    values = {**region.model_dump(), "position": position}
    row = session.get(Region, region.code)
    if row is None:
        session.add(Region(**values))
        return "created"
    return "updated" if _assign(row, values) else "unchanged"


def _story_values(story: StoryIn) -> dict[str, Any]:
    return {
        "headline": story.headline,
        "summary": story.summary,
        "body": story.body,
        "byline": story.byline,
        "canonical_url": story.canonical_url,
        "image_url": story.image.url if story.image else None,
        "image_alt": story.image.alt if story.image else "",
        "image_credit": story.image.credit if story.image else "",
        "language": story.language,
        "status": story.status,
        "priority": story.priority,
        "published_at": story.published_at,
        "updated_at": story.updated_at or story.published_at,
    }


def _stored_signals(session: Session, story_id: int) -> list[dict[str, Any]]:
    signals = session.exec(select(Signal).where(Signal.story_id == story_id).order_by(col(Signal.position))).all()
    stored = []
    for signal in signals:
        sources = session.exec(select(Source).where(Source.signal_id == signal.id).order_by(col(Source.position))).all()
        stored.append(
            {
                "headline": signal.headline,
                "body": signal.body,
                "sources": [{"name": s.name, "url": s.url} for s in sources],
            }
        )
    return stored


def _link_codes(session: Session, link: type[StoryRegion] | type[AdRegion], key: str, row_id: int) -> set[str]:
    column = getattr(link, key)
    return set(session.exec(select(link.region_code).where(column == row_id)).all())


def _set_links(session: Session, link: Any, key: str, row_id: int, codes: list[str]) -> bool:
    if _link_codes(session, link, key, row_id) == set(codes):
        return False
    session.execute(sa.delete(link).where(getattr(link, key) == row_id))
    session.add_all(link(**{key: row_id, "region_code": code}) for code in dict.fromkeys(codes))
    return True


def upsert_story(session: Session, story: StoryIn) -> str:
    """Create or update one story with its regions, signals and sources: created, updated or unchanged."""
    row = session.exec(select(Story).where(Story.slug == story.slug)).first()
    outcome = "unchanged"
    if row is None:
        row = Story(slug=story.slug, **_story_values(story))
        session.add(row)
        session.flush()
        outcome = "created"
    elif _assign(row, _story_values(story)):
        outcome = "updated"
    assert row.id is not None
    if _set_links(session, StoryRegion, "story_id", row.id, story.regions) and outcome == "unchanged":
        outcome = "updated"
    wanted = [signal.model_dump(include={"headline", "body", "sources"}) for signal in story.signals]
    if _stored_signals(session, row.id) != wanted:
        session.execute(sa.delete(Signal).where(col(Signal.story_id) == row.id))
        for position, signal in enumerate(story.signals):
            signal_row = Signal(story_id=row.id, position=position, headline=signal.headline, body=signal.body)
            session.add(signal_row)
            session.flush()
            assert signal_row.id is not None
            session.add_all(
                Source(signal_id=signal_row.id, position=index, name=source.name, url=source.url)
                for index, source in enumerate(signal.sources)
            )
        if outcome == "unchanged":
            outcome = "updated"
    if outcome == "updated":
        row.modified_at = utcnow()
    return outcome


def upsert_ad(session: Session, ad: AdIn) -> str:
    """Create or update one ad with its regions: created, updated or unchanged."""
    values = ad.model_dump(exclude={"slug", "regions"})
    row = session.exec(select(Ad).where(Ad.slug == ad.slug)).first()
    outcome = "unchanged"
    if row is None:
        row = Ad(slug=ad.slug, **values)
        session.add(row)
        session.flush()
        outcome = "created"
    elif _assign(row, values):
        outcome = "updated"
    assert row.id is not None
    if _set_links(session, AdRegion, "ad_id", row.id, ad.regions) and outcome == "unchanged":
        outcome = "updated"
    if outcome == "updated":
        row.modified_at = utcnow()
    return outcome


def _create_subscriber(session: Session, email: str, regions: list[str], status: SubscriberStatus) -> str:
    if session.exec(select(Subscriber.id).where(Subscriber.email == email)).first() is not None:
        return "unchanged"
    now = utcnow()
    row = Subscriber(
        email=email,
        status=status,
        confirmed_at=now if status is not SubscriberStatus.PENDING else None,
        unsubscribed_at=now if status is SubscriberStatus.UNSUBSCRIBED else None,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    session.add_all(Subscription(subscriber_id=row.id, region_code=code) for code in dict.fromkeys(regions))
    return "created"
