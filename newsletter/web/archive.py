"""Public archive ("view in browser"): sent editions without anyone's personal links.

The stored ``Edition.html`` is the render *before* personalisation, so it holds
:data:`~newsletter.links.TOKEN_PLACEHOLDER` where each recipient's token goes,
never a real token. The public copy points every such link at the subscribe page
instead, so a shared archive link manages nobody's subscription.
"""

from __future__ import annotations

import re
from datetime import date
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from newsletter.db import session_scope
from newsletter.links import TOKEN_PLACEHOLDER
from newsletter.models import Edition, EditionStatus, Region
from newsletter.web.context import Web
from newsletter.web.rendering import error_page, page

router = APIRouter()

# A sending edition is public too: recipients of the first batches click "view in
# browser" while later batches are still going out.
PUBLIC_STATES = (EditionStatus.SENDING, EditionStatus.SENT)

# Any URL (quoted attribute value or bare text) that contains the placeholder.
_PERSONAL_URL = re.compile(r"""(?:https?:|mailto:)[^\s"'<>]*?""" + re.escape(TOKEN_PLACEHOLDER) + r"""[^\s"'<>]*""")

# Archive pages are our own rendered mail: no script ever belongs in them, so the
# policy forbids scripts and forms outright; inline styles and remote images are
# how email HTML is built.
ARCHIVE_CSP = (
    "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
    "font-src https: data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


def public_copy(html: str, subscribe_url: str) -> str:
    """The edition HTML with every personal link replaced by the subscribe page."""
    without_links = _PERSONAL_URL.sub(escape(subscribe_url, quote=True), html)
    # A placeholder outside any URL would only ever hold a token: drop it.
    return without_links.replace(TOKEN_PLACEHOLDER, "")


def _not_found(request: Request, web: Web) -> HTMLResponse:
    return error_page(request, web, 404, "Edition not found", "There is no published edition at this address.")


@router.get("/editions/{region_code}", response_class=HTMLResponse)
def archive_index(request: Request, web: Web, region_code: str) -> HTMLResponse:
    with session_scope(web.engine) as session:
        region = session.get(Region, region_code)
        if region is None:
            return _not_found(request, web)
        editions = list(
            session.exec(
                select(Edition)
                .where(Edition.region_code == region_code, col(Edition.status).in_(PUBLIC_STATES))
                .order_by(col(Edition.local_date).desc())
            )
        )
    return page(request, web, "archive_index.html", {"region": region, "editions": editions})


@router.get("/editions/{region_code}/{local_date}", response_class=HTMLResponse)
def archived_edition(request: Request, web: Web, region_code: str, local_date: str) -> HTMLResponse:
    try:
        day = date.fromisoformat(local_date)
    except ValueError:
        return _not_found(request, web)
    with session_scope(web.engine) as session:
        edition = session.exec(
            select(Edition).where(
                Edition.region_code == region_code,
                Edition.local_date == day,
                col(Edition.status).in_(PUBLIC_STATES),
            )
        ).first()
        html = edition.html if edition is not None else None
    if not html:
        return _not_found(request, web)
    subscribe_url = web.settings.base_url.rstrip("/") + "/"
    return HTMLResponse(public_copy(html, subscribe_url), headers={"Content-Security-Policy": ARCHIVE_CSP})
