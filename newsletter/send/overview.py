"""What the editions are and how their sends stand: the read side of ``newsletter editions``.

Read only: nothing here assembles, renders or changes an edition. A list row comes
from SQL alone (the HTML's size is measured by the database, the stories counted
from the edition's items), so listing a year of editions never loads their HTML;
one edition's details read its frozen snapshot. Ledger counts come from
:mod:`newsletter.send.ledger`, so they agree with ``newsletter status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlmodel import Session, col

from newsletter.db.engine import session_scope
from newsletter.db.models import DeliveryState, Edition, EditionItem, EditionStatus, Region
from newsletter.editions.assembly import get_region
from newsletter.editions.clip_guard import KIB
from newsletter.editions.rows import find_edition
from newsletter.errors import NotFoundError
from newsletter.render.snapshot import EditionContent, assembled_at
from newsletter.send import ledger

__all__ = ["EditionDetail", "EditionRow", "edition_detail", "list_editions", "readers_left"]


class _utf8_bytes(GenericFunction[int]):
    """The stored text's size in bytes of UTF-8 (``length()`` counts characters on both databases)."""

    type = sa.Integer()
    inherit_cache = True


@compiles(_utf8_bytes, "postgresql")
def _utf8_bytes_postgresql(element: _utf8_bytes, compiler: Any, **kw: Any) -> str:
    return f"octet_length({compiler.process(element.clauses, **kw)})"


@compiles(_utf8_bytes, "sqlite")
def _utf8_bytes_sqlite(element: _utf8_bytes, compiler: Any, **kw: Any) -> str:
    # A text cast to BLOB keeps its UTF-8 bytes; octet_length() needs SQLite 3.43.
    return f"length(CAST({compiler.process(element.clauses, **kw)} AS BLOB))"


@dataclass(frozen=True)
class EditionRow:
    """One line of ``newsletter editions list``."""

    region: str
    local_date: date
    status: EditionStatus
    subject: str
    stories: int
    size_kb: float | None  # None: never rendered (e.g. recorded as missed before any preview)
    approved_at: datetime | None
    sent_at: datetime | None
    counts: dict[DeliveryState, int]

    @property
    def handed_over(self) -> int:
        return self.counts[DeliveryState.SENT] + self.counts[DeliveryState.QUEUED]


@dataclass(frozen=True)
class EditionDetail:
    """``newsletter editions show``: the row's figures, the texts and stories, and the send's timeline."""

    row: EditionRow
    edition_id: int
    preheader: str
    subject_overridden: bool
    preheader_overridden: bool
    story_headlines: list[str]
    ad_sponsors: list[str]
    created_at: datetime
    assembled_at: datetime | None
    send_started_at: datetime | None
    note: str


def _kb(size: int | None) -> float | None:
    return None if size is None else round(size / KIB, 1)


def list_editions(
    engine: sa.Engine,
    *,
    region: str | None = None,
    status: EditionStatus | None = None,
    since: date | None = None,
) -> list[EditionRow]:
    """Stored editions, newest date first and regions in display order; each with its ledger counts."""
    stories = (
        sa.select(sa.func.count())
        .where(col(EditionItem.edition_id) == col(Edition.id), col(EditionItem.story_id).is_not(None))
        .scalar_subquery()
    )
    query = (
        sa.select(
            col(Edition.id),
            col(Edition.region_code),
            col(Edition.local_date),
            col(Edition.status),
            col(Edition.subject),
            stories,
            _utf8_bytes(col(Edition.html)),
            col(Edition.approved_at),
            col(Edition.sent_at),
        )
        .join(Region, col(Region.code) == col(Edition.region_code))
        .order_by(col(Edition.local_date).desc(), col(Region.position), col(Region.code))
    )
    with session_scope(engine) as session:
        if region is not None:
            get_region(session, region)  # an unknown code is an error, not an empty list
            query = query.where(col(Edition.region_code) == region)
        if status is not None:
            query = query.where(col(Edition.status) == status)
        if since is not None:
            query = query.where(col(Edition.local_date) >= since)
        rows = session.execute(query).all()
        counts = ledger.state_counts_by_edition(session.connection(), [row[0] for row in rows if row[0] is not None])
    return [
        EditionRow(code, day, state, subject, n, _kb(size), approved, sent, counts[edition_id])
        for edition_id, code, day, state, subject, n, size, approved, sent in rows
    ]


def edition_detail(engine: sa.Engine, region: str, local_date: date) -> EditionDetail:
    """One stored edition in full; NotFoundError when there is none (nothing is assembled here)."""
    with session_scope(engine) as session:
        get_region(session, region)
        edition = find_edition(session, region, local_date)
        if edition is None or edition.id is None:
            raise NotFoundError(
                f"no edition for {region} on {local_date}: `newsletter preview {region} --date {local_date}` "
                "assembles one"
            )
        return _detail(session, edition, edition.id)


def _detail(session: Session, edition: Edition, edition_id: int) -> EditionDetail:
    counts = ledger.state_counts(session.connection(), edition_id=edition_id)
    content = EditionContent.from_snapshot(edition.snapshot) if edition.snapshot is not None else None
    headlines = [story.headline for story in content.stories] if content else []
    sponsors = [ad.sponsor for ad in content.ads] if content else []
    size = len(edition.html.encode("utf-8")) if edition.html is not None else None
    row = EditionRow(
        edition.region_code,
        edition.local_date,
        edition.status,
        edition.subject,
        len(headlines),
        _kb(size),
        edition.approved_at,
        edition.sent_at,
        counts,
    )
    return EditionDetail(
        row=row,
        edition_id=edition_id,
        preheader=edition.preheader,
        subject_overridden=edition.subject_override is not None,
        preheader_overridden=edition.preheader_override is not None,
        story_headlines=headlines,
        ad_sponsors=sponsors,
        created_at=edition.created_at,
        assembled_at=assembled_at(edition.snapshot) if edition.snapshot is not None else None,
        send_started_at=edition.send_started_at,
        note=edition.note,
    )


def readers_left(engine: sa.Engine, region: str, local_date: date) -> int:
    """How many readers a send of the edition would still claim now (all of them before it began)."""
    with session_scope(engine) as session:
        edition = find_edition(session, region, local_date)
        edition_id = edition.id if edition is not None and edition.id is not None else 0  # 0: no ledger rows
        return ledger.readers_left(session.connection(), edition_id=edition_id, region_code=region)
