"""Assemble, render, approve and freeze the edition of a region for a local date.

The service the CLI, the scheduler and the dispatcher call is
:func:`prepare_edition`. A draft is re-assembled on every call, so it follows the
newsroom until it is signed off; from approval on it is *frozen*: the stored
snapshot, HTML and text are returned byte for byte, whatever happened to the
stories since.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.edition_content import (
    AdBlock,
    EditionContent,
    RegionRef,
    SignalBlock,
    SourceRef,
    StoryBlock,
)
from newsletter.errors import EditionError, EmptyEditionError, NotFoundError
from newsletter.models import (
    Ad,
    AdRegion,
    Edition,
    EditionItem,
    EditionStatus,
    Region,
    Signal,
    Source,
    Story,
    StoryRegion,
    StoryStatus,
)
from newsletter.render import RenderedEdition, render_edition
from newsletter.safe_markdown import plain_text
from newsletter.sqltypes import utcnow

# What went out (or was signed off to go out) never changes again.
FROZEN = frozenset({EditionStatus.APPROVED, EditionStatus.SENDING, EditionStatus.SENT, EditionStatus.FAILED})
# Editions whose content reached readers: the next edition's window starts at their send.
WENT_OUT = (EditionStatus.SENDING, EditionStatus.SENT, EditionStatus.FAILED)

SUBJECT_MAX = 150
PREHEADER_MAX = 140

__all__ = [
    "FROZEN",
    "RenderedEdition",
    "approve_edition",
    "assemble",
    "get_region",
    "prepare_edition",
    "region_today",
    "set_edition_text",
]


def get_region(session: Session, region_code: str) -> Region:
    """The region, or NotFoundError listing the valid codes."""
    region = session.get(Region, region_code)
    if region is None:
        codes = session.exec(select(Region.code).order_by(Region.position, Region.code)).all()
        valid = ", ".join(codes) or "none (run `newsletter seed` first)"
        raise NotFoundError(f"unknown region {region_code!r}; valid regions: {valid}")
    return region


def region_today(session: Session, region_code: str, *, now: datetime | None = None) -> date:
    """The region's calendar date at ``now`` (default: the current time)."""
    region = get_region(session, region_code)
    return (now or utcnow()).astimezone(ZoneInfo(region.timezone)).date()


def _find_edition(session: Session, region_code: str, local_date: date) -> Edition | None:
    return session.exec(
        select(Edition).where(Edition.region_code == region_code, Edition.local_date == local_date)
    ).first()


def _previous_send(session: Session, region_code: str, local_date: date) -> datetime | None:
    """When the region's latest earlier edition went out; None before its first."""
    previous = session.exec(
        select(Edition)
        .where(Edition.region_code == region_code, Edition.local_date < local_date, Edition.status.in_(WENT_OUT))
        .order_by(Edition.local_date.desc())  # type: ignore[attr-defined]
    ).first()
    if previous is None:
        return None
    return previous.send_started_at or previous.sent_at or previous.approved_at or previous.created_at


def _select_stories(
    session: Session, region_code: str, local_date: date, size: int, now: datetime
) -> list[Story]:
    """The window's stories, highest priority first, then most recent."""
    already_sent = (
        select(EditionItem.story_id)
        .join(Edition, Edition.id == EditionItem.edition_id)
        .where(Edition.region_code == region_code, Edition.status.in_(WENT_OUT), EditionItem.story_id.is_not(None))
    )
    query = (
        select(Story)
        .join(StoryRegion, StoryRegion.story_id == Story.id)
        .where(
            StoryRegion.region_code == region_code,
            Story.status == StoryStatus.PUBLISHED,
            Story.published_at <= now,  # scheduled stories wait for their time
            Story.id.not_in(already_sent),  # type: ignore[union-attr]
        )
    )
    since = _previous_send(session, region_code, local_date)
    if since is None:
        # First edition: the most recent stories, so a fresh install's first edition is full.
        recent = query.order_by(Story.published_at.desc(), Story.id.desc()).limit(size)  # type: ignore[attr-defined]
        candidates = list(session.exec(recent).all())
    else:
        candidates = list(session.exec(query.where(Story.published_at > since)).all())
    candidates.sort(key=lambda s: (-s.priority, -s.published_at.timestamp(), -(s.id or 0)))
    return candidates[:size]


