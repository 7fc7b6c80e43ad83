"""Every public URL the product hands out, built in one place.

Per-recipient links are built around a single short token, so a rendered edition
carries :data:`TOKEN_PLACEHOLDER` and each recipient's copy (or SendGrid's
substitution) swaps in that recipient's token. Nothing else varies per recipient.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from functools import lru_cache
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
    return f"{_mailto_prefix(address)}{_quoted_token(token)}"


# Characters RFC 6068 lets an address keep in a mailto URI (besides letters, digits, "-._~").
_MAILTO_SAFE = "@!$'()*+,;:"
# What quote(..., safe="") leaves as it is: a token made by us (URL-safe base64 and a dot) is all of these.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


# Made once per recipient of every edition, around the same few addresses: the constant
# parts are quoted once, not per recipient.
@lru_cache(maxsize=64)
def _mailto_prefix(address: str) -> str:
    return f"mailto:{quote(address, safe=_MAILTO_SAFE)}?subject=unsubscribe-"


@lru_cache(maxsize=64)
def _one_click_prefix(base_url: str) -> str:
    return f"<{unsubscribe_url(base_url, '')}"


def _quoted_token(token: str) -> str:
    return token if _UNRESERVED.fullmatch(token) else quote(token, safe="")


def list_unsubscribe_headers(base_url: str, mailto_address: str, token: str) -> dict[str, str]:
    """RFC 2369 + RFC 8058 headers: an HTTPS one-click URL and a mailto fallback."""
    return list_unsubscribe_for(base_url, mailto_address)(token)


def list_unsubscribe_for(base_url: str, mailto_address: str) -> Callable[[str], dict[str, str]]:
    """:func:`list_unsubscribe_headers` for one base URL and address, token after token.

    A send makes them once per recipient: the constant parts are looked up once, and a
    token that needs no quoting (every one we make) skips ``quote``.
    """
    one_click, mailto, plain = _one_click_prefix(base_url), _mailto_prefix(mailto_address), _UNRESERVED.fullmatch

    def headers(token: str) -> dict[str, str]:
        # unsubscribe_url and unsubscribe_mailto, spelled out.
        quoted = token if plain(token) else quote(token, safe="")
        return {
            "List-Unsubscribe": f"{one_click}{token}>, <{mailto}{quoted}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    return headers
