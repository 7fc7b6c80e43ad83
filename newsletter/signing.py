"""HMAC-SHA256 and URL-safe base64: how every secret-keyed value is made and compared.

Link tokens, the regions bound to a confirmation link, CSRF form tokens and the
rate-limit keys are all ``HMAC-SHA256(secret, domain-labelled message)``,
truncated to their size and written as unpadded URL-safe base64.

:class:`Signer` spells HMAC out (RFC 2104: ``H((K ^ opad) + H((K ^ ipad) + m))``)
with both keyed hash states made once and copied per message: a send signs one
token per recipient, and ``hmac.new`` would hash the padded key every time
(``HMAC.copy`` is Python code around the same C copies made here). The tests
compare it with :mod:`hmac` for short, block-sized and long keys.
"""

from __future__ import annotations

import hashlib
import hmac
from binascii import b2a_base64

DIGEST_BYTES = 32

# RFC 2104's pads as byte translations: key.translate(_IPAD) is key XOR 0x36 byte by byte.
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))
# base64.urlsafe_b64encode is b2a_base64 + this translation behind two Python calls;
# tokens are made once per recipient of every edition, so call binascii directly.
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def urlsafe_b64(data: bytes) -> str:
    """``data`` as URL-safe base64 without padding."""
    return b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


class Signer:
    """HMAC-SHA256 under one secret, for as many messages as needed. Use from one thread."""

    def __init__(self, secret: bytes) -> None:
        block = hashlib.sha256().block_size
        key = hashlib.sha256(secret).digest() if len(secret) > block else secret
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def digest(self, message: bytes, size: int = DIGEST_BYTES) -> bytes:
        """The first ``size`` bytes of HMAC-SHA256(secret, message)."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:size]

    def text(self, message: bytes, size: int = DIGEST_BYTES) -> str:
        """:meth:`digest` as unpadded URL-safe base64."""
        return urlsafe_b64(self.digest(message, size))

    def signed(self, message: bytes, size: int = DIGEST_BYTES) -> str:
        """``message`` and :meth:`text` of it, both unpadded URL-safe base64, joined by a dot.

        The same as ``f"{urlsafe_b64(message)}.{self.text(message, size)}"``, in one
        translation and one decode: a send makes one per recipient.
        """
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        joined = b"%b.%b" % (
            b2a_base64(message, newline=False).rstrip(b"="),
            b2a_base64(outer.digest()[:size], newline=False).rstrip(b"="),
        )
        return joined.translate(_URLSAFE).decode("ascii")


def sign_text(secret: bytes, message: bytes, size: int = DIGEST_BYTES) -> str:
    """One message's MAC as unpadded URL-safe base64 (see :class:`Signer` for many)."""
    return Signer(secret).text(message, size)


def same_text(expected: str, submitted: str) -> bool:
    """Constant-time comparison of a MAC we made with one we were given.

    ``hmac.compare_digest`` raises TypeError on non-ASCII text; submitted text is
    attacker input, so anything we could not have issued simply does not match.
    """
    if not (expected.isascii() and submitted.isascii()):
        return False
    return hmac.compare_digest(expected.encode("ascii"), submitted.encode("ascii"))
