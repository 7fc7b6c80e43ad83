"""Tokens: the fast maker for a whole edition makes exactly the tokens the web app verifies."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from newsletter.errors import TokenError
from newsletter.tokens import ManageTokens, Purpose, confirm_token, manage_token, read_token

SECRET = b"test-secret-key-0123456789-abcdefghijkl"
NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def _reference(secret: bytes, subscriber_id: int, version: int) -> str:
    """The documented format, spelled out with the plain library calls."""
    payload = f"m:{subscriber_id}:{version}".encode("ascii")
    signature = hmac.new(secret, payload, hashlib.sha256).digest()[:16]
    return ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode("ascii") for part in (payload, signature))


@pytest.mark.parametrize("subscriber_id", [1, 9, 10, 99, 100, 12345, 999_999, 1_000_000, 2**31 + 7])
@pytest.mark.parametrize("version", [1, 2, 37])
def test_the_edition_maker_and_manage_token_match_the_documented_format(subscriber_id: int, version: int) -> None:
    expected = _reference(SECRET, subscriber_id, version)
    assert manage_token(SECRET, subscriber_id, version) == expected
    assert ManageTokens(SECRET)(subscriber_id, version) == expected


def test_tokens_from_the_edition_maker_verify_and_carry_their_claims() -> None:
    tokens = ManageTokens(SECRET)
    for subscriber_id in range(1, 2000, 7):  # many in a row: each copy starts from the bare key
        claims = read_token(SECRET, tokens(subscriber_id, 3), Purpose.MANAGE, now=NOW)
        assert (claims.subscriber_id, claims.version, claims.expires_at) == (subscriber_id, 3, None)


def test_a_token_made_with_another_secret_or_purpose_is_refused() -> None:
    with pytest.raises(TokenError):
        read_token(SECRET, ManageTokens(b"another-secret-0123456789-abcdefghijkl")(5, 1), Purpose.MANAGE, now=NOW)
    with pytest.raises(TokenError):
        read_token(SECRET, ManageTokens(SECRET)(5, 1), Purpose.CONFIRM, now=NOW)
    confirm = confirm_token(SECRET, 5, 1, now=NOW)
    assert read_token(SECRET, confirm, Purpose.CONFIRM, now=NOW).expires_at is not None
