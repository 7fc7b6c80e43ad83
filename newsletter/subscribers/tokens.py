"""Signed, expiring, revocable subscriber tokens (HMAC-SHA256).

A token is ``<payload>.<signature>``, both URL-safe base64 without padding:

* payload: purpose letter, subscriber id, token version, and for expiring tokens
  the expiry as a Unix time, joined by ``:``;
* signature: the first 16 bytes of HMAC-SHA256(secret, payload).

Bumping a subscriber's ``token_version`` revokes every token issued before.
Purposes keep a confirmation token from working as a manage token and vice versa.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from newsletter.errors import TokenError
from newsletter.signing import Signer, same_text, urlsafe_b64

SIGNATURE_BYTES = 16
CONFIRM_TTL = timedelta(days=7)


class Purpose(StrEnum):
    MANAGE = "m"  # preferences and unsubscribe links in every email; no expiry
    CONFIRM = "c"  # double opt-in confirmation; expires


@dataclass(frozen=True)
class TokenClaims:
    purpose: Purpose
    subscriber_id: int
    version: int
    expires_at: int | None


# The one spelling make_token produces: unpadded URL-safe base64, a dot, and a
# 16-byte signature (22 characters). Anything else is refused before decoding, so a
# token has exactly one accepted form (no stray characters, padding or aliases).
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}")
_MAX_TOKEN_CHARS = 200  # far above any real token; bounds the work done on junk
_PAYLOAD_SHAPE = re.compile(rb"([a-z]):([0-9]{1,19}):([0-9]{1,19})(?::([0-9]{1,19}))?")


def _unb64(text: str) -> bytes:
    """Strict decode: only the alphabet, and only the canonical encoding of its bytes.

    Base64 leaves spare low bits in a final partial group; two strings differing
    only there decode alike, so re-encode and compare to refuse the alias.
    """
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (ValueError, binascii.Error):
        raise TokenError("this link is malformed or incomplete") from None
    if urlsafe_b64(data) != text:
        raise TokenError("this link is malformed or incomplete")
    return data


def make_token(
    secret: bytes,
    purpose: Purpose,
    subscriber_id: int,
    version: int,
    *,
    expires_at: datetime | None = None,
) -> str:
    parts = [purpose.value, str(subscriber_id), str(version)]
    if expires_at is not None:
        parts.append(str(int(expires_at.timestamp())))
    payload = ":".join(parts).encode("ascii")
    return Signer(secret).signed(payload, SIGNATURE_BYTES)


def read_token(secret: bytes, token: str, purpose: Purpose, *, now: datetime) -> TokenClaims:
    """Verify shape, signature, purpose and expiry. The caller still checks the version."""
    if len(token) > _MAX_TOKEN_CHARS or _TOKEN_SHAPE.fullmatch(token) is None:
        raise TokenError("this link is malformed or incomplete")
    payload_text, signature_text = token.split(".")
    payload = _unb64(payload_text)
    _unb64(signature_text)  # canonical, like the payload; compared as the text we would write
    if not same_text(Signer(secret).text(payload, SIGNATURE_BYTES), signature_text):
        raise TokenError("this link is not valid")
    # Signed by us, so well formed unless the secret is shared with something else;
    # parse strictly anyway so a surprise is a refused link, never a server error.
    fields = _PAYLOAD_SHAPE.fullmatch(payload)
    if fields is None:
        raise TokenError("this link is not valid")
    if fields[1] != purpose.value.encode("ascii"):
        raise TokenError("this link is not meant for this page")
    subscriber_id, version = int(fields[2]), int(fields[3])
    expires_at = int(fields[4]) if fields[4] is not None else None
    if expires_at is not None and now.timestamp() > expires_at:
        raise TokenError("this link has expired")
    return TokenClaims(purpose, subscriber_id, version, expires_at)


class ManageTokens:
    """Makes many manage tokens with one secret, e.g. for every recipient of an edition.

    Same tokens as :func:`manage_token`, about twice as fast: the keyed HMAC states
    are made once (:class:`~newsletter.signing.Signer`) and the payload is formatted
    in one step. Use from one thread.
    """

    def __init__(self, secret: bytes) -> None:
        self._signed = Signer(secret).signed
        self._prefix = f"{Purpose.MANAGE.value}:".encode("ascii")

    def __call__(self, subscriber_id: int, version: int) -> str:
        # The same payload as make_token's ":".join(...) (ints print the same in both).
        payload = b"%b%d:%d" % (self._prefix, subscriber_id, version)
        return self._signed(payload, SIGNATURE_BYTES)


def manage_token(secret: bytes, subscriber_id: int, version: int) -> str:
    """The one per-recipient token every edition carries (preferences and unsubscribe)."""
    return make_token(secret, Purpose.MANAGE, subscriber_id, version)


def confirm_token(secret: bytes, subscriber_id: int, version: int, *, now: datetime) -> str:
    return make_token(secret, Purpose.CONFIRM, subscriber_id, version, expires_at=now + CONFIRM_TTL)
