"""Tokens: the fast maker for a whole edition makes exactly the tokens the web app verifies."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from newsletter.errors import TokenError
from newsletter.subscribers.tokens import ManageTokens, Purpose, confirm_token, manage_token, read_token

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


@pytest.mark.parametrize("secret", [b"k", b"x" * 64, b"y" * 65, bytes(range(256)) * 2])
def test_the_edition_maker_matches_for_secrets_shorter_and_longer_than_a_hash_block(secret: bytes) -> None:
    for subscriber_id in (1, 77, 1_000_000):
        assert ManageTokens(secret)(subscriber_id, 2) == _reference(secret, subscriber_id, 2)


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


def _aliases(token: str) -> list[str]:
    """Other spellings a lenient decoder maps to the same bytes."""
    payload, signature = token.split(".")
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # A 16-byte signature is 22 characters with 4 spare low bits in the last one.
    spare_bits = last[last.index(signature[-1]) ^ 1]
    return [
        f"{payload}!!!!.{signature}",  # characters outside the alphabet, skipped by a lenient decoder
        f"{payload[:2]}~~~~{payload[2:]}.{signature}",
        f"{payload}.{signature[:-1]}{spare_bits}",  # same bytes, non-canonical last character
        f"{payload}==.{signature}",  # padding
        f"{payload}.{signature}==",
        f" {token}",
        f"{token}\n",
        f"{payload}.{signature}".replace("-", "+").replace("_", "/"),  # the other alphabet
        f"{payload}.{signature[:-1]}",
        f"{payload}.{signature}A",
        "\u0661" + token,  # a non-ASCII digit
    ]


@pytest.mark.parametrize("subscriber_id", [1, 7, 12345])
def test_only_the_exact_spelling_of_a_token_is_accepted(subscriber_id: int) -> None:
    token = manage_token(SECRET, subscriber_id, 1)
    assert read_token(SECRET, token, Purpose.MANAGE, now=NOW).subscriber_id == subscriber_id
    for alias in _aliases(token):
        if alias == token:
            continue  # e.g. no '-' or '_' to swap in this token
        with pytest.raises(TokenError):
            read_token(SECRET, alias, Purpose.MANAGE, now=NOW)


def test_an_expiring_token_keeps_its_spelling_strict() -> None:
    token = confirm_token(SECRET, 5, 2, now=NOW)
    assert read_token(SECRET, token, Purpose.CONFIRM, now=NOW).expires_at is not None
    for alias in _aliases(token):
        if alias != token:
            with pytest.raises(TokenError):
                read_token(SECRET, alias, Purpose.CONFIRM, now=NOW)
