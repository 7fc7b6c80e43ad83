"""``/v1/editions`` (read, preview, approve) and ``/v1/regions`` (read). Thin: editions' services do the work."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlmodel import Session, col, select

from newsletter.content.api_keys import Scope
from newsletter.content.files import REGION_CODE
from newsletter.content.store import decode_cursor, encode_cursor, record_write
from newsletter.db.engine import session_scope
from newsletter.db.models import Edition, EditionStatus, Region
from newsletter.db.queries import regions_in_order
from newsletter.editions.assembly import get_region
from newsletter.editions.lifecycle import approve_edition, prepare_edition
from newsletter.editions.rows import find_edition
from newsletter.errors import NotFoundError
from newsletter.render.snapshot import EditionContent
from newsletter.send.ledger import state_counts
from newsletter.send.proofs import sample_copy
from newsletter.web.api.auth import Caller, require
from newsletter.web.api.content_routes import READ_ERRORS
from newsletter.web.api.problems import json_response, problem_responses
from newsletter.web.api.schemas import EditionPage, EditionRecord, RegionList, RegionRecord
from newsletter.web.context import Web

RegionPath = Annotated[str, Path(pattern=REGION_CODE, description="region code, e.g. dc")]
DatePath = Annotated[dt.date, Path(description="the edition's local date, e.g. 2026-11-29")]
Reader = Annotated[Caller, Depends(require(Scope.CONTENT_READ))]
Approver = Annotated[Caller, Depends(require(Scope.EDITIONS_APPROVE))]

editions = APIRouter(prefix="/v1/editions", tags=["editions"])
regions = APIRouter(prefix="/v1/regions", tags=["regions"])


def _edition_record(session: Session, edition: Edition) -> dict[str, Any]:
    assert edition.id is not None
    content = EditionContent.from_snapshot(edition.snapshot) if edition.snapshot else None
    counts = state_counts(session.connection(), edition_id=edition.id)
    return EditionRecord.model_validate(
        {
            "region": edition.region_code,
            "date": edition.local_date,
            "status": edition.status,
            "subject": edition.subject,
            "preheader": edition.preheader,
            "approved_at": edition.approved_at,
            "sent_at": edition.sent_at,
            "note": edition.note,
            "counts": {
                "stories": len(content.stories) if content else 0,
                "ads": len(content.ads) if content else 0,
                "deliveries": {state.value: count for state, count in counts.items()},
            },
            "stories": [{"slug": s.slug, "headline": s.headline} for s in content.stories] if content else [],
            "ads": [{"slug": a.slug, "sponsor": a.sponsor} for a in content.ads] if content else [],
        }
    ).model_dump(mode="json")


def _stored_edition(session: Session, region: str, local_date: dt.date) -> Edition:
    get_region(session, region)
    edition = find_edition(session, region, local_date)
    if edition is None:
        raise NotFoundError(f"no edition for {region} on {local_date.isoformat()} (a preview assembles one)")
    return edition


@editions.get("", response_model=EditionPage, responses=READ_ERRORS, summary="List editions, newest first")
def list_editions(
    caller: Reader,
    web: Web,
    region: Annotated[str | None, Query(max_length=16)] = None,
    status: Annotated[EditionStatus | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    with session_scope(web.engine) as session:
        query = select(Edition).order_by(col(Edition.id).desc()).limit(limit + 1)
        if region is not None:
            query = query.where(Edition.region_code == region)
        if status is not None:
            query = query.where(Edition.status == status)
        if cursor is not None:
            query = query.where(col(Edition.id) < decode_cursor(cursor))
        rows = list(session.exec(query).all())
        items = [_edition_record(session, edition) for edition in rows[:limit]]
        last = rows[limit - 1].id if len(rows) > limit else None
    return json_response({"items": items, "next": encode_cursor(last) if last is not None else None})


@editions.get(
    "/{region}/{date}",
    response_model=EditionRecord,
    responses={**READ_ERRORS, **problem_responses(404)},
    summary="One edition",
)
def get_edition(caller: Reader, web: Web, region: RegionPath, date: DatePath) -> Response:
    with session_scope(web.engine) as session:
        return json_response(_edition_record(session, _stored_edition(session, region, date)))


def _preview(web: Web, region: str, local_date: dt.date) -> tuple[str, str]:
    # A draft is assembled now (as `newsletter preview` does); a frozen edition is returned as approved.
    with session_scope(web.engine) as session:
        rendered = prepare_edition(session, web.settings, region, local_date, now=web.clock())
    return sample_copy(rendered)


_PREVIEW_ERRORS = {**READ_ERRORS, **problem_responses(404, 409)}


@editions.get(
    "/{region}/{date}/html",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}}, **_PREVIEW_ERRORS},
    summary="The edition's HTML, assembled now if it is a draft",
)
def edition_html(caller: Reader, web: Web, region: RegionPath, date: DatePath) -> Response:
    return Response(_preview(web, region, date)[0], media_type="text/html; charset=utf-8")


@editions.get(
    "/{region}/{date}/text",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **_PREVIEW_ERRORS},
    summary="The edition's text part, assembled now if it is a draft",
)
def edition_text(caller: Reader, web: Web, region: RegionPath, date: DatePath) -> Response:
    return Response(_preview(web, region, date)[1], media_type="text/plain; charset=utf-8")


@editions.post(
    "/{region}/{date}/approve",
    response_model=EditionRecord,
    responses={**READ_ERRORS, **problem_responses(404, 409)},
    summary="Sign the edition off: it is frozen as it stands",
)
def approve(caller: Approver, web: Web, region: RegionPath, date: DatePath) -> Response:
    with session_scope(web.engine) as session:
        found = find_edition(session, region, date) if session.get(Region, region) else None
        before = found.status.value if found else None
        approve_edition(session, web.settings, region, date, now=web.clock())
        edition = _stored_edition(session, region, date)
        if before != edition.status.value:
            changes = {"status": [before, edition.status.value]}
            record_write(
                session,
                key_name=caller.key_name,
                action="approved",
                kind="edition",
                slug=f"{region}/{date}",
                changes=changes,
            )
        return json_response(_edition_record(session, edition))


@regions.get("", response_model=RegionList, responses=READ_ERRORS, summary="Every region, in display order")
def list_regions(caller: Reader, web: Web) -> Response:
    with session_scope(web.engine) as session:
        items = [_region_record(region) for region in regions_in_order(session)]
    return json_response({"items": items})


@regions.get(
    "/{code}", response_model=RegionRecord, responses={**READ_ERRORS, **problem_responses(404)}, summary="One region"
)
def get_region_route(caller: Reader, web: Web, code: RegionPath) -> Response:
    with session_scope(web.engine) as session:
        return json_response(_region_record(get_region(session, code)))


def _region_record(region: Region) -> dict[str, Any]:
    return RegionRecord.model_validate(region, from_attributes=True).model_dump(mode="json")
