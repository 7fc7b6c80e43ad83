"""Server-rendered pages: one Jinja2 environment (autoescaped), page and error helpers.

Pages never need JavaScript. Every page that carries a form also carries the
CSRF cookie; see :mod:`newsletter.web.csrf`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from newsletter.errors import TokenError
from newsletter.web import csrf
from newsletter.web.context import WebContext
from newsletter.web.paths import TEMPLATES_DIR

templates = Jinja2Templates(directory=TEMPLATES_DIR)
# select_autoescape() covers .html, .htm and .xml; make it unconditional so a
# template added under another suffix cannot silently skip escaping.
templates.env.autoescape = True


def csrf_nonce(request: Request, web: WebContext) -> tuple[str, bool]:
    """The visitor's CSRF nonce, and whether it is new and must be set as a cookie."""
    existing = request.cookies.get(csrf.cookie_name(web.secure_cookies))
    if csrf.is_plausible_nonce(existing):
        assert existing is not None
        return existing, False
    return csrf.new_nonce(), True


def page(
    request: Request,
    web: WebContext,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    csrf_scope: str | None = None,
) -> HTMLResponse:
    """Render a page; with ``csrf_scope`` the form token is in ``csrf_token``."""
    values: dict[str, Any] = {"site_name": web.settings.sender_name, "postal_address": web.settings.postal_address}
    values.update(context or {})
    new_nonce: str | None = None
    if csrf_scope is not None:
        nonce, is_new = csrf_nonce(request, web)
        new_nonce = nonce if is_new else None
        values["csrf_field"] = csrf.FIELD_NAME
        values["csrf_token"] = csrf.form_token(web.settings.secret, nonce, csrf_scope)
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    if new_nonce is not None:
        response.set_cookie(
            csrf.cookie_name(web.secure_cookies),
            new_nonce,
            httponly=True,
            samesite="lax",
            secure=web.secure_cookies,
            path="/",
        )
    return response


def csrf_ok(request: Request, web: WebContext, scope: str, submitted: str) -> bool:
    nonce = request.cookies.get(csrf.cookie_name(web.secure_cookies))
    return csrf.is_valid(web.settings.secret, nonce, scope, submitted)


def error_page(
    request: Request,
    web: WebContext,
    status_code: int,
    title: str,
    message: str,
    *,
    actions: list[tuple[str, str]] | None = None,
) -> HTMLResponse:
    """A friendly page for every 4xx/5xx: what went wrong, and where to go next.

    ``actions`` are (path, label) links offered before the subscribe page."""
    context = {"title": title, "message": message, "actions": actions or []}
    return page(request, web, "error.html", context, status_code=status_code)


def bad_link(request: Request, web: WebContext, error: TokenError) -> HTMLResponse:
    """The one answer to every forged, truncated, expired or revoked link: 400, nothing changed."""
    return error_page(
        request,
        web,
        400,
        "This link does not work",
        # Links do not expire by age (only confirmation links do, after a week): old
        # links stop only when revoked for the subscriber, so say that, not more.
        f"Sorry: {error}. Confirmation links work for a week, and links can be replaced "
        "for your security; the newest email we sent you has one that works, or you can subscribe again.",
    )
