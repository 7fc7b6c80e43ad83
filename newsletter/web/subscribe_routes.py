"""Subscribe and double opt-in.

The subscribe form answers every well-formed request the same way (a redirect to
"check your inbox"), whether the address is new, pending, active or suppressed:
only the mailbox owner learns which, from the mail itself.

The confirmation link opens a page with a button instead of confirming on GET:
mail security scanners fetch every link in a message, and a subscription a
stranger asked for must not be confirmed by a robot.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter import subscriptions
from newsletter.addresses import InvalidAddress
from newsletter.db import session_scope
from newsletter.errors import DeliveryError, TokenError
from newsletter.links import preferences_url
from newsletter.tokens import manage_token
from newsletter.web.context import Web
from newsletter.web.csrf import FIELD_NAME
from newsletter.web.mail import send_subscription_mail
from newsletter.web.rendering import bad_link, csrf_ok, error_page, page

router = APIRouter()

SUBSCRIBE_SCOPE = "subscribe"
MAX_EMAIL_LENGTH = 320


def _subscribe_form(
    request: Request, web: Web, *, email: str = "", chosen: list[str] | None = None,
    error: str = "", error_field: str = "", status_code: int = 200,
) -> HTMLResponse:
    with session_scope(web.engine) as session:
        regions = subscriptions.all_regions(session)
    context = {"regions": regions, "email": email, "chosen": set(chosen or []), "error": error, "error_field": error_field}
    return page(request, web, "subscribe.html", context, status_code=status_code, csrf_scope=SUBSCRIBE_SCOPE)


def _expired_form(request: Request, web: Web) -> HTMLResponse:
    return error_page(
        request, web, 403, "This form has expired",
        "For your security the form could not be accepted. Please reload the page and try again.",
    )


@router.get("/", response_class=HTMLResponse)
def subscribe_page(request: Request, web: Web) -> HTMLResponse:
    return _subscribe_form(request, web)


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request,
    web: Web,
    email: Annotated[str, Form(max_length=MAX_EMAIL_LENGTH)] = "",
    regions: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    csrf_token: Annotated[str, Form(alias=FIELD_NAME)] = "",
) -> Response:
    if not csrf_ok(request, web, SUBSCRIBE_SCOPE, csrf_token):
        return _expired_form(request, web)
    try:
        with session_scope(web.engine) as session:
            outcome = subscriptions.subscribe(
                session, email, regions, secret=web.settings.secret, now=web.clock()
            )
    except InvalidAddress:
        return _subscribe_form(
            request, web, email=email, chosen=regions, status_code=400, error_field="email",
            error="Please enter a complete email address, like name@example.com.",
        )
    except subscriptions.SubscriptionRequestError as exc:
        return _subscribe_form(
            request, web, email=email, chosen=regions, status_code=400, error_field="regions",
            error=f"Please check the regions: {exc}.",
        )
    # Sent after the commit: the pending row exists even if the mail fails, so
    # submitting again simply sends again.
    backend = web.backend_factory()
    try:
        send_subscription_mail(backend, web.settings, outcome)
    except DeliveryError:
        return error_page(
            request, web, 503, "We could not send the email",
            "Our mail service did not accept the message just now. Please try again in a few minutes.",
        )
    finally:
        backend.close()
    return RedirectResponse("/subscribe/check-your-inbox", status_code=303)


@router.get("/subscribe/check-your-inbox", response_class=HTMLResponse)
def subscribe_sent(request: Request, web: Web) -> HTMLResponse:
    return page(request, web, "subscribe_sent.html")


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, web: Web, token: str) -> HTMLResponse:
    try:
        with session_scope(web.engine) as session:
            subscriber = subscriptions.subscriber_for_confirm_token(
                session, token, secret=web.settings.secret, now=web.clock()
            )
    except TokenError as exc:
        return bad_link(request, web, exc)
    return page(request, web, "confirm.html", {"email": subscriber.email, "token": token}, csrf_scope=token)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(
    request: Request, web: Web, token: str, csrf_token: Annotated[str, Form(alias=FIELD_NAME)] = ""
) -> HTMLResponse:
    if not csrf_ok(request, web, token, csrf_token):
        return _expired_form(request, web)
    try:
        with session_scope(web.engine) as session:
            subscriber = subscriptions.confirm(session, token, secret=web.settings.secret, now=web.clock())
            assert subscriber.id is not None
            manage = manage_token(web.settings.secret, subscriber.id, subscriber.token_version)
    except TokenError as exc:
        return bad_link(request, web, exc)
    link = preferences_url("", manage)
    return page(request, web, "confirmed.html", {"preferences_link": link})
