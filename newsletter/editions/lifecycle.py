"""Assemble, render, approve and freeze the edition of a region for a local date.

The service the CLI, the scheduler and the dispatcher call is
:func:`prepare_edition`. A draft is re-assembled on every call, so it follows the
newsroom until it is signed off; from approval on it is *frozen*: the stored
snapshot, HTML and text are returned byte for byte, whatever happened to the
stories since. What goes in is decided in :mod:`newsletter.editions.assembly`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col

from newsletter.config import Settings
from newsletter.db.models import Ad, Edition, EditionItem, EditionStatus, Story
from newsletter.db.types import utcnow
from newsletter.editions.assembly import assemble, get_region
from newsletter.editions.clip_guard import check_html_size
from newsletter.editions.rows import find_edition, get_or_create_edition
from newsletter.errors import EditionError, NotFoundError
from newsletter.render.edition import RenderedEdition, part_labels, render_edition
from newsletter.render.share import campaign_name
from newsletter.render.snapshot import EditionContent, StoryBlock

__all__ = [
    "RenderedEdition",
    "approval_missing",
    "approve_edition",
    "get_region",
    "is_frozen",
    "prepare_edition",
    "region_today",
    "set_edition_text",
    "unapprove_edition",
]


def region_today(session: Session, region_code: str, *, now: datetime | None = None) -> date:
    """The region's calendar date at ``now`` (default: the current time)."""
    region = get_region(session, region_code)
    return (now or utcnow()).astimezone(ZoneInfo(region.timezone)).date()


def is_frozen(edition: Edition) -> bool:
    """Whether the edition's stored snapshot and rendering are final: signed off, or under way.

    The approval decides, not only the status: an approved edition the scheduler then
    recorded as missed (or that was cancelled) keeps what the editor signed off, so a
    preview shows it and ``send --send-missed`` sends it, never a re-assembly.
    """
    signed_off = edition.status.is_frozen or edition.approved_at is not None
    return signed_off and edition.snapshot is not None and edition.html is not None


def _stored(edition: Edition) -> RenderedEdition:
    assert edition.id is not None and edition.snapshot is not None
    assert edition.html is not None and edition.text is not None
    content = EditionContent.from_snapshot(edition.snapshot)
    return RenderedEdition(
        edition_id=edition.id,
        region_code=edition.region_code,
        local_date=edition.local_date,
        subject=content.subject,
        preheader=content.preheader,
        html=edition.html,
        text=edition.text,
        language=content.language,
        campaign=campaign_name(edition.region_code, edition.local_date),
        from_name=content.from_name,
        part_labels=part_labels(content),
    )


