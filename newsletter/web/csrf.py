"""CSRF protection without server-side sessions: a signed double submit.

The browser holds a random nonce in a cookie (SameSite=Lax, HttpOnly). Every form
carries ``HMAC(secret, nonce + scope)``, where the scope names what the form acts
on: ``"subscribe"``, or the subscriber's own link token on the preference page.
A forged cross-site post fails twice over: the attacker cannot read the victim's
cookie, and cannot compute the HMAC without the secret. Binding to the link token
means a form field copied from one subscriber's page is useless on another's.

The RFC 8058 one-click unsubscribe POST is exempt by design: mail providers send
it with no cookie and no form token, and the link token alone authorises it.
"""

from __future__ import annotations

import secrets

from newsletter.signing import same_text, sign_text

FIELD_NAME = "csrf_token"
NONCE_BYTES = 32


def cookie_name(secure: bool) -> str:
    # The __Host- prefix pins the cookie to this exact host over HTTPS (no Domain,
    # Path=/, Secure); browsers refuse it over plain HTTP, so local use drops it.
    return "__Host-csrf" if secure else "csrf"


def new_nonce() -> str:
    return secrets.token_urlsafe(NONCE_BYTES)


def is_plausible_nonce(value: str | None) -> bool:
    """A cookie we could have set: reuse it rather than replacing the visitor's nonce."""
    return value is not None and 40 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()


def form_token(secret: bytes, nonce: str, scope: str) -> str:
    message = b"csrf\x00" + nonce.encode() + b"\x00" + scope.encode()
    return sign_text(secret, message)


def is_valid(secret: bytes, nonce: str | None, scope: str, submitted: str | None) -> bool:
    """True only for the token this nonce and scope produce (constant-time compare)."""
    if not is_plausible_nonce(nonce) or not submitted:
        return False
    assert nonce is not None
    return same_text(form_token(secret, nonce, scope), submitted)
