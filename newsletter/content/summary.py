"""What is stored, per region: a quick health check for operators."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.db.models import (
    Ad,
    AdRegion,
    Story,
    StoryRegion,
    StoryStatus,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from newsletter.db.queries import regions_in_order


@dataclass(frozen=True)
class RegionSummary:
    code: str
    name: str
    timezone: str
    send_time: str
    published_stories: int
    ads: int
    active_subscribers: int


def region_summaries(session: Session) -> list[RegionSummary]:
    """Counts of published stories, ads and active subscribers for every region."""
    summaries = []
    for region in regions_in_order(session):
        stories = session.exec(
            select(sa.func.count())
            .select_from(StoryRegion)
            .join(Story, col(Story.id) == col(StoryRegion.story_id))
            .where(StoryRegion.region_code == region.code, Story.status == StoryStatus.PUBLISHED)
        ).one()
        ads = session.exec(
            select(sa.func.count()).select_from(Ad).join(AdRegion).where(AdRegion.region_code == region.code)
        ).one()
        subscribers = session.exec(
            select(sa.func.count())
            .select_from(Subscription)
            .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
            .where(
                Subscription.region_code == region.code,
                col(Subscription.active).is_(True),
                Subscriber.status == SubscriberStatus.ACTIVE,
            )
        ).one()
        summaries.append(
            RegionSummary(region.code, region.name, region.timezone, region.send_time, stories, ads, subscribers)
        )
    return summaries
