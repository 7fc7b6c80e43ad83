"""Subscribe and double opt-in.

The subscribe form answers every well-formed request the same way (a redirect to
"check your inbox"), whether the address is new, pending, active or suppressed,
and whether or not a limit stopped the mail: only the mailbox owner learns
which, from the mail itself (or its absence). Limits (``subscribe_limits``):
``NEWSLETTER_SUBSCRIBE_REQUESTS_PER_MINUTE`` posts per client address, and
``NEWSLETTER_SUBSCRIBE_MAILS_PER_DAY`` mails per mailbox; an address that
bounced or complained gets no mail from the form at all.

The confirmation link opens a page with a button instead of confirming on GET:
mail security scanners fetch every link in a message, and a subscription a
stranger asked for must not be confirmed by a robot.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from newsletter.addresses import InvalidAddress
from newsletter.db.engine import session_scope
from newsletter.db.queries import regions_in_order
from newsletter.errors import DeliveryError
from newsletter.links import preferences_url
from newsletter.subscribers import lifecycle as subscriptions
from newsletter.subscribers import limits as subscribe_limits
from newsletter.subscribers.tokens import manage_token
from newsletter.web.context import Web, WebContext
from newsletter.web.csrf import FIELD_NAME
from newsletter.web.link_subscriber import ConfirmingSubscriber
from newsletter.web.mail import send_subscription_mail
from newsletter.web.rendering import csrf_ok, error_page, page

log = logging.getLogger(__name__)
router = APIRouter()

SUBSCRIBE_SCOPE = "subscribe"
MAX_EMAIL_LENGTH = 320


def _subscribe_form(
    request: Request,
    web: Web,
    *,
    email: str = "",
    chosen: list[str] | None = None,
    error: str = "",
    error_field: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    with session_scope(web.engine) as session:
        regions = regions_in_order(session)
    context = {
        "regions": regions,
        "email": email,
        "chosen": set(chosen or []),
        "error": error,
        "error_field": error_field,
    }
    return page(request, web, "subscribe.html", context, status_code=status_code, csrf_scope=SUBSCRIBE_SCOPE)


def _expired_form(request: Request, web: Web) -> HTMLResponse:
    return error_page(
        request,
        web,
        403,
        "This form has expired",
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
    settings, now = web.settings, web.clock()
    # Every post counts against its client, well-formed or not; committed at once,
    # so the count holds whatever happens next.
    with session_scope(web.engine) as session:
        client_ok = subscribe_limits.take(
            session,
            subscribe_limits.client_limit_key(settings.secret, _client_host(request)),
            limit=settings.subscribe_requests_per_minute,
            period=subscribe_limits.MINUTE,
            now=now,
        )
    try:
        with session_scope(web.engine) as session:
            address = subscriptions.check_request(session, email, regions)
            outcome = None
            if not client_ok:
                log.warning(
                    "subscribe request not mailed: its client is over %d requests a minute",
                    settings.subscribe_requests_per_minute,
                )
            elif mail_allowed(session, web, address, now):
                outcome = subscriptions.subscribe(session, email, regions, secret=settings.secret, now=now)
                if outcome is None:
                    log.info("subscribe request not mailed: the address bounced or complained")
    except InvalidAddress:
        return _subscribe_form(
            request,
            web,
            email=email,
            chosen=regions,
            status_code=400,
            error_field="email",
            error="Please enter a complete email address, like name@example.com.",
        )
    except subscriptions.SubscriptionRequestError as exc:
        return _subscribe_form(
            request,
            web,
            email=email,
            chosen=regions,
            status_code=400,
            error_field="regions",
            error=f"Please check the regions: {exc}.",
        )
    if outcome is None:
        return sent_answer()
    # Sent after the commit: the pending row exists even if the mail fails, so
    # submitting again simply sends again (within the limits).
    return deliver(request, web, outcome)


def sent_answer() -> RedirectResponse:
    """The one answer to every accepted request, mailed or not."""
    return RedirectResponse("/subscribe/check-your-inbox", status_code=303)


def deliver(request: Request, web: WebContext, outcome: subscriptions.SubscribeOutcome) -> Response:
    """Send a subscription mail; "check your inbox", or a 503 page asking to retry."""
    backend = web.backend_factory()
    try:
        send_subscription_mail(backend, web.settings, outcome)
    except DeliveryError:
        return error_page(
            request,
            web,
            503,
            "We could not send the email",
            "Our mail service did not accept the message just now. Please try again in a few minutes.",
        )
    finally:
        backend.close()
    return sent_answer()


def mail_allowed(session: Session, web: WebContext, address: str, now: datetime) -> bool:
    """Take one of the address's daily subscription mails; False (logged) when none is left."""
    settings = web.settings
    if subscribe_limits.take(
        session,
        subscribe_limits.address_limit_key(settings.secret, address),
        limit=settings.subscribe_mails_per_day,
        period=subscribe_limits.DAY,
        now=now,
    ):
        return True
    log.warning("subscription mail not sent: its address had %d in the last day", settings.subscribe_mails_per_day)
    return False


def _client_host(request: Request) -> str:
    # Behind a proxy this is the real client only if uvicorn trusts the proxy's
    # X-Forwarded-For (FORWARDED_ALLOW_IPS; loopback by default): see README.
    return request.client.host if request.client is not None else "unknown"


@router.get("/subscribe/check-your-inbox", response_class=HTMLResponse)
def subscribe_sent(request: Request, web: Web) -> HTMLResponse:
    return page(request, web, "subscribe_sent.html")


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, web: Web, link: ConfirmingSubscriber) -> HTMLResponse:
    context = {"email": link.subscriber.email, "token": link.token}
    return page(request, web, "confirm.html", context, csrf_scope=link.token)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(
    request: Request,
    web: Web,
    link: ConfirmingSubscriber,
    csrf_token: Annotated[str, Form(alias=FIELD_NAME)] = "",
) -> HTMLResponse:
    if not csrf_ok(request, web, link.token, csrf_token):
        return _expired_form(request, web)
    # confirm() reads the link again for what it carries (its regions, when it was issued).
    subscriber = subscriptions.confirm(link.session, link.token, secret=web.settings.secret, now=web.clock())
    assert subscriber.id is not None
    link_path = preferences_url("", manage_token(web.settings.secret, subscriber.id, subscriber.token_version))
    return page(request, web, "confirmed.html", {"preferences_link": link_path})
