"""What a backend makes of a batch: its exchanges, and their sizes without handing them over (``send --dry-run``).

Built by the same functions the backends use, so the figures are the real ones:
SendGrid posts one JSON body per request planned by :func:`plan_requests`; SMTP
sends one message per recipient with CRLF line ends; the outbox writes one file
per recipient.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from newsletter.config import BackendName
from newsletter.delivery.base import MessageContent, Recipient
from newsletter.delivery.mime import build_mime, smtp_bytes
from newsletter.delivery.sendgrid_payload import plan_requests, request_bytes, to_sendgrid_request


def exchanges(backend: BackendName, content: MessageContent, recipients: Sequence[Recipient]) -> list[list[Recipient]]:
    """A batch as the exchanges ``backend`` makes for it, which can go out side by side.

    SendGrid: one request per :func:`plan_requests` unit (the substitution budget can
    split a batch of 1,000 in two). SMTP and the outbox: the batch is one exchange
    (one connection, or one folder, handled in turn).
    """
    if backend is BackendName.SENDGRID:
        return list(plan_requests(content, recipients))
    return [list(recipients)]


def claim_limit_after(limit: int, units: Sequence[Sequence[Recipient]]) -> int:
    """The next claim's size once a claim of ``limit`` readers went out as ``units``.

    A claim split over several exchanges shrinks to the largest of them, so the next
    claims each fill one request instead of leaving a small remainder in a slot of its own.
    """
    if len(units) > 1:
        return max(1, min(limit, max(len(unit) for unit in units)))
    return limit


def request_sizes(
    backend: BackendName,
    content: MessageContent,
    units: Sequence[Sequence[Recipient]],
    *,
    now: datetime,
    sandbox: bool = False,
) -> list[int]:
    """The size in bytes of each request ``backend`` would make for a batch, in order.

    ``units`` is the batch as :func:`exchanges` splits it (the caller has it already):
    SendGrid makes one request per unit; SMTP and the outbox one per recipient.
    """
    if backend is BackendName.SENDGRID:
        return [len(request_bytes(to_sendgrid_request(content, unit, sandbox=sandbox))) for unit in units]
    recipients = [recipient for unit in units for recipient in unit]
    if backend is BackendName.SMTP:
        return [len(smtp_bytes(build_mime(content, recipient, now=now))) for recipient in recipients]
    if backend is BackendName.OUTBOX:
        return [len(build_mime(content, recipient, now=now).as_bytes()) for recipient in recipients]
    raise NotImplementedError(f"backend {backend.value!r} has no request sizes")
