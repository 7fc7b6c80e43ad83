"""One story or ad as a JSON record: read, put, patch and retract it, with its ETag and audit trail.

The record is the content files' shape (:class:`~newsletter.content.files.StoryIn`,
:class:`~newsletter.content.files.AdIn`) plus read-only fields, so what is read can be
written back unchanged, and every write is checked by the same rules as ``newsletter
seed`` (:func:`~newsletter.content.files.check_story`). The ETag is a hash of the
editable fields: the same body twice changes nothing and keeps the ETag. Every record
carries it as its read-only ``etag`` field too, so a listed one can be written back
with ``If-Match`` without being read again.

A write first takes the row's lock (a no-op UPDATE: the row lock on PostgreSQL, the
write lock on SQLite), then compares ``If-Match`` (and a PUT's ``If-None-Match``) with
the stored version, so two desks writing at once are ordered and the second one is
refused, never silently overwritten.
The caller owns the transaction.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.content.files import check_ad, check_story
from newsletter.content.loading import upsert_ad, upsert_story
from newsletter.db.models import (
    Ad,
    AdRegion,
    ContentAudit,
    Region,
    Signal,
    Source,
    Story,
    StoryRegion,
    StoryStatus,
)
from newsletter.errors import ContentError, NotFoundError, StaleWriteError
from newsletter.signing import urlsafe_b64

Kind = Literal["story", "ad"]
# Set by the server; ignored in a request body, so a record read can be written back as is.
READ_ONLY_FIELDS = frozenset({"modified_at", "etag"})


@dataclass(frozen=True)
class Written:
    outcome: str  # created, updated or unchanged
    record: dict[str, Any]
    etag: str


def etag_of(record: dict[str, Any]) -> str:
    """A strong ETag over the editable fields, quoted as HTTP wants it."""
    editable = {name: value for name, value in record.items() if name not in READ_ONLY_FIELDS}
    digest = hashlib.sha256(json.dumps(editable, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return f'"{digest[:32]}"'


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _regions_of(session: Session, link: type[StoryRegion] | type[AdRegion], key: str, row_id: int) -> list[str]:
    return sorted(session.exec(select(link.region_code).where(getattr(link, key) == row_id)).all())


def story_record(session: Session, story: Story) -> dict[str, Any]:
    """The story as the API shows it (and takes it back): signals, sources and regions included."""
    assert story.id is not None
    signals = []
    for signal in session.exec(select(Signal).where(Signal.story_id == story.id).order_by(col(Signal.position))):
        sources = session.exec(select(Source).where(Source.signal_id == signal.id).order_by(col(Source.position)))
        signals.append(
            {
                "headline": signal.headline,
                "sources": [{"name": source.name, "url": source.url} for source in sources],
                "body": signal.body,
            }
        )
    image = {"url": story.image_url, "alt": story.image_alt, "credit": story.image_credit} if story.image_url else None
    return {
        "slug": story.slug,
        "headline": story.headline,
        "summary": story.summary,
        "regions": _regions_of(session, StoryRegion, "story_id", story.id),
        "byline": story.byline,
        "canonical_url": story.canonical_url,
        "published_at": _iso(story.published_at),
        "updated_at": _iso(story.updated_at),
        "status": story.status.value,
        "priority": story.priority,
        "language": story.language,
        "image": image,
        "signals": signals,
        "body": story.body,
        "modified_at": _iso(story.modified_at),
    }


def ad_record(session: Session, ad: Ad) -> dict[str, Any]:
    """The ad as the API shows it (and takes it back)."""
    assert ad.id is not None
    return {
        "slug": ad.slug,
        "sponsor": ad.sponsor,
        "headline": ad.headline,
        "body": ad.body,
        "link": ad.link,
        "image_url": ad.image_url,
        "image_alt": ad.image_alt,
        "regions": _regions_of(session, AdRegion, "ad_id", ad.id),
        "starts_on": ad.starts_on.isoformat(),
        "ends_on": ad.ends_on.isoformat() if ad.ends_on else None,
        "slot": ad.slot,
        "cta": ad.cta,
        "status": ad.status.value,
        "modified_at": _iso(ad.modified_at),
    }


def _table(kind: Kind) -> type[Story] | type[Ad]:
    return Story if kind == "story" else Ad


def _find(session: Session, kind: Kind, slug: str) -> Story | Ad | None:
    # populate_existing: a row this session loaded before the lock is read again.
    if kind == "story":
        return session.exec(select(Story).where(Story.slug == slug).execution_options(populate_existing=True)).first()
    return session.exec(select(Ad).where(Ad.slug == slug).execution_options(populate_existing=True)).first()


def _record(session: Session, kind: Kind, row: Story | Ad) -> dict[str, Any]:
    """The record with its ``etag``, the same wherever it is shown (one, a list, a write's answer)."""
    record = story_record(session, row) if isinstance(row, Story) else ad_record(session, row)
    record["etag"] = etag_of(record)
    return record


def read_record(session: Session, kind: Kind, slug: str) -> tuple[dict[str, Any], str]:
    """The record and its ETag; NotFoundError when there is none."""
    row = _find(session, kind, slug)
    if row is None:
        raise NotFoundError(f"no {kind} with the slug {slug!r}")
    record = _record(session, kind, row)
    return record, record["etag"]


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(row_id: int) -> str:
    return urlsafe_b64(f"id:{row_id}".encode())


def decode_cursor(cursor: str) -> int:
    """The id a cursor continues after; ContentError when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith("id:") and text[3:].isdigit():
            return int(text[3:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise ContentError("query", "cursor", cursor, "not a cursor from a previous page's 'next'")


def list_records(
    session: Session,
    kind: Kind,
    *,
    region: str | None = None,
    status: StoryStatus | None = None,
    updated_since: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """One keyset page in id order (stable while others write); ``next_cursor`` None on the last page."""
    table = _table(kind)
    query = select(table).order_by(col(table.id)).limit(limit + 1)
    if region is not None:
        link = StoryRegion if kind == "story" else AdRegion
        key = col(StoryRegion.story_id) if kind == "story" else col(AdRegion.ad_id)
        query = query.where(col(table.id).in_(select(key).where(link.region_code == region)))
    if status is not None:
        query = query.where(table.status == status)
    if updated_since is not None:
        query = query.where(col(table.modified_at) >= updated_since)
    if cursor is not None:
        query = query.where(col(table.id) > decode_cursor(cursor))
    rows = cast("list[Story | Ad]", list(session.exec(query).all()))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1].id if more and rows else None
    return Page([_record(session, kind, row) for row in rows], encode_cursor(last) if last is not None else None)


def _lock(session: Session, kind: Kind, slug: str) -> None:
    """Hold the record until commit, whether it exists yet or not.

    SQLite: the no-op UPDATE takes the database's write lock. PostgreSQL: it takes the
    row's lock, and a transaction-scoped advisory lock on (kind, slug) also orders two
    first writes of one slug, which have no row to lock yet (else both would insert).
    """
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"content-write\x00{kind}\x00{slug}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    table = _table(kind)
    session.execute(sa.update(table).where(col(table.slug) == slug).values(slug=col(table.slug)))


def _known_regions(session: Session) -> set[str]:
    return set(session.exec(select(Region.code)).all())


def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    return {
        name: [None if before is None else before.get(name), value]
        for name, value in after.items()
        if name not in READ_ONLY_FIELDS and (before is None or before.get(name) != value)
    }


def _write(
    session: Session,
    kind: Kind,
    slug: str,
    body: Callable[[dict[str, Any] | None], dict[str, Any]],
    *,
    key_name: str,
    if_match: str | None,
    if_none_match: str | None = None,
    must_exist: bool,
) -> Written:
    """Lock, check the preconditions, validate ``body(current record)``, upsert, audit."""
    _lock(session, kind, slug)
    row = _find(session, kind, slug)
    before = _record(session, kind, row) if row is not None else None
    _check_preconditions(kind, slug, before, if_match=if_match, if_none_match=if_none_match)
    if before is None and must_exist:
        raise NotFoundError(f"no {kind} with the slug {slug!r}")
    data = {name: value for name, value in body(before).items() if name not in READ_ONLY_FIELDS}
    if data.get("slug") is None:  # left out (or null): the URL names the record
        data["slug"] = slug
    if data["slug"] != slug:
        raise ContentError("request body", "slug", data["slug"], f"must be the slug in the URL ({slug!r})")
    known = _known_regions(session)
    if kind == "story":
        outcome = upsert_story(session, check_story(data, known, source="request body"))
    else:
        outcome = upsert_ad(session, check_ad(data, known, source="request body"))
    session.flush()
    written = _find(session, kind, slug)
    assert written is not None
    after = _record(session, kind, written)
    if outcome != "unchanged":
        action = "created" if before is None else "updated"
        if before is not None and after["status"] == StoryStatus.RETRACTED and before["status"] != after["status"]:
            action = "retracted"
        record_write(session, key_name=key_name, action=action, kind=kind, slug=slug, changes=_changes(before, after))
    return Written(outcome, after, after["etag"])


def _check_preconditions(
    kind: Kind, slug: str, before: dict[str, Any] | None, *, if_match: str | None, if_none_match: str | None
) -> None:
    """RFC 9110 13.2.2 on a write: If-Match first, then If-None-Match; a false one is StaleWriteError.

    If-Match on a record that does not exist is false (there is no current copy to match),
    so it is refused before "not found" or a create. If-None-Match on a write is false when
    the record exists (``*``) or is a copy it lists (compared weakly, as on a read).
    """
    if if_match is not None:
        if before is None:
            raise StaleWriteError(f"there is no {kind} {slug!r} for If-Match {if_match} to match: nothing was written")
        if not _matches(if_match, before):
            raise StaleWriteError(
                f"the {kind} {slug!r} changed since that copy was read (If-Match {if_match}): read it again"
            )
    if if_none_match is not None and before is not None and is_current(if_none_match, before["etag"]):
        raise StaleWriteError(f"the {kind} {slug!r} exists (If-None-Match {if_none_match}): nothing was written")


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",")]


def _matches(if_match: str, current: dict[str, Any]) -> bool:
    """RFC 9110 If-Match: ``*`` matches any stored record; else one of the listed ETags (weak ones never)."""
    tags = _tags(if_match)
    return "*" in tags or current["etag"] in tags


def is_current(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match on a read: the client's copy is the stored one (``*``, or a listed ETag,
    compared weakly: ``W/`` is ignored), so a 304 answers it."""
    if if_none_match is None:
        return False
    tags = [tag.removeprefix("W/") for tag in _tags(if_none_match)]
    return "*" in tags or etag in tags


def put_record(
    session: Session,
    kind: Kind,
    slug: str,
    data: Any,
    *,
    key_name: str,
    if_match: str | None = None,
    if_none_match: str | None = None,
) -> Written:
    """Create or replace the whole record; fields left out take their defaults.

    ``if_none_match="*"`` only creates: a record that exists is StaleWriteError, untouched.
    """
    if not isinstance(data, dict):
        raise ContentError("request body", "(document)", data, "expected a JSON object of fields")
    return _write(
        session,
        kind,
        slug,
        lambda _: data,
        key_name=key_name,
        if_match=if_match,
        if_none_match=if_none_match,
        must_exist=False,
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge, ``null`` removes a field, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged


def patch_record(
    session: Session, kind: Kind, slug: str, patch: Any, *, key_name: str, if_match: str | None = None
) -> Written:
    """Change some fields of a stored record (a merge patch); NotFoundError when there is none."""
    if not isinstance(patch, dict):
        raise ContentError("request body", "(document)", patch, "expected a JSON object of the fields to change")

    def merged(before: dict[str, Any] | None) -> dict[str, Any]:
        result: dict[str, Any] = merge_patch(before or {}, patch)
        return result

    return _write(session, kind, slug, merged, key_name=key_name, if_match=if_match, must_exist=True)


def retract_record(session: Session, kind: Kind, slug: str, *, key_name: str, if_match: str | None = None) -> Written:
    """Retract: kept (and listed) with status ``retracted``, never put into a new edition."""
    return patch_record(
        session, kind, slug, {"status": StoryStatus.RETRACTED.value}, key_name=key_name, if_match=if_match
    )


def record_write(
    session: Session, *, key_name: str, action: str, kind: str, slug: str, changes: dict[str, Any]
) -> None:
    """Add one line to the audit trail, in the write's own transaction."""
    session.add(ContentAudit(key_name=key_name, action=action, kind=kind, slug=slug, changes=changes))


def audit_trail(session: Session, kind: str, slug: str) -> Iterable[ContentAudit]:
    """Every recorded write of one record, oldest first."""
    return session.exec(
        select(ContentAudit).where(ContentAudit.kind == kind, ContentAudit.slug == slug).order_by(col(ContentAudit.id))
    ).all()
