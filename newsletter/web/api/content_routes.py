"""``/v1/stories`` and ``/v1/ads``: list, read, put, patch, retract. Thin: the work is in content.store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel

from newsletter.content.api_keys import Scope
from newsletter.content.files import SLUG
from newsletter.content.store import (
    Kind,
    Written,
    audit_trail,
    is_current,
    list_records,
    patch_record,
    put_record,
    read_record,
    retract_record,
)
from newsletter.db.engine import session_scope
from newsletter.db.models import StoryStatus
from newsletter.web.api.auth import Caller, json_body, require
from newsletter.web.api.problems import json_response, problem_responses
from newsletter.web.api.schemas import (
    AdBody,
    AdPage,
    AdRecord,
    AuditLine,
    History,
    StoryBody,
    StoryPage,
    StoryRecord,
    partial_schema,
)
from newsletter.web.context import Web

SlugPath = Annotated[str, Path(pattern=SLUG, max_length=120, description="lower-case words joined by '-'")]
IfMatch = Annotated[
    str | None,
    Header(
        description="the ETag of the copy this write is based on (`*`: any stored copy); "
        "a stale one, or any when the record does not exist, gets 412 and nothing is written"
    ),
]
IfNoneMatch = Annotated[
    str | None, Header(description="the ETag of the copy the client holds; while it is current: 304, no body")
]
IfNoneMatchPut = Annotated[
    str | None,
    Header(
        description="`*`: create only; when the record exists (or is a copy listed here), 412 and nothing is written"
    ),
]
Reader = Annotated[Caller, Depends(require(Scope.CONTENT_READ))]
Writer = Annotated[Caller, Depends(require(Scope.CONTENT_WRITE))]
Body = Annotated[Any, Depends(json_body)]


ETAG: dict[str, Any] = {
    "ETag": {
        "description": "the record's current ETag (also its `etag` field), for If-Match and If-None-Match",
        "required": True,
        "schema": {"type": "string"},
    }
}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "If-None-Match names the current copy: not modified, no body", "headers": ETAG}
}


def _stale(description: str) -> dict[int | str, dict[str, Any]]:
    return {412: {**problem_responses(412)[412], "description": f"{description}: nothing was written"}}


STALE = _stale("If-Match names no current copy (there is none when the record does not exist)")
READ_ERRORS = problem_responses(401, 403, 422, 429)
WRITE_ERRORS = {**problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429), **STALE}
PUT_ERRORS = {
    **WRITE_ERRORS,
    **_stale(
        "If-Match names no current copy (there is none when the record does not exist), "
        "or If-None-Match names the stored one (`*`: the record exists)"
    ),
}


def _written(written: Written) -> Response:
    return json_response(written.record, status=201 if written.outcome == "created" else 200, etag=written.etag)


def _body_extra(schema_name: str, media_types: tuple[str, ...]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    return {"requestBody": {"required": True, "content": {media: {"schema": ref} for media in media_types}}}


def content_router(
    kind: Kind, plural: str, record: type[BaseModel], body: type[BaseModel], page: type[BaseModel]
) -> APIRouter:
    """The five routes of one kind of content."""
    router = APIRouter(prefix=f"/v1/{plural}", tags=[plural])
    name = body.__name__

    @router.get("", response_model=page, responses=READ_ERRORS, summary=f"List {plural}")
    def list_items(
        caller: Reader,
        web: Web,
        region: Annotated[str | None, Query(max_length=16, description="only those that run in this region")] = None,
        status: Annotated[StoryStatus | None, Query()] = None,
        updated_since: Annotated[AwareDatetime | None, Query(description="changed at or after (with a zone)")] = None,
        cursor: Annotated[str | None, Query(max_length=200, description="`next` of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
    ) -> Response:
        with session_scope(web.engine) as session:
            found = list_records(
                session, kind, region=region, status=status, updated_since=updated_since, cursor=cursor, limit=limit
            )
        return json_response({"items": found.items, "next": found.next_cursor})

    @router.get(
        "/{slug}",
        response_model=record,
        responses={200: {"headers": ETAG}, **NOT_MODIFIED, **READ_ERRORS, **problem_responses(404)},
        summary=f"Read one {kind}",
    )
    def get_item(caller: Reader, web: Web, slug: SlugPath, if_none_match: IfNoneMatch = None) -> Response:
        with session_scope(web.engine) as session:
            found, etag = read_record(session, kind, slug)
        if is_current(if_none_match, etag):
            return Response(status_code=304, headers={"ETag": etag})
        return json_response(found, etag=etag)

    @router.get(
        "/{slug}/history",
        response_model=History,
        responses={**READ_ERRORS, **problem_responses(404)},
        summary=f"Who changed a {kind}, when, and what: every write, oldest first",
    )
    def item_history(caller: Reader, web: Web, slug: SlugPath) -> Response:
        with session_scope(web.engine) as session:
            read_record(session, kind, slug)  # 404 for a slug never written
            lines = [
                AuditLine.model_validate(line, from_attributes=True).model_dump(mode="json")
                for line in audit_trail(session, kind, slug)
            ]
        return json_response({"items": lines})

    @router.put(
        "/{slug}",
        response_model=record,
        responses={
            200: {"headers": ETAG},
            201: {"model": record, "description": "created", "headers": ETAG},
            **PUT_ERRORS,
        },
        openapi_extra=_body_extra(name, ("application/json",)),
        summary=f"Create or replace a {kind}",
    )
    def put_item(
        caller: Writer,
        web: Web,
        slug: SlugPath,
        data: Body,
        if_match: IfMatch = None,
        if_none_match: IfNoneMatchPut = None,
    ) -> Response:
        with session_scope(web.engine) as session:
            written = put_record(
                session, kind, slug, data, key_name=caller.key_name, if_match=if_match, if_none_match=if_none_match
            )
        return _written(written)

    @router.patch(
        "/{slug}",
        response_model=record,
        responses={200: {"headers": ETAG}, **WRITE_ERRORS},
        openapi_extra=_body_extra(f"{name}Patch", ("application/merge-patch+json", "application/json")),
        summary=f"Change some fields of a {kind} (JSON Merge Patch)",
    )
    def patch_item(caller: Writer, web: Web, slug: SlugPath, data: Body, if_match: IfMatch = None) -> Response:
        with session_scope(web.engine) as session:
            written = patch_record(session, kind, slug, data, key_name=caller.key_name, if_match=if_match)
        return _written(written)

    @router.delete(
        "/{slug}",
        response_model=record,
        responses={200: {"headers": ETAG}, **problem_responses(401, 403, 404, 409, 422, 429), **STALE},
        summary=f"Retract a {kind}: kept, never put into a new edition",
    )
    def retract_item(caller: Writer, web: Web, slug: SlugPath, if_match: IfMatch = None) -> Response:
        with session_scope(web.engine) as session:
            written = retract_record(session, kind, slug, key_name=caller.key_name, if_match=if_match)
        return _written(written)

    return router


routers = [
    content_router("story", "stories", StoryRecord, StoryBody, StoryPage),
    content_router("ad", "ads", AdRecord, AdBody, AdPage),
]
# Request bodies described by the content rules' own models, added to the components.
BODY_SCHEMAS: list[tuple[type[BaseModel], bool]] = [
    (StoryBody, False),
    (StoryBody, True),
    (AdBody, False),
    (AdBody, True),
]


def body_components() -> dict[str, Any]:
    """The request body schemas (and the models they refer to) for ``components.schemas``."""
    components: dict[str, Any] = {}
    for model, partial in BODY_SCHEMAS:
        schema = (
            partial_schema(model) if partial else model.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        components.update(schema.pop("$defs", {}))
        components[f"{model.__name__}Patch" if partial else model.__name__] = schema
    return components
