"""The plain-address fast path gives exactly email_validator's answer."""

from __future__ import annotations

import pytest

from newsletter.addresses import InvalidAddress, _full_check, normalise_email

CASES = [
    "Ada.Lovelace@Example.COM",
    "  padded@example.com  ",
    "a+tag@sub.example.co.uk",
    "under_score-dash@example.io",
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "a@" + "b" * 63 + ".com",
    "a@" + "b" * 64 + ".com",
    "a@" + ".".join(["c" * 60] * 4) + ".com",
    "dots..twice@example.com",
    ".lead@example.com",
    "trail.@example.com",
    "a@-hyphen.example.com",
    "a@hyphen-.example.com",
    "a@example.123",
    "a@example.c0m",
    "a@localhost",
    "a@example.invalid",
    "a@example.test",
    "a@example.local",
    "a@nodot",
    "a@xn--bcher-kva.example",
    "a@b\u00fccher.example",
    "\u212a@example.com",
    "caf\u00e9@example.com",
    'quoted"@example.com',
    "a@@example.com",
    "a@example..com",
    "a@exa_mple.com",
    "",
]


@pytest.mark.parametrize("raw", CASES)
def test_fast_path_agrees_with_the_full_check(raw: str) -> None:
    try:
        expected: str | None = _full_check(raw.strip())
    except InvalidAddress:
        expected = None
    try:
        got: str | None = normalise_email(raw)
    except InvalidAddress:
        got = None
    assert got == expected