def _select_ads(session: Session, region_code: str, local_date: date) -> list[Ad]:
    return list(
        session.exec(
            select(Ad)
            .join(AdRegion, AdRegion.ad_id == Ad.id)
            .where(
                AdRegion.region_code == region_code,
                Ad.starts_on <= local_date,
                sa.or_(Ad.ends_on.is_(None), Ad.ends_on >= local_date),  # type: ignore[union-attr]
            )
            .order_by(Ad.slot, Ad.slug)
        ).all()
    )


def _story_blocks(session: Session, stories: list[Story]) -> list[StoryBlock]:
    """Stories with their signals and sources, in three queries whatever the count."""
    ids = [s.id for s in stories]
    signals = session.exec(
        select(Signal).where(Signal.story_id.in_(ids)).order_by(Signal.position, Signal.id)  # type: ignore[union-attr]
    ).all()
    sources = session.exec(
        select(Source).where(Source.signal_id.in_([s.id for s in signals])).order_by(Source.position, Source.id)  # type: ignore[attr-defined]
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
            slug=s.slug, headline=s.headline, summary=s.summary, body=s.body, byline=s.byline,
            canonical_url=s.canonical_url, image_url=s.image_url, image_alt=s.image_alt,
            image_credit=s.image_credit, language=s.language, updated_at=s.updated_at,
            signals=tuple(signals_of.get(s.id or 0, [])),
        )
        for s in stories
    ]


def _ad_block(ad: Ad) -> AdBlock:
    return AdBlock(ad.slug, ad.sponsor, ad.headline, ad.body, ad.link, ad.image_url, ad.image_alt)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def derive_subject(lead: StoryBlock) -> str:
    return _clip(lead.headline, SUBJECT_MAX)


def derive_preheader(lead: StoryBlock, others: list[StoryBlock]) -> str:
    """The lead's summary, else the start of its text; inbox previews show about 100 characters."""
    text = lead.summary or plain_text(lead.body)
    if not text and others:
        text = "Also: " + "; ".join(s.headline for s in others)
    return _clip(text, PREHEADER_MAX)


