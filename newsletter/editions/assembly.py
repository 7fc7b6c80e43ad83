"""Choose what goes into a region's edition for a local date: stories, ads, subject, preheader.

The window: stories published for the region since its previous edition's
content was fixed (its assembly, recorded in its snapshot), less the stories an
edition already carried; before its first edition, its most recent stories, so a fresh install's
first edition is full. At most ``settings.edition_size`` stories, ordered by
editor-set priority, then recency. Reads the database, writes nothing.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.config import Settings
from newsletter.db.models import (
    UNDER_WAY_EDITION_STATUSES,
    Ad,
    AdRegion,
    Edition,
    EditionItem,
    Region,
    Signal,
    Source,
    Story,
    StoryRegion,
    StoryStatus,
)
from newsletter.db.queries import regions_in_order
from newsletter.errors import EmptyEditionError, NotFoundError
from newsletter.render.markdown import plain_text
from newsletter.render.snapshot import (
    AdBlock,
    EditionContent,
    RegionRef,
    SignalBlock,
    SourceRef,
    StoryBlock,
    assembled_at,
)

# Inboxes show about 60 characters of a subject on a phone; the rest is cut by the client.
SUBJECT_MAX = 60
PREHEADER_MAX = 140


def get_region(session: Session, region_code: str) -> Region:
    """The region, or NotFoundError listing the valid codes."""
    region = session.get(Region, region_code)
    if region is None:
        codes = [r.code for r in regions_in_order(session)]
        valid = ", ".join(codes) or "none (run `newsletter seed` first)"
        raise NotFoundError(f"unknown region {region_code!r}; valid regions: {valid}")
    return region


def _previous_send(session: Session, region_code: str, local_date: date) -> datetime | None:
    """Where the next window starts: when the region's latest earlier edition that went out had its content fixed.

    That is the instant its stories were chosen (recorded in its snapshot), not
    when its send began: a story published in between was not in it and belongs
    to the next edition. Stories it did carry are kept out by the "already sent"
    exclusion. For snapshots from before that instant was recorded: approval
    (which re-assembles), else the send's start (a draft is re-assembled when its
    send opens). None before the region's first edition.
    """
    previous = session.exec(
        select(Edition)
        .where(
            Edition.region_code == region_code,
            Edition.local_date < local_date,
            col(Edition.status).in_(UNDER_WAY_EDITION_STATUSES),
        )
        .order_by(col(Edition.local_date).desc())
    ).first()
    if previous is None:
        return None
    fixed = assembled_at(previous.snapshot) if previous.snapshot else None
    return fixed or previous.approved_at or previous.send_started_at or previous.sent_at or previous.created_at


def _select_stories(session: Session, region_code: str, local_date: date, size: int, now: datetime) -> list[Story]:
    """The window's stories, highest priority first, then most recent."""
    already_sent = (
        select(EditionItem.story_id)
        .join(Edition, col(Edition.id) == col(EditionItem.edition_id))
        .where(
            Edition.region_code == region_code,
            Edition.local_date != local_date,  # this edition's own stories are not "already sent" to itself
            col(Edition.status).in_(UNDER_WAY_EDITION_STATUSES),
            col(EditionItem.story_id).is_not(None),
        )
    )
    query = (
        select(Story)
        .join(StoryRegion, col(StoryRegion.story_id) == col(Story.id))
        .where(
            StoryRegion.region_code == region_code,
            Story.status == StoryStatus.PUBLISHED,
            col(Story.published_at) <= now,  # scheduled stories wait for their time
            col(Story.id).not_in(already_sent),
        )
    )
    since = _previous_send(session, region_code, local_date)
    if since is None:
        # First edition: the most recent stories, so a fresh install's first edition is full.
        recent = query.order_by(col(Story.published_at).desc(), col(Story.id).desc()).limit(size)
        candidates = list(session.exec(recent).all())
    else:
        candidates = list(session.exec(query.where(col(Story.published_at) > since)).all())
    candidates.sort(key=lambda s: (-s.priority, -s.published_at.timestamp(), -(s.id or 0)))
    return candidates[:size]


def _select_ads(session: Session, region_code: str, local_date: date) -> list[Ad]:
    return list(
        session.exec(
            select(Ad)
            .join(AdRegion, col(AdRegion.ad_id) == col(Ad.id))
            .where(
                AdRegion.region_code == region_code,
                Ad.status == StoryStatus.PUBLISHED,  # a draft or retracted ad is never placed
                col(Ad.starts_on) <= local_date,
                sa.or_(col(Ad.ends_on).is_(None), col(Ad.ends_on) >= local_date),
            )
            .order_by(col(Ad.slot), col(Ad.slug))
        ).all()
    )


