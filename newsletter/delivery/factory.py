"""Build the configured backend from settings (the only place that chooses one)."""

from __future__ import annotations

from newsletter.config import BackendName, Settings
from newsletter.delivery.base import Backend
from newsletter.delivery.outbox import OutboxBackend


def make_backend(settings: Settings) -> Backend:
    """The backend named by NEWSLETTER_BACKEND, configured from the same settings."""
    if settings.backend is BackendName.OUTBOX:
        return OutboxBackend(settings.outbox_dir)
    if settings.backend is BackendName.SMTP:
        from newsletter.delivery.smtp import SmtpBackend

        return SmtpBackend(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.smtp_timeout,
        )
    if settings.backend is BackendName.SENDGRID:
        # Imported here so the sendgrid client loads only where it is used.
        from newsletter.delivery.sendgrid import SendGridBackend

        return SendGridBackend(
            settings.require_sendgrid_key(),
            host=settings.sendgrid_api_host,
            timeout=settings.sendgrid_timeout,
            sandbox=settings.sendgrid_sandbox,
        )
    raise NotImplementedError(f"backend {settings.backend.value!r} has no implementation")
