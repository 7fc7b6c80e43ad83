"""Headers that carry URLs reach mail programs verbatim, on every backend and for any base URL.

A List-Unsubscribe folded into an RFC 2047 encoded word (``=?utf-8?q?=3Cmailto...?=``) is
one a mail program cannot read: it finds no mailto, and with the HTTPS half encoded Gmail
shows no one-click button. Each message is parsed back with Python's ``email`` package and
the raw header (before any decoding) must hold both ``<...>`` items as written.
"""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from urllib.parse import quote

import pytest

from newsletter.delivery.mime import build_mime
from newsletter.links import list_unsubscribe_headers, unsubscribe_mailto
from tests.delivery_harness import Harness, content, recipients

# 60 characters: long enough that "List-Unsubscribe: <base/u/token>," overruns 78 columns.
LONG_BASE_URL = "https://newsletter-archive.regional-edition.example.com/mail"
MAILTO = "unsubscribe@news.example.com"


def _raw_header(message: EmailMessage, name: str) -> str:
    """The header's value exactly as it stands in the message, folding included."""
    values = [value for key, value in message.raw_items() if key.lower() == name.lower()]
    assert len(values) == 1, f"{name} appears {len(values)} times"
    return str(values[0])


def _check_url_header(raw: bytes, base_url: str, token: str) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    folded = _raw_header(message, "List-Unsubscribe")
    assert "=?" not in folded, f"List-Unsubscribe is RFC 2047-encoded: {folded!r}"
    # Folding is only ever a line break before an item, after the comma that ends the last one.
    continuation_lines = re.split(r"\r?\n", folded)[1:]
    assert all(line.startswith(" <") for line in continuation_lines), folded
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", folded)
    assert f"<{base_url}/u/{token}>" in unfolded
    assert f"<mailto:{MAILTO}?subject=unsubscribe-{token}>" in unfolded
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return message


def test_list_unsubscribe_is_folded_at_commas_never_encoded_on_every_backend(harness: Harness) -> None:
    assert len(LONG_BASE_URL) == 60
    batch = recipients(2)
    harness.backend.send_batch(content(base_url=LONG_BASE_URL, language="fr"), batch)

    arrived = {m.to: m for m in harness.received()}
    assert sorted(arrived) == sorted(r.email for r in batch)
    for recipient in batch:
        message = _check_url_header(arrived[recipient.email].raw, LONG_BASE_URL, recipient.token)
        assert message["Content-Language"] == "fr"


@pytest.mark.parametrize("host_length", [1, 10, 25, 40, 52, 60, 80, 120, 200])
def test_any_base_url_length_folds_without_encoding(host_length: int) -> None:
    base_url = f"https://{'n' * host_length}.example.com"
    (recipient,) = recipients(1)
    message = build_mime(content(base_url=base_url), recipient, now=datetime.now(UTC))

    for linesep in ("\n", "\r\n"):  # outbox files and SMTP's DATA
        raw = message.as_bytes(policy=message.policy.clone(linesep=linesep))
        header_block = raw.split(linesep.encode() * 2, 1)[0]
        parsed = _check_url_header(raw, base_url, recipient.token)
        assert parsed.defects == []
        # Lines stay within 78 columns unless one item alone (with the header's name and its
        # comma: a URL is never broken) is longer.
        items = list_unsubscribe_headers(base_url, MAILTO, recipient.token)["List-Unsubscribe"].split(", ")
        limit = max(78, len("List-Unsubscribe: ,") + max(len(item) for item in items))
        assert all(len(line) <= limit for line in header_block.split(linesep.encode()))


def test_content_language_survives_the_multipart_body() -> None:
    (recipient,) = recipients(1)
    message = build_mime(content(language="ar"), recipient, now=datetime.now(UTC))

    parsed = email.message_from_bytes(message.as_bytes(), policy=default_policy)
    assert parsed["Content-Language"] == "ar"
    assert parsed.get_content_type() == "multipart/alternative"


def test_a_non_ascii_unsubscribe_address_is_percent_encoded_not_rfc2047_encoded() -> None:
    (recipient,) = recipients(1)
    message = build_mime(
        content(unsubscribe_mailto="désabonnement@nouvelles.example.fr"), recipient, now=datetime.now(UTC)
    )

    parsed = email.message_from_bytes(message.as_bytes(), policy=default_policy)
    folded = _raw_header(parsed, "List-Unsubscribe")
    assert "=?" not in folded
    assert f"<mailto:d%C3%A9sabonnement@nouvelles.example.fr?subject=unsubscribe-{recipient.token}>" in re.sub(
        r"\n ", " ", folded
    )


@pytest.mark.parametrize("token", ["m6MTox.AbC-_x", "", "a+b/c=", "tok en", "é%~.", "%%recipient_token%%"])
def test_list_unsubscribe_quotes_any_token_the_way_quote_does(token: str) -> None:
    # Our tokens need no quoting and skip it; anything else is percent-encoded as quote() would.
    for address, quoted in ((MAILTO, MAILTO), ("désabo@x.fr", "d%C3%A9sabo@x.fr")):
        headers = list_unsubscribe_headers("https://n.example.com/", address, token)
        assert headers["List-Unsubscribe"] == (
            f"<https://n.example.com/u/{token}>, <mailto:{quoted}?subject=unsubscribe-{quote(token, safe='')}>"
        )
        assert unsubscribe_mailto(address, token) == f"mailto:{quoted}?subject=unsubscribe-{quote(token, safe='')}"
