"""The links in every edition: the preference page and one-click unsubscribe (RFC 8058).

Both are reached with the subscriber's manage token, which is the only credential:
there is no login. Responses carry ``Cache-Control: no-store`` (set by the app's
header middleware for these paths) so a shared computer keeps no copy.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.db.models import SubscriberStatus
from newsletter.subscribers import lifecycle as subscriptions
from newsletter.subscribers.lifecycle import UnsubscribePath
from newsletter.web.context import Web, WebContext
from newsletter.web.csrf import FIELD_NAME
from newsletter.web.link_subscriber import ManagedSubscriber
from newsletter.web.rendering import csrf_ok, error_page, page
from newsletter.web.subscribe_routes import deliver, mail_allowed, sent_answer

router = APIRouter()

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"
# The unsubscribe page's button posts the one-click body too, plus this pair: the report
# tells a reader on our page from a mailbox provider's one-click request.
PAGE_FIELD, PAGE_VALUE = "from", "page"


@router.get("/p/{token}", response_class=HTMLResponse)
def preferences_page(request: Request, web: Web, link: ManagedSubscriber, saved: bool = False) -> HTMLResponse:
    prefs = subscriptions.preferences(link.session, link.subscriber)
    context = {"prefs": prefs, "token": link.token, "saved": saved}
    return page(request, web, "preferences.html", context, csrf_scope=link.token)


@router.post("/p/{token}", response_class=HTMLResponse)
def save_preferences(
    request: Request,
    web: Web,
    link: ManagedSubscriber,
    regions: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    paused: Annotated[bool, Form()] = False,
    action: Annotated[str, Form()] = "save",
    csrf_token: Annotated[str, Form(alias=FIELD_NAME)] = "",
) -> Response:
    token, session, subscriber = link.token, link.session, link.subscriber
    if not csrf_ok(request, web, token, csrf_token):
        return error_page(
            request,
            web,
            403,
            "This form has expired",
            "Nothing was changed. Please reload your preference page and try again.",
        )
    outcome = None
    try:
        if action == "unsubscribe":
            subscriptions.unsubscribe(session, subscriber, UnsubscribePath.PREFERENCE_PAGE, now=web.clock())
        elif action == "confirm":
            # Validated before the limit is touched; over it, the same answer and no mail.
            candidate = subscriptions.request_confirmation(
                session, subscriber, secret=web.settings.secret, now=web.clock()
            )
            if mail_allowed(session, web, subscriber.email, web.clock()):
                outcome = candidate
        else:
            subscriptions.update_preferences(session, subscriber, regions, paused=paused, now=web.clock())
    except subscriptions.SubscriptionRequestError as exc:
        session.rollback()  # a refused request keeps nothing, not even a taken mail allowance
        return _refused(request, web, action, exc)
    # Stored before any mail goes out: a failed mail is asked for again, never lost.
    session.commit()
    if action == "unsubscribe":
        return page(request, web, "unsubscribed.html", {"token": token})
    if action == "confirm":
        return deliver(request, web, outcome) if outcome is not None else sent_answer()
    # Post/redirect/get: reloading the confirmation never re-submits the form.
    return RedirectResponse(f"/p/{token}?saved=1", status_code=303)


def _refused(request: Request, web: WebContext, action: str, exc: subscriptions.SubscriptionRequestError) -> Response:
    if isinstance(exc, subscriptions.ReactivationRefused):
        return error_page(request, web, 409, "Please confirm your subscription first", _opt_in_message(exc.status))
    if action == "confirm":
        return error_page(request, web, 409, "Nothing to confirm", f"Nothing was sent: {exc}.")
    return error_page(request, web, 400, "Unknown region", "Nothing was changed. Please reload the page and try again.")


def _opt_in_message(status: SubscriberStatus) -> str:
    if status is SubscriberStatus.PENDING:
        return (
            "Nothing was changed. Your subscription is not confirmed yet: open the confirmation link "
            "in the email we sent you, or subscribe again to get a new one."
        )
    return (
        "Nothing was changed. We stopped sending to this address after a delivery problem or a spam "
        "report. To receive editions again, ask for a confirmation email on this page and confirm from it."
    )


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, web: Web, link: ManagedSubscriber) -> HTMLResponse:
    """Only a page with a button: link scanners fetch with GET and must change nothing."""
    context = {"email": link.subscriber.email, "token": link.token, "already": link.subscriber.status.is_suppressed}
    return page(request, web, "unsubscribe.html", {**context, "page_field": PAGE_FIELD, "page_value": PAGE_VALUE})


@router.post("/u/{token}", response_class=HTMLResponse)
async def one_click_unsubscribe(request: Request, web: Web, link: ManagedSubscriber) -> HTMLResponse:
    """RFC 8058: a form POST with ``List-Unsubscribe=One-Click``, no cookie, no CSRF token.

    The mail provider makes this request, not the subscriber's browser, so it can
    carry nothing but the token in the URL. The answer is a 200 page, never a
    redirect (providers do not follow them). The body may be url-encoded or
    multipart (RFC 8058 section 3.1), which Starlette's form parser reads alike.
    """
    form = await request.form()
    if form.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
        return error_page(
            request,
            web,
            400,
            "Nothing was changed",
            "This request did not ask to unsubscribe. Open the link in your email to unsubscribe.",
        )
    # The database work is blocking: keep it off the event loop.
    path = UnsubscribePath.PREFERENCE_PAGE if form.get(PAGE_FIELD) == PAGE_VALUE else UnsubscribePath.ONE_CLICK
    await run_in_threadpool(subscriptions.unsubscribe, link.session, link.subscriber, path, now=web.clock())
    return page(request, web, "unsubscribed.html", {"token": link.token})
