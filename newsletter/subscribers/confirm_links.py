"""Confirmation links that carry the regions they confirm.

A subscribe request for an address we already know must not change that
subscriber's stored regions: anyone can type anyone's address into the form.
So the requested regions travel in the confirmation link itself, and only the
mailbox owner, by confirming, makes them take effect.

The link token is ``<confirm token>.<region codes joined by "-">.<mac>``: the
ordinary signed confirmation token (:mod:`newsletter.subscribers.tokens`), then the regions,
bound to that exact token by an HMAC with its own domain label. Region codes
are lower-case letters only (``content_files.REGION_CODE``), so ``-`` cannot
appear inside one, and the whole token stays within the URL-safe characters.

Only this bound form is accepted. The plain two-part token inside it is never
a link on its own: anyone holding a link could cut the regions and the MAC off,
and a bare token would still confirm.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from newsletter.errors import TokenError
from newsletter.signing import same_text, sign_text
from newsletter.subscribers.tokens import Purpose, TokenClaims, confirm_token, read_token

_MAC_BYTES = 16
_REGIONS = re.compile(r"[a-z]{2,16}(?:-[a-z]{2,16}){0,31}")
_MAC_TEXT = re.compile(r"[A-Za-z0-9_-]{22}")


@dataclass(frozen=True)
class ConfirmClaims:
    claims: TokenClaims
    region_codes: tuple[str, ...]


def _mac(secret: bytes, base_token: str, regions_text: str) -> str:
    message = b"confirm-regions\x00" + base_token.encode("ascii") + b"\x00" + regions_text.encode("ascii")
    return sign_text(secret, message, _MAC_BYTES)


def make_confirm_link_token(
    secret: bytes, subscriber_id: int, version: int, region_codes: Sequence[str], *, now: datetime
) -> str:
    base_token = confirm_token(secret, subscriber_id, version, now=now)
    regions_text = "-".join(region_codes)
    if _REGIONS.fullmatch(regions_text) is None:
        raise ValueError(f"region codes cannot be carried in a link: {list(region_codes)!r}")
    return f"{base_token}.{regions_text}.{_mac(secret, base_token, regions_text)}"


def read_confirm_link_token(secret: bytes, token: str, *, now: datetime) -> ConfirmClaims:
    """Verify the confirmation token and the regions bound to it; TokenError otherwise."""
    parts = token.split(".")
    if len(parts) != 4:
        raise TokenError("this link is malformed or incomplete")
    base_token = f"{parts[0]}.{parts[1]}"
    regions_text, mac_text = parts[2], parts[3]
    claims = read_token(secret, base_token, Purpose.CONFIRM, now=now)
    if _REGIONS.fullmatch(regions_text) is None or _MAC_TEXT.fullmatch(mac_text) is None:
        raise TokenError("this link is malformed or incomplete")
    expected = _mac(secret, base_token, regions_text)
    if not same_text(expected, mac_text):
        raise TokenError("this link is not valid")
    return ConfirmClaims(claims, tuple(dict.fromkeys(regions_text.split("-"))))
