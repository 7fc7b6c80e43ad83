"""The subscriber a link token names, as a FastAPI dependency.

Every page reached from a link in a mail (preferences, unsubscribe, confirmation)
starts the same way: open a unit of work, read the token in the URL, find its
subscriber. :data:`ManagedSubscriber` and :data:`ConfirmingSubscriber` do that
once. The route gets the session and the subscriber and does its work in the
same transaction, committed when the route returns and before the answer is
sent (``scope="function"``), rolled back if it raises. A forged, truncated,
expired or revoked token raises :class:`~newsletter.errors.TokenError` before
the route runs; the app answers it with the one invalid-link page
(:func:`answer_bad_link`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from newsletter.db.engine import session_scope
from newsletter.db.models import Subscriber
from newsletter.errors import TokenError
from newsletter.subscribers import lifecycle as subscriptions
from newsletter.web.context import Web, WebContext
from newsletter.web.rendering import bad_link


@dataclass(frozen=True)
class LinkSubscriber:
    """The open unit of work and the subscriber the link's token names."""

    session: Session
    subscriber: Subscriber
    token: str


def _from_token(find: Callable[..., Subscriber]) -> Callable[[WebContext, str], Iterator[LinkSubscriber]]:
    """A dependency reading ``{token}`` from the path with ``find`` (a lifecycle lookup)."""

    def dependency(web: Web, token: str) -> Iterator[LinkSubscriber]:
        with session_scope(web.engine) as session:
            subscriber: Subscriber = find(session, token, secret=web.settings.secret, now=web.clock())
            yield LinkSubscriber(session, subscriber, token)

    return dependency


# The preference and unsubscribe links (``/p/{token}``, ``/u/{token}``).
ManagedSubscriber = Annotated[
    LinkSubscriber, Depends(_from_token(subscriptions.subscriber_for_manage_token), scope="function")
]
# The confirmation link (``/confirm/{token}``), read without confirming.
ConfirmingSubscriber = Annotated[
    LinkSubscriber, Depends(_from_token(subscriptions.subscriber_for_confirm_token), scope="function")
]


async def answer_bad_link(request: Request, exc: Exception) -> HTMLResponse:
    """The app's handler for a TokenError a link route raised (or its dependency did)."""
    assert isinstance(exc, TokenError)
    web: WebContext = request.app.state.web
    return bad_link(request, web, exc)
