"""Every public URL the product hands out, built in one place.

Per-recipient links are built around a single short token, so a rendered edition
carries :data:`TOKEN_PLACEHOLDER` and each recipient's copy (or SendGrid's
substitution) swaps in that recipient's token. Nothing else varies per recipient.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

# Appears in rendered HTML/text wherever a recipient's token goes; must survive
# MJML, HTML escaping and URL encoding unchanged (letters, digits, '%' and '_' only).
TOKEN_PLACEHOLDER = "%%recipient_token%%"


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def unsubscribe_url(base_url: str, token: str) -> str:
    """One-click unsubscribe (RFC 8058 POST) and its confirmation page (GET)."""
    return f"{_base(base_url)}/u/{token}"


def preferences_url(base_url: str, token: str) -> str:
    return f"{_base(base_url)}/p/{token}"


def confirm_url(base_url: str, token: str) -> str:
    return f"{_base(base_url)}/confirm/{token}"


def region_archive_url(base_url: str, region_code: str) -> str:
    """A region's archive page: it always exists, unlike an edition for a given date."""
    return f"{_base(base_url)}/editions/{quote(region_code)}"


def edition_url(base_url: str, region_code: str, local_date: date) -> str:
    """The public archive copy: the same for every recipient ("view in browser")."""
    return f"{region_archive_url(base_url, region_code)}/{local_date.isoformat()}"


def unsubscribe_mailto(address: str, token: str) -> str:
    """RFC 6068: a non-ASCII address is percent-encoded UTF-8, so the header stays ASCII."""
    return f"mailto:{quote(address, safe=_MAILTO_SAFE)}?subject=unsubscribe-{quote(token, safe='')}"


# Characters RFC 6068 lets an address keep in a mailto URI (besides letters, digits, "-._~").
_MAILTO_SAFE = "@!$'()*+,;:"


def list_unsubscribe_headers(base_url: str, mailto_address: str, token: str) -> dict[str, str]:
    """RFC 2369 + RFC 8058 headers: an HTTPS one-click URL and a mailto fallback."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(base_url, token)}>, <{unsubscribe_mailto(mailto_address, token)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
