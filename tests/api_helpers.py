"""Helpers for the content API tests: keys, bodies, and an app with its own settings."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from newsletter.content.api_keys import Scope, create_key
from newsletter.db.engine import session_scope
from tests.web_helpers import START

WRITE = Scope.CONTENT_WRITE
READ = Scope.CONTENT_READ
APPROVE = Scope.EDITIONS_APPROVE


def bearer(engine: sa.Engine, *scopes: Scope, name: str | None = None) -> dict[str, str]:
    """The Authorization header of a new key with these scopes."""
    with session_scope(engine) as session:
        key = create_key(session, name or f"key-{uuid.uuid4().hex[:8]}", list(scopes), now=START)
    return {"Authorization": f"Bearer {key}"}


def story_body(**changes: Any) -> dict[str, Any]:
    """A valid story for dc, published an hour before the test clock's START."""
    body: dict[str, Any] = {
        "headline": "Council approves the night bus network",
        "summary": "Twelve routes from March.",
        "regions": ["dc"],
        "canonical_url": "https://news.example.com/dc/night-buses",
        "published_at": "2026-11-29T05:00:00Z",
        "priority": 5,
        "image": {"url": "https://news.example.com/img/bus.jpg", "alt": "A bus at night", "credit": "Desk"},
        "signals": [
            {
                "headline": "Why it matters",
                "sources": [{"name": "Transit Authority", "url": "https://transit.example.org/plan"}],
                "body": "Shift workers get a ride home.",
            }
        ],
        "body": "The council voted **9-2** on Tuesday.",
    }
    body.update(changes)
    return body


def ad_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sponsor": "Harbour Books",
        "headline": "Winter reading sale",
        "body": "Everything a third off.",
        "link": "https://books.example.com/winter",
        "regions": ["dc"],
        "starts_on": "2026-11-01",
        "ends_on": "2026-12-31",
        "slot": 1,
    }
    body.update(changes)
    return body