def _story_blocks(session: Session, stories: list[Story]) -> list[StoryBlock]:
    """Stories with their signals and sources, in three queries whatever the count."""
    ids = [s.id for s in stories]
    signals = session.exec(
        select(Signal).where(col(Signal.story_id).in_(ids)).order_by(col(Signal.position), col(Signal.id))
    ).all()
    sources = session.exec(
        select(Source)
        .where(col(Source.signal_id).in_([s.id for s in signals]))
        .order_by(col(Source.position), col(Source.id))
    ).all()
    sources_of: dict[int, list[SourceRef]] = {}
    for source in sources:
        sources_of.setdefault(source.signal_id, []).append(SourceRef(source.name, source.url))
    signals_of: dict[int, list[SignalBlock]] = {}
    for signal in signals:
        block = SignalBlock(signal.headline, signal.body, tuple(sources_of.get(signal.id or 0, [])))
        signals_of.setdefault(signal.story_id or 0, []).append(block)
    return [
        StoryBlock(
            slug=s.slug,
            headline=s.headline,
            summary=s.summary,
            body=s.body,
            byline=s.byline,
            canonical_url=s.canonical_url,
            image_url=s.image_url,
            image_alt=s.image_alt,
            image_credit=s.image_credit,
            language=s.language,
            updated_at=s.updated_at,
            signals=tuple(signals_of.get(s.id or 0, [])),
        )
        for s in stories
    ]


def _ad_block(ad: Ad) -> AdBlock:
    return AdBlock(ad.slug, ad.sponsor, ad.headline, ad.body, ad.link, ad.image_url, ad.image_alt, ad.cta or "")


def _clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary and ending in an ellipsis when cut.

    Text without spaces (Chinese, a long URL) is cut at the limit instead.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if text[limit - 1] != " " and " " in head:
        head = head.rsplit(" ", 1)[0]  # drop the word the limit falls in
    return head.rstrip(" ,;:.-–—") + "…"


def derive_subject(lead: StoryBlock) -> str:
    return _clip(lead.headline, SUBJECT_MAX)


def derive_preheader(lead: StoryBlock, others: list[StoryBlock]) -> str:
    """The lead's summary, else the start of its text; inbox previews show about 100 characters."""
    text = lead.summary or plain_text(lead.body)
    if not text and others:
        text = "Also: " + "; ".join(s.headline for s in others)
    return _clip(text, PREHEADER_MAX)


def assemble(
    session: Session,
    settings: Settings,
    region: Region,
    local_date: date,
    *,
    now: datetime,
    subject_override: str | None = None,
    preheader_override: str | None = None,
) -> tuple[EditionContent, list[Story], list[Ad]]:
    """Choose and order the edition's stories and ads; EmptyEditionError when there are no stories.

    Ads go after ``slot`` stories; a slot beyond the last story is placed after the
    last one rather than dropped, since it was sold for this edition.
    """
    stories = _select_stories(session, region.code, local_date, settings.edition_size, now)
    if not stories:
        raise EmptyEditionError(
            f"no published stories for {region.code} on {local_date.isoformat()} "
            f"since the previous edition; nothing will be sent"
        )
    ads = _select_ads(session, region.code, local_date)
    blocks = _story_blocks(session, stories)
    items: list[StoryBlock | AdBlock] = []
    ordered_ads: list[Ad] = []
    ordered_stories: list[Story] = []
    for count, (story, block) in enumerate(zip(stories, blocks, strict=True), start=1):
        items.append(block)
        ordered_stories.append(story)
        for ad in ads:
            if min(ad.slot, len(stories)) == count:
                items.append(_ad_block(ad))
                ordered_ads.append(ad)
    regions = regions_in_order(session)
    content = EditionContent(
        region_code=region.code,
        region_name=region.name,
        edition_name=region.edition_name,
        timezone=region.timezone,
        language=region.language,
        local_date=local_date,
        subject=subject_override or derive_subject(blocks[0]),
        preheader=preheader_override or derive_preheader(blocks[0], blocks[1:]),
        regions=tuple(RegionRef(r.code, r.short_label, r.name) for r in regions),
        items=tuple(items),
        base_url=settings.base_url,
        sender_name=settings.sender_name,
        postal_address=settings.postal_address,
        from_name=from_name(settings, region),
    )
    return content, ordered_stories, ordered_ads


def from_name(settings: Settings, region: Region) -> str:
    """The edition's From display name, so a reader of several regions can tell them apart."""
    return region.sender_name or f"{settings.sender_name} {region.name}"
