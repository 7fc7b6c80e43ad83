"""Who is calling: the bearer key, its scopes, its rate; and the request body, size-limited.

The rate counter is the subscribe form's (:mod:`newsletter.subscribers.limits`): one row
per key and minute in the ``rate_counter`` table, shared by every web process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from newsletter.content.api_keys import Scope, find_key, granted
from newsletter.db.engine import session_scope
from newsletter.subscribers.limits import MINUTE, take
from newsletter.web.api.problems import ApiProblem
from newsletter.web.context import Web

bearer = HTTPBearer(auto_error=False, description="a key from `newsletter api-keys create`")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="newsletter"'}
JSON_TYPES = ("application/json", "application/merge-patch+json")


@dataclass(frozen=True)
class Caller:
    key_name: str
    scopes: frozenset[Scope]


def require(scope: Scope) -> Callable[..., Caller]:
    """A dependency: the caller's key, with ``scope``, within its rate; else 401, 403 or 429."""

    def dependency(
        web: Web, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None
    ) -> Caller:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiProblem(401, "Unauthorized", "send 'Authorization: Bearer KEY'", _CHALLENGE)
        with session_scope(web.engine) as session:
            key = find_key(session, credentials.credentials)
            if key is None:
                raise ApiProblem(401, "Unauthorized", "unknown or revoked API key", _CHALLENGE)
            assert key.id is not None
            caller = Caller(key.name, frozenset(granted(key)))
            now = web.clock()
            allowed = take(session, f"api:{key.id}", limit=web.settings.api_requests_per_minute, period=MINUTE, now=now)
        if not allowed:
            retry = 60 - int(now.timestamp()) % 60
            raise ApiProblem(
                429,
                "Too many requests",
                f"key {caller.key_name!r} is over NEWSLETTER_API_REQUESTS_PER_MINUTE; retry in {retry} s",
                {"Retry-After": str(retry)},
            )
        if scope not in caller.scopes:
            raise ApiProblem(403, "Forbidden", f"key {caller.key_name!r} lacks the scope {scope.value}")
        return caller

    return dependency


async def json_body(request: Request, web: Web) -> Any:
    """The request's JSON, read up to NEWSLETTER_API_MAX_BODY_KB; 413, 415 or 400 otherwise."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES:
        raise ApiProblem(415, "Unsupported media type", f"send JSON ({' or '.join(JSON_TYPES)}), not {media_type!r}")
    limit = web.settings.api_max_body_kb * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiProblem(413, "Content too large", f"the body is over {web.settings.api_max_body_kb} KB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiProblem(413, "Content too large", f"the body is over {web.settings.api_max_body_kb} KB")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiProblem(400, "Malformed JSON", f"the body is not JSON: {exc}") from None