def _store(
    session: Session, edition: Edition, content: EditionContent, stories: list[Story], ads: list[Ad], *, now: datetime
) -> RenderedEdition:
    """Replace the draft's items and rendering with a fresh assembly."""
    assert edition.id is not None
    session.execute(sa.delete(EditionItem).where(col(EditionItem.edition_id) == edition.id))
    story_ids = {s.slug: s.id for s in stories}
    ad_ids = {a.slug: a.id for a in ads}
    for position, item in enumerate(content.items):
        if isinstance(item, StoryBlock):
            session.add(EditionItem(edition_id=edition.id, position=position, story_id=story_ids[item.slug]))
        else:
            session.add(EditionItem(edition_id=edition.id, position=position, ad_id=ad_ids[item.slug]))
    rendered = render_edition(content, edition_id=edition.id)
    # What goes out (an editor's override, else the derived text), never the derived text
    # alone: the archive and the commands list these columns as the edition's subject.
    edition.subject = rendered.subject
    edition.preheader = rendered.preheader
    # The instant the stories were chosen: the next edition's window starts here,
    # so a story published between this assembly and the send is not lost.
    edition.snapshot = {**content.to_snapshot(), "assembled_at": now.astimezone(UTC).isoformat()}
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
    there is nothing to send. The caller owns the transaction (an error rolls back
    the row created for it). Two preparers at once share one row: the second waits
    for the first's commit (:func:`~newsletter.editions.rows.get_or_create_edition`).
    """
    now = now or utcnow()
    region = get_region(session, region_code)
    # Created (or found) and held first: a second preparer waits here, then uses this row.
    edition = get_or_create_edition(session, region_code, local_date)
    if is_frozen(edition):
        return _stored(edition)
    content, stories, ads = assemble(
        session,
        settings,
        region,
        local_date,
        now=now,
        subject_override=edition.subject_override,
        preheader_override=edition.preheader_override,
    )
    return _store(session, edition, content, stories, ads, now=now)


def approve_edition(
    session: Session, settings: Settings, region_code: str, local_date: date, *, now: datetime | None = None
) -> RenderedEdition:
    """Sign the edition off: assemble it if need be, then freeze what was approved."""
    now = now or utcnow()
    rendered = prepare_edition(session, settings, region_code, local_date, now=now)
    edition = session.get(Edition, rendered.edition_id)
    assert edition is not None
    if edition.status.is_closed:
        raise EditionError(
            f"edition {region_code} {local_date.isoformat()} is {edition.status.value}; it cannot be approved"
        )
    if edition.status is EditionStatus.DRAFT:
        # Signing off an edition Gmail would clip would only hold it up at the send.
        check_html_size(rendered, settings.max_html_kb, action="approved")
        edition.status = EditionStatus.APPROVED
        edition.approved_at = now
        session.flush()
    return rendered


def approval_missing(settings: Settings, status: EditionStatus | None) -> bool:
    """The approval gate: NEWSLETTER_REQUIRE_APPROVAL is on and nobody signed the edition off.

    An edition under way needs no new approval (a FAILED send was under way when the
    provider refused us); the one check for the scheduler, ``daily`` and ``send``.
    """
    return settings.require_approval and (status is None or not status.is_frozen)


def unapprove_edition(session: Session, region_code: str, local_date: date) -> EditionStatus:
    """Take an editor's sign-off back: an APPROVED edition is a draft again.

    The next preview or send re-assembles it from the current stories. Returns the
    status it had (DRAFT: there was nothing to undo). An edition whose send has
    begun (sending, sent, failed), or that was missed or cancelled, is refused.
    """
    get_region(session, region_code)
    # One conditional UPDATE, so it cannot interleave with a send opening the edition:
    # that send holds the row (FOR UPDATE on PostgreSQL, the write lock on SQLite), and
    # this either comes first or then finds the edition SENDING and changes nothing.
    result = session.execute(
        sa.update(Edition)
        .where(
            col(Edition.region_code) == region_code,
            col(Edition.local_date) == local_date,
            col(Edition.status) == EditionStatus.APPROVED,
        )
        .values(status=EditionStatus.DRAFT, approved_at=None)
        .execution_options(synchronize_session="fetch")
    )
    if cast("sa.CursorResult[Any]", result).rowcount:
        return EditionStatus.APPROVED
    edition = find_edition(session, region_code, local_date)
    if edition is None:
        raise NotFoundError(f"no edition for {region_code} on {local_date.isoformat()}: there is nothing to un-approve")
    if edition.status is EditionStatus.DRAFT:
        return EditionStatus.DRAFT
    why = {
        EditionStatus.SENDING: "its send has begun (finish it with `newsletter resume`)",
        EditionStatus.SENT: "it went out",
        EditionStatus.FAILED: "part of it went out before the provider refused the send",
    }.get(edition.status, "it was never approved")
    raise EditionError(
        f"edition {region_code} {local_date.isoformat()} is {edition.status.value}: it cannot be un-approved, {why}"
    )


def set_edition_text(
    session: Session,
    settings: Settings,
    region_code: str,
    local_date: date,
    *,
    subject: str | None = None,
    preheader: str | None = None,
    now: datetime | None = None,
) -> RenderedEdition:
    """Override the derived subject and/or preheader ("" returns to the derived one); drafts only."""
    now = now or utcnow()
    get_region(session, region_code)
    edition = find_edition(session, region_code, local_date)
    if edition is not None and is_frozen(edition):
        raise EditionError(f"edition {region_code} {local_date.isoformat()} is {edition.status.value} and frozen")
    if edition is None:
        prepare_edition(session, settings, region_code, local_date, now=now)
        edition = find_edition(session, region_code, local_date)
        assert edition is not None
    if subject is not None:
        edition.subject_override = " ".join(subject.split()) or None
    if preheader is not None:
        edition.preheader_override = " ".join(preheader.split()) or None
    session.flush()
    return prepare_edition(session, settings, region_code, local_date, now=now)
