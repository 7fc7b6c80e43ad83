"""Every API error as ``application/problem+json`` (RFC 9457), never an HTML page and never a bare 500.

Each known cause maps to one status; a content problem lists every bad field with its
value, as ``newsletter seed`` names them for files.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter.errors import ContentError, EditionError, NotFoundError, StaleWriteError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    field: str
    value: Any = None
    problem: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] = []


class ApiProblem(Exception):
    """Raised by the API's own checks (auth, scope, size, rate, media type)."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = Problem(title=title, status=status, detail=detail, errors=errors or []).model_dump(mode="json")
    # default=str: a bad value may be anything a client sent (or a date pydantic parsed).
    return Response(orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM_JSON, headers=headers or {})


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries of these error statuses: a Problem, as ``application/problem+json``.

    The schema is named here, not given as ``model``: FastAPI puts a model under the
    route's media type (``application/json``), which no error is sent as.
    """
    schema = {"$ref": "#/components/schemas/Problem"}
    return {status: {"content": {PROBLEM_JSON: {"schema": schema}}} for status in statuses}


def problem_components() -> dict[str, Any]:
    """The schemas :func:`problem_responses` refers to, for ``components.schemas``."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    return {**schema.pop("$defs"), "Problem": schema}


def json_response(record: dict[str, Any], *, status: int = 200, etag: str | None = None) -> Response:
    headers = {"ETag": etag} if etag else {}
    return Response(orjson.dumps(record), status_code=status, media_type="application/json", headers=headers)


def _content_problems(exc: ContentError) -> list[FieldProblem]:
    return [FieldProblem(field=error.field, value=error.value, problem=error.problem) for error in exc.errors]


def _validation_problems(exc: RequestValidationError) -> list[FieldProblem]:
    found = []
    for error in exc.errors():
        # ("query", "limit") -> "query.limit"; the body is read by the routes, never here.
        where = ".".join(str(part) for part in error.get("loc", ()))
        found.append(FieldProblem(field=where, value=error.get("input"), problem=error.get("msg", "invalid")))
    return found


_TITLES = {404: "Not found", 405: "Method not allowed"}


def add_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: ApiProblem) -> Response:
        return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers)

    @app.exception_handler(ContentError)
    async def content_error(request: Request, exc: ContentError) -> Response:
        problems = _content_problems(exc)
        detail = f"{len(problems)} problem(s) in the request; nothing was written"
        return problem_response(422, "Invalid content", detail, errors=problems)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        return problem_response(404, "Not found", str(exc))

    @app.exception_handler(StaleWriteError)
    async def stale(request: Request, exc: StaleWriteError) -> Response:
        return problem_response(412, "Precondition failed", str(exc))

    @app.exception_handler(EditionError)
    async def edition_error(request: Request, exc: EditionError) -> Response:
        return problem_response(409, "Edition conflict", str(exc))

    @app.exception_handler(sa.exc.IntegrityError)
    async def integrity(request: Request, exc: sa.exc.IntegrityError) -> Response:
        # Two first writes of one slug at once: the loser's insert meets the winner's row.
        return problem_response(409, "Conflict", "another request wrote the same record at the same moment; retry")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = _validation_problems(exc)
        return problem_response(422, "Invalid request", f"{len(problems)} problem(s) in the request", errors=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        title = _TITLES.get(exc.status_code, "Request refused")
        headers = dict(exc.headers or {})
        return problem_response(exc.status_code, title, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        route = request.scope.get("route")
        log.error("content API: unhandled error on %s %s", request.method, getattr(route, "path", "?"), exc_info=exc)
        return problem_response(500, "Server error", "the request could not be handled; it was logged")
