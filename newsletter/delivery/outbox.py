"""The default backend: real .eml files in a folder per campaign, openable in any mail program."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from newsletter.delivery.base import MessageContent, Outcome, Recipient, SendResult
from newsletter.delivery.mime import build_mime
from newsletter.delivery.units import deliver_units
from newsletter.errors import TransientDeliveryError

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


class OutboxBackend:
    name = "outbox"

    def __init__(self, folder: Path, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.folder = folder
        self._clock = clock

    def send_batch(self, content: MessageContent, recipients: Sequence[Recipient]) -> list[SendResult]:
        target = self.folder / _UNSAFE.sub("_", content.campaign)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransientDeliveryError(f"outbox folder {target.name} cannot be created: {exc}") from None
        return deliver_units(([r] for r in recipients), lambda unit: [self._write(content, target, unit[0])])

    def _write(self, content: MessageContent, target: Path, recipient: Recipient) -> SendResult:
        message = build_mime(content, recipient, now=self._clock())
        path = target / self._file_name(recipient)
        # Write then rename: a crash never leaves a half-written message behind.
        partial = path.with_suffix(".eml.partial")
        try:
            partial.write_bytes(message.as_bytes())
            os.replace(partial, path)
        except OSError as exc:
            # Disk full, permissions: the message file never appeared, so this one and the
            # rest are certainly not "sent" and may be retried (not unknown).
            partial.unlink(missing_ok=True)
            raise TransientDeliveryError(f"outbox write failed: {exc}") from None
        return SendResult(recipient, Outcome.SENT, provider_message_id=message["Message-ID"])

    def _file_name(self, recipient: Recipient) -> str:
        address = _UNSAFE.sub("_", recipient.email)
        if recipient.ledger_id is not None:
            # One file per ledger row: a retried delivery replaces, never duplicates.
            return f"{recipient.ledger_id:09d}-{address}.eml"
        return f"{self._clock():%Y%m%dT%H%M%S%f}-{address}.eml"

    def close(self) -> None:
        pass
