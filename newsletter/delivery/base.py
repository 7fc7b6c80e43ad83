"""The one interface every backend implements, and the values that cross it.

A batch is one rendered edition (:class:`MessageContent`, the same for everyone)
plus its recipients (:class:`Recipient`, each with a ledger id and one token).
Backends personalise by swapping :data:`~newsletter.links.TOKEN_PLACEHOLDER` for
the recipient's token: locally for outbox and SMTP, via SendGrid substitutions
for SendGrid. They know nothing of the database or of editions.

Per-recipient outcomes are returned, one :class:`SendResult` per recipient, in
order. A backend raises (see :mod:`newsletter.errors`) only when *nothing* of the
call was handed over: a rate limit, a refused connection or refused credentials
on the first exchange. Once part of a batch has gone out, everything else is
reported per recipient instead (``UNKNOWN``, ``DEFERRED``), because an exception
would hide what was already sent and invite a second copy.
:func:`newsletter.delivery.units.deliver_units` implements that rule once.

``send_batch`` may be called from several threads at once (the dispatcher keeps
a few batches in flight), so backends keep per-thread connections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from newsletter.bidi import BIDI_CONTROLS, without_bidi_controls
from newsletter.delivery.stamps import EDITION_HEADER, LEDGER_HEADER, ledger_stamp
from newsletter.links import TOKEN_PLACEHOLDER, list_unsubscribe_for


@dataclass(frozen=True)
class MessageContent:
    """What every recipient of a batch gets, before personalisation."""

    subject: str
    html: str
    text: str
    sender_name: str
    sender_address: str
    base_url: str  # for the List-Unsubscribe URL
    unsubscribe_mailto: str
    reply_to: str | None = None
    edition_id: int | None = None
    region_code: str | None = None
    campaign: str = "transactional"  # e.g. "dc-2026-11-29": outbox folder, provider category
    categories: tuple[str, ...] = ()
    language: str = "en"
    # The provider's own open and click tracking (SendGrid's tracking_settings); other backends track nothing.
    track_opens: bool = False
    track_clicks: bool = False

    def __post_init__(self) -> None:
        # The last line of defence: whatever built this (content is checked on load, but not
        # editors' overrides, snapshots or settings), no bidi control reaches Subject or From.
        for name in ("subject", "sender_name"):
            value = getattr(self, name)
            if any(ch in BIDI_CONTROLS for ch in value):
                object.__setattr__(self, name, without_bidi_controls(value))


@dataclass(frozen=True)
class Recipient:
    email: str
    token: str  # fills TOKEN_PLACEHOLDER in this recipient's copy and headers
    ledger_id: int | None = None  # Delivery.id; None for transactional mail


class Outcome(StrEnum):
    SENT = "sent"  # handed over where acceptance is final for us (SMTP relay, outbox file)
    QUEUED = "queued"  # accepted by a provider that reports delivery later (SendGrid 202)
    FAILED = "failed"  # refused for this recipient; retrying will not help
    UNKNOWN = "unknown"  # the request may have reached the provider: never resend on our own
    DEFERRED = "deferred"  # certainly not handed over (an earlier exchange failed): safe to retry


@dataclass(frozen=True)
class SendResult:
    recipient: Recipient
    outcome: Outcome
    provider_message_id: str | None = None
    error: str | None = None
    retry_after: float | None = None  # DEFERRED only: seconds the provider asked us to wait
    # DEFERRED only: the server put off this recipient alone (SMTP 4xx at RCPT: greylisting,
    # mailbox full), not the whole exchange; the others go on, and when the retries run out
    # this one fails with the server's text instead of pausing the send.
    recipient_only: bool = False


@dataclass
class Personalised:
    """One recipient's complete message: content with the token filled in, plus headers."""

    subject: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)


def recipient_headers(content: MessageContent, recipient: Recipient) -> dict[str, str]:
    """The per-recipient headers every backend sends: one-click unsubscribe and ledger ids.

    The one place they are made (through :func:`headers_for`), whether they end up in a
    MIME message or in a SendGrid personalization.
    """
    return headers_for(content)(recipient)


def headers_for(content: MessageContent) -> Callable[[Recipient], dict[str, str]]:
    """:func:`recipient_headers` for one content, recipient after recipient (its constant parts made once)."""
    unsubscribe = list_unsubscribe_for(content.base_url, content.unsubscribe_mailto)
    edition = None if content.edition_id is None else str(content.edition_id)

    def headers(recipient: Recipient) -> dict[str, str]:
        made = unsubscribe(recipient.token)
        if recipient.ledger_id is not None:
            made[LEDGER_HEADER] = ledger_stamp(recipient.ledger_id)
        if edition is not None:
            made[EDITION_HEADER] = edition
        return made

    return headers


def personalise(content: MessageContent, recipient: Recipient) -> Personalised:
    """Fill the recipient's token by plain substitution: no re-rendering."""
    headers = recipient_headers(content, recipient)
    return Personalised(
        subject=content.subject,
        html=content.html.replace(TOKEN_PLACEHOLDER, recipient.token),
        text=content.text.replace(TOKEN_PLACEHOLDER, recipient.token),
        headers=headers,
    )


class Backend(Protocol):
    name: str

    def send_batch(self, content: MessageContent, recipients: Sequence[Recipient]) -> list[SendResult]:
        """Hand over one message per recipient; raise only when nothing was handed over."""
        ...

    def close(self) -> None: ...
