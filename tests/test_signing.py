"""The one HMAC + URL-safe base64 helper against the standard library."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from newsletter.signing import Signer, same_text, sign_text, urlsafe_b64

# Shorter than, exactly and longer than SHA-256's 64-byte block (longer keys are hashed first).
KEYS = [b"", b"k", b"a-secret-of-thirty-two-bytes-!!!", b"x" * 63, b"y" * 64, b"z" * 65, bytes(range(256))]


@pytest.mark.parametrize("key", KEYS, ids=lambda key: f"{len(key)}-byte key")
def test_signer_is_hmac_sha256(key: bytes) -> None:
    signer = Signer(key)
    for message in (b"", b"m:1:1", b"\x00" * 100, bytes(range(256)) * 3):
        expected = hmac.new(key, message, hashlib.sha256).digest()
        assert signer.digest(message) == expected
        assert signer.digest(message, 16) == expected[:16]
        # Reusable: the keyed states are copied, never consumed.
        assert signer.digest(message) == expected


def test_text_is_unpadded_urlsafe_base64_of_the_digest() -> None:
    for size in (16, 24, 32):
        digest = hmac.new(b"key", b"message", hashlib.sha256).digest()[:size]
        assert sign_text(b"key", b"message", size) == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    for data in (b"", b"\xfb\xff", b"\xff" * 17, bytes(range(256))):
        assert urlsafe_b64(data) == base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_same_text_refuses_anything_we_could_not_have_issued() -> None:
    mac = sign_text(b"key", b"message")
    assert same_text(mac, mac)
    assert not same_text(mac, mac[:-1])
    assert not same_text(mac, mac[:-1] + "é")  # non-ASCII: False, not TypeError
    assert not same_text(mac, "")


@pytest.mark.parametrize("key", KEYS[:3], ids=lambda key: f"{len(key)}-byte key")
def test_signed_is_the_message_and_its_mac_joined_by_a_dot(key: bytes) -> None:
    signer = Signer(key)
    for message in (b"", b"m:1:1", b"\xfb\xff" * 7, bytes(range(256))):
        for size in (16, 32):
            assert signer.signed(message, size) == f"{urlsafe_b64(message)}.{signer.text(message, size)}"
