"""What a backend would be handed for a batch, measured without handing it over (``send --dry-run``).

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
from newsletter.delivery.sendgrid_payload import plan_requests, serialize_request, to_sendgrid_request


def request_sizes(
    backend: BackendName,
    content: MessageContent,
    recipients: Sequence[Recipient],
    *,
    now: datetime,
    sandbox: bool = False,
) -> list[int]:
    """The size in bytes of each request ``backend`` would make for ``recipients``, in order."""
    if backend is BackendName.SENDGRID:
        return [
            len(serialize_request(to_sendgrid_request(content, unit, sandbox=sandbox)).encode("utf-8"))
            for unit in plan_requests(content, recipients)
        ]
    if backend is BackendName.SMTP:
        return [len(smtp_bytes(build_mime(content, recipient, now=now))) for recipient in recipients]
    if backend is BackendName.OUTBOX:
        return [len(build_mime(content, recipient, now=now).as_bytes()) for recipient in recipients]
    raise NotImplementedError(f"backend {backend.value!r} has no request sizes")
