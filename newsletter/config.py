"""Settings: one class, read from the environment (and an optional ``.env``) at the entry point.

Environment names are part of the operator interface: ``NEWSLETTER_*`` for ours,
``SENDGRID_API_KEY`` and ``SENDGRID_API_HOST`` for SendGrid's own.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from newsletter.errors import ConfigurationError

# Only accepted when NEWSLETTER_DEMO is on; refused everywhere else.
DEMO_SECRET_KEY = "demo-secret-key-not-for-production-use-0000"
MIN_SECRET_LENGTH = 32


class BackendName(StrEnum):
    OUTBOX = "outbox"
    SMTP = "smtp"
    SENDGRID = "sendgrid"


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class Settings(BaseSettings):
    """Everything configurable. Build once with :func:`load_settings` and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSLETTER_", env_file=".env", extra="ignore", populate_by_name=True
    )

    demo: bool = False
    database_url: str = "sqlite:///var/newsletter.db"
    backend: BackendName = BackendName.OUTBOX
    outbox_dir: Path = Path("var/outbox")
    base_url: str = "http://localhost:8000"
    secret_key: SecretStr | None = None

    sender_name: str = "The Morning Wire"
    sender_address: str = "editions@news.example.com"
    reply_to: str | None = None
    unsubscribe_mailto: str = "unsubscribe@news.example.com"
    postal_address: str = "The Morning Wire, 100 Example Street, Suite 4, Springfield 00000"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: SmtpSecurity = SmtpSecurity.NONE
    smtp_timeout: float = 30.0

    sendgrid_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SENDGRID_API_KEY", "sendgrid_api_key")
    )
    sendgrid_api_host: str = Field(
        default="https://api.sendgrid.com",
        validation_alias=AliasChoices("SENDGRID_API_HOST", "sendgrid_api_host"),
    )
    sendgrid_sandbox: bool = False
    sendgrid_timeout: float = 30.0
    sendgrid_webhook_public_key: str | None = None

    batch_size: int = Field(default=1000, ge=1, le=1000)
    rate_limit_per_second: float = Field(default=0.0, ge=0)  # 0: no limit of our own
    concurrency: int = Field(default=4, ge=1, le=32)
    max_retries: int = Field(default=5, ge=0)
    error_threshold: float = Field(default=0.2, gt=0, le=1)
    edition_size: int = Field(default=5, ge=1, le=20)
    require_approval: bool = False
    misfire_grace_seconds: int = Field(default=7200, ge=0)

    @model_validator(mode="after")
    def _secret_is_safe(self) -> Settings:
        secret = self.secret_key.get_secret_value() if self.secret_key else ""
        if self.demo:
            if not secret:
                self.secret_key = SecretStr(DEMO_SECRET_KEY)
            return self
        if not secret:
            raise ValueError(
                "NEWSLETTER_SECRET_KEY is not set. Set it to a random string of at least "
                f"{MIN_SECRET_LENGTH} characters, or set NEWSLETTER_DEMO=1 for a local demo."
            )
        if secret == DEMO_SECRET_KEY:
            raise ValueError(
                "NEWSLETTER_SECRET_KEY is the demo placeholder; it is only accepted "
                "with NEWSLETTER_DEMO=1."
            )
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"NEWSLETTER_SECRET_KEY is too short ({len(secret)} characters); "
                f"use at least {MIN_SECRET_LENGTH}."
            )
        return self

    @property
    def secret(self) -> bytes:
        assert self.secret_key is not None  # guaranteed by the validator
        return self.secret_key.get_secret_value().encode()

    def require_sendgrid_key(self) -> str:
        if self.sendgrid_api_key is None or not self.sendgrid_api_key.get_secret_value():
            raise ConfigurationError(
                "SENDGRID_API_KEY is not set; it is required with NEWSLETTER_BACKEND=sendgrid."
            )
        return self.sendgrid_api_key.get_secret_value()


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation failures into one readable ConfigurationError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            name = f"NEWSLETTER_{where.upper()}" if where else ""
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {message}" if name else message)
        raise ConfigurationError("invalid settings: " + "; ".join(lines)) from None
