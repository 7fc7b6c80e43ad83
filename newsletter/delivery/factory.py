"""Build the configured backend from settings (the only place that chooses one)."""

from __future__ import annotations

from newsletter.config import BackendName, Settings
from newsletter.delivery.base import Backend
from newsletter.delivery.outbox import OutboxBackend


def make_backend(settings: Settings) -> Backend:
    if settings.backend is BackendName.OUTBOX:
        return OutboxBackend(settings.outbox_dir)
    raise NotImplementedError(f"backend {settings.backend.value!r} is not available yet")
