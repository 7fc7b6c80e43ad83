"""One harness over the three backends: build one, send through it, read back what arrived.

What arrived is read from the real peer each time: the .eml files for outbox, the
messages the local SMTP server received, the request bodies the SendGrid stand-in
accepted (with SendGrid's substitutions applied as SendGrid would).
"""

from __future__ import annotations

import email
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest

from newsletter.config import SmtpSecurity
from newsletter.delivery.base import Backend, MessageContent, Outcome, Recipient
from newsletter.delivery.outbox import OutboxBackend
from newsletter.delivery.sendgrid import SendGridBackend
from newsletter.delivery.smtp import SmtpBackend
from newsletter.links import TOKEN_PLACEHOLDER
from tests.peers.sendgrid import API_KEY, StandIn
from tests.peers.smtp import SmtpStandIn

BACKENDS = ["outbox", "smtp", "sendgrid"]


@dataclass(frozen=True)
class Delivered:
    """One recipient's message as it reached the peer, whatever the transport."""

    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]  # lower-cased names
    custom_args: dict[str, str]
    raw: bytes = b""  # the message as the peer holds it (SendGrid: our headers as SendGrid gets them)


@dataclass
class Harness:
    name: str
    backend: Backend
    received: Callable[[], list[Delivered]]
    accepted: Outcome  # what a backend reports for a message it handed over
    # Sessions the peer has seen opened, where the transport keeps one open across batches
    # (SMTP); None where every request stands alone (outbox files, SendGrid's HTTP client).
    sessions: Callable[[], int | None] = lambda: None


def content(**overrides: Any) -> MessageContent:
    values: dict[str, Any] = {
        "subject": "Morgenausgabe: Brücken, Bahnen und Baustellen",
        "html": (
            f'<html><body><p>Grüße aus Brüssel ☕</p><a href="https://news.example.com/p/{TOKEN_PLACEHOLDER}">'
            f'Preferences</a> <a href="https://news.example.com/u/{TOKEN_PLACEHOLDER}">Unsubscribe</a></body></html>'
        ),
        "text": f"Grüße aus Brüssel ☕\n\nPreferences: https://news.example.com/p/{TOKEN_PLACEHOLDER}\n",
        "sender_name": "The Morning Wire",
        "sender_address": "editions@news.example.com",
        "base_url": "https://news.example.com",
        "unsubscribe_mailto": "unsubscribe@news.example.com",
        "edition_id": 42,
        "region_code": "bxl",
        "campaign": "bxl-2026-11-29",
    }
    values.update(overrides)
    return MessageContent(**values)


def recipients(count: int, *, start: int = 1) -> list[Recipient]:
    return [
        Recipient(f"reader{n}@example.org", f"tok{n:04d}.SIGNATURE", ledger_id=1000 + n)
        for n in range(start, start + count)
    ]


def _from_mime(raw: bytes) -> Delivered:
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None and html_part is not None
    return Delivered(
        to=str(message["To"]),
        subject=str(message["Subject"]),
        text=text_part.get_content(),
        html=html_part.get_content(),
        headers={name.lower(): str(value) for name, value in message.items()},
        custom_args={},
        raw=raw,
    )


def _sendgrid_header_block(headers: dict[str, str]) -> bytes:
    """Our header values written one per line, unchanged: SendGrid writes the header lines
    itself, so what we control (and test) is that each value is one plain line it can keep."""
    lines = [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _substitute(text: str, subs: dict[str, str]) -> str:
    for key, value in subs.items():
        text = text.replace(key, value)
    return text


def from_sendgrid(bodies: list[dict[str, Any]]) -> list[Delivered]:
    """Expand accepted request bodies into one message per personalization, as SendGrid does."""
    out = []
    for body in bodies:
        parts = {part["type"]: part["value"] for part in body["content"]}
        for p in body["personalizations"]:
            subs: dict[str, str] = p.get("substitutions", {})
            # Top-level headers apply to every personalization; its own win on a clash.
            headers = {**body.get("headers", {}), **p.get("headers", {})}
            for to in p["to"]:
                out.append(
                    Delivered(
                        to=to["email"],
                        subject=_substitute(p.get("subject", body["subject"]), subs),
                        text=_substitute(parts["text/plain"], subs),
                        html=_substitute(parts["text/html"], subs),
                        headers={k.lower(): v for k, v in headers.items()},
                        custom_args=p.get("custom_args", {}),
                        raw=_sendgrid_header_block(headers),
                    )
                )
    return out


def make_harness(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if name == "outbox":
        folder = tmp_path / "outbox"
        return Harness(
            name,
            OutboxBackend(folder),
            lambda: [_from_mime(path.read_bytes()) for path in sorted(folder.rglob("*.eml"))],
            Outcome.SENT,
        )
    if name == "smtp":
        smtp: SmtpStandIn = request.getfixturevalue("smtp_standin")
        backend = SmtpBackend("127.0.0.1", smtp.port, security=SmtpSecurity.NONE, timeout=5)
        return Harness(
            name,
            backend,
            lambda: [_from_mime(raw) for _, _, raw in smtp.messages],
            Outcome.SENT,
            sessions=lambda: smtp.connections,
        )
    if name == "sendgrid":
        standin: StandIn = request.getfixturevalue("sendgrid_standin")
        backend = SendGridBackend(API_KEY, host=standin.host, timeout=5)
        return Harness(name, backend, lambda: from_sendgrid(standin.accepted), Outcome.QUEUED)
    raise ValueError(name)


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    made = make_harness(request.param, request, tmp_path)
    try:
        yield made
    finally:
        made.backend.close()