def assemble(
    session: Session, settings: Settings, region: Region, local_date: date, *, now: datetime,
    subject_override: str | None = None, preheader_override: str | None = None,
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
    regions = session.exec(select(Region).order_by(Region.position, Region.code)).all()
    content = EditionContent(
        region_code=region.code, region_name=region.name, edition_name=region.edition_name,
        timezone=region.timezone, language=region.language, local_date=local_date,
        subject=subject_override or derive_subject(blocks[0]),
        preheader=preheader_override or derive_preheader(blocks[0], blocks[1:]),
        regions=tuple(RegionRef(r.code, r.short_label, r.name) for r in regions),
        items=tuple(items), base_url=settings.base_url, sender_name=settings.sender_name,
        postal_address=settings.postal_address,
    )
    return content, ordered_stories, ordered_ads


def _stored(edition: Edition) -> RenderedEdition:
    assert edition.id is not None and edition.snapshot is not None
    assert edition.html is not None and edition.text is not None
    content = EditionContent.from_snapshot(edition.snapshot)
    return RenderedEdition(
        edition_id=edition.id, region_code=edition.region_code, local_date=edition.local_date,
        subject=content.subject, preheader=content.preheader, html=edition.html, text=edition.text,
        language=content.language, campaign=f"{edition.region_code}-{edition.local_date.isoformat()}",
    )


def _store(session: Session, edition: Edition, content: EditionContent, stories: list[Story], ads: list[Ad]) -> RenderedEdition:
    """Replace the draft's items and rendering with a fresh assembly."""
    assert edition.id is not None
    session.execute(sa.delete(EditionItem).where(EditionItem.edition_id == edition.id))  # type: ignore[arg-type]
    story_ids = {s.slug: s.id for s in stories}
    ad_ids = {a.slug: a.id for a in ads}
    for position, item in enumerate(content.items):
        if isinstance(item, StoryBlock):
            session.add(EditionItem(edition_id=edition.id, position=position, story_id=story_ids[item.slug]))
        else:
            session.add(EditionItem(edition_id=edition.id, position=position, ad_id=ad_ids[item.slug]))
    rendered = render_edition(content, edition_id=edition.id)
    edition.subject = derive_subject(content.stories[0])
    edition.preheader = derive_preheader(content.stories[0], content.stories[1:])
    edition.snapshot = content.to_snapshot()
    edition.html = rendered.html
    edition.text = rendered.text
    session.flush()
    return rendered


def prepare_edition(
    session: Session, settings: Settings, region_code: str, local_date: date, *, now: datetime | None = None
) -> RenderedEdition:
    """Get or assemble the region's edition for a local date, rendered once and stored.

    A frozen edition (approved, sending, sent, failed) returns its stored rendering
    unchanged. Raises NotFoundError for an unknown region and EmptyEditionError when
    there is nothing to send. The caller owns the transaction.
    """
    now = now or utcnow()
    region = get_region(session, region_code)
    edition = _find_edition(session, region_code, local_date)
    if edition is not None and edition.status in FROZEN and edition.snapshot is not None and edition.html is not None:
        return _stored(edition)
    content, stories, ads = assemble(
        session, settings, region, local_date, now=now,
        subject_override=edition.subject_override if edition else None,
        preheader_override=edition.preheader_override if edition else None,
    )
    if edition is None:
        edition = Edition(region_code=region_code, local_date=local_date)
        session.add(edition)
        session.flush()
    return _store(session, edition, content, stories, ads)


def approve_edition(
    session: Session, settings: Settings, region_code: str, local_date: date, *, now: datetime | None = None
) -> RenderedEdition:
    """Sign the edition off: assemble it if need be, then freeze what was approved."""
    now = now or utcnow()
    rendered = prepare_edition(session, settings, region_code, local_date, now=now)
    edition = session.get(Edition, rendered.edition_id)
    assert edition is not None
    if edition.status in (EditionStatus.CANCELLED, EditionStatus.MISSED):
        raise EditionError(f"edition {region_code} {local_date.isoformat()} is {edition.status.value}; it cannot be approved")
    if edition.status is EditionStatus.DRAFT:
        edition.status = EditionStatus.APPROVED
        edition.approved_at = now
        session.flush()
    return rendered


def set_edition_text(
    session: Session, settings: Settings, region_code: str, local_date: date, *,
    subject: str | None = None, preheader: str | None = None, now: datetime | None = None,
) -> RenderedEdition:
    """Override the derived subject and/or preheader ("" returns to the derived one); drafts only."""
    now = now or utcnow()
    get_region(session, region_code)
    edition = _find_edition(session, region_code, local_date)
    if edition is not None and edition.status in FROZEN:
        raise EditionError(f"edition {region_code} {local_date.isoformat()} is {edition.status.value} and frozen")
    if edition is None:
        prepare_edition(session, settings, region_code, local_date, now=now)
        edition = _find_edition(session, region_code, local_date)
        assert edition is not None
    if subject is not None:
        edition.subject_override = " ".join(subject.split()) or None
    if preheader is not None:
        edition.preheader_override = " ".join(preheader.split()) or None
    session.flush()
    return prepare_edition(session, settings, region_code, local_date, now=now)
