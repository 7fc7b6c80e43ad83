"""Public archive ("view in browser"): sent editions without anyone's personal links.

The stored ``Edition.html`` is the render *before* personalisation, so it holds
:data:`~newsletter.links.TOKEN_PLACEHOLDER` where each recipient's token goes,
never a real token. The public copy points every such link at the subscribe page
instead, so a shared archive link manages nobody's subscription, and replaces the
footer's personal paragraphs (marked with the class ``personal`` in
templates/email/_footer.mjml.j2) with a note saying where a subscription is
managed, a link to subscribe and one to the region's archive, each saying what it is.

Every archive page answers HEAD as well as GET (same status and headers, no body).
"""

from __future__ import annotations

import re
from datetime import date
from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from newsletter.db.engine import session_scope
from newsletter.db.models import PUBLIC_EDITION_STATUSES, Edition, Region
from newsletter.editions.rows import find_edition
from newsletter.links import TOKEN_PLACEHOLDER
from newsletter.web.context import Web
from newsletter.web.rendering import error_page, page

router = APIRouter()

# Any URL (quoted attribute value or bare text) that contains the placeholder.
_PERSONAL_URL = re.compile(r"""(?:https?:|mailto:)[^\s"'<>]*?""" + re.escape(TOKEN_PLACEHOLDER) + r"""[^\s"'<>]*""")

# Archive pages are our own rendered mail: no script ever belongs in them, so the
# policy forbids scripts and forms outright; inline styles and remote images are
# how email HTML is built.
ARCHIVE_CSP = (
    "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
    "font-src https: data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


# The footer's paragraphs for the reader alone (no <p> nests inside one, so the first </p> ends it).
_PERSONAL_PARAGRAPH = re.compile(r"""<p\b[^>]*\bclass=["'][^"']*\bpersonal\b[^"']*["'][^>]*>.*?</p>""", re.S)
# A whole link whose address is personal: its words ("Unsubscribe") would be false in a public copy.
_PERSONAL_ANCHOR = re.compile(
    r"""<a\b([^>]*?)\shref=(["'])[^"']*""" + re.escape(TOKEN_PLACEHOLDER) + r"""[^"']*\2([^>]*)>.*?</a>""", re.S
)
_STYLE = re.compile(r"""\sstyle=(["'])(.*?)\1""", re.S)


def _public_note(paragraph: str, subscribe_url: str, archive_url: str, edition_name: str) -> str:
    """What a public copy says instead of the reader's own links, in the footer's own styles."""
    p_style = _STYLE.search(paragraph)
    link_match = _STYLE.search(paragraph[paragraph.find("<a") :]) if "<a" in paragraph else None
    p_attr = f' style="{p_style.group(2)}"' if p_style else ""
    a_attr = f' style="{link_match.group(2)}"' if link_match else ""
    name = escape(edition_name)
    return (
        f'<p class="dm-muted"{p_attr}>This is the public copy of {name}, without anyone\'s personal links. '
        "Already subscribed? Change your regions or unsubscribe with the links at the end of the email "
        "you received.</p>"
        f'<p class="dm-muted"{p_attr}><a href="{escape(subscribe_url)}"{a_attr}>Subscribe to {name}</a>'
        f'<span> · </span><a href="{escape(archive_url)}"{a_attr}>Past editions</a></p>'
    )


def _with_main(html: str) -> str:
    """Email HTML has no landmarks (mail clients drop them); the page gets its <main> here."""
    opening = re.search(r"<body\b[^>]*>", html, re.I)
    closing = html.lower().rfind("</body>")
    if opening is None or closing < opening.end():
        return html
    return f"{html[: opening.end()]}<main>{html[opening.end() : closing]}</main>{html[closing:]}"


def public_copy(html: str, subscribe_url: str, *, archive_url: str = "", edition_name: str = "") -> str:
    """The edition HTML without personal links, the footer's personal part replaced, in a <main>."""
    note_given = False

    def footer(match: re.Match[str]) -> str:
        nonlocal note_given
        if note_given:
            return ""
        note_given = True
        return _public_note(
            match.group(0), subscribe_url, archive_url or subscribe_url, edition_name or "this newsletter"
        )

    html = _PERSONAL_PARAGRAPH.sub(footer, html)
    # Editions stored before the footer was marked: any remaining personal link says what it now is.
    html = _PERSONAL_ANCHOR.sub(
        lambda m: f'<a{m.group(1)} href="{escape(subscribe_url)}"{m.group(3)}>Subscribe</a>', html
    )
    without_links = _PERSONAL_URL.sub(escape(subscribe_url, quote=True), html)
    # A placeholder outside any URL would only ever hold a token: drop it.
    return _with_main(without_links.replace(TOKEN_PLACEHOLDER, ""))


def _not_found(request: Request, web: Web, region: Region | None = None) -> HTMLResponse:
    """404 for a missing edition; for a known region, the way to its archive."""
    actions = (
        [(f"/editions/{quote(region.code)}", f"{region.edition_name}: the archive of past editions")] if region else []
    )
    return error_page(
        request, web, 404, "Edition not found", "There is no published edition at this address.", actions=actions
    )


@router.api_route("/editions/{region_code}", methods=["GET", "HEAD"], response_class=HTMLResponse)
def archive_index(request: Request, web: Web, region_code: str) -> HTMLResponse:
    with session_scope(web.engine) as session:
        region = session.get(Region, region_code)
        if region is None:
            return _not_found(request, web)
        editions = list(
            session.exec(
                select(Edition)
                .where(Edition.region_code == region_code, col(Edition.status).in_(PUBLIC_EDITION_STATUSES))
                .order_by(col(Edition.local_date).desc())
            )
        )
    return page(request, web, "archive_index.html", {"region": region, "editions": editions})


@router.api_route("/editions/{region_code}/{local_date}", methods=["GET", "HEAD"], response_class=HTMLResponse)
def archived_edition(request: Request, web: Web, region_code: str, local_date: str) -> HTMLResponse:
    with session_scope(web.engine) as session:
        region = session.get(Region, region_code)
        if region is not None:
            session.expunge(region)
    try:
        day = date.fromisoformat(local_date)
    except ValueError:
        return _not_found(request, web, region)
    with session_scope(web.engine) as session:
        edition = find_edition(session, region_code, day)
        html = edition.html if edition is not None and edition.status.is_public else None
    if not html or region is None:
        return _not_found(request, web, region)
    base = web.settings.base_url.rstrip("/")
    copy = public_copy(
        html, f"{base}/", archive_url=f"{base}/editions/{quote(region.code)}", edition_name=region.edition_name
    )
    return HTMLResponse(copy, headers={"Content-Security-Policy": ARCHIVE_CSP})
