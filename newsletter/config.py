"""Settings: one class, read from the environment (and an optional ``.env``) at the entry point.

Environment names are part of the operator interface: ``NEWSLETTER_*`` for ours,
``SENDGRID_API_KEY`` and ``SENDGRID_API_HOST`` for SendGrid's own.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from newsletter.addresses import InvalidAddress, normalise_email
from newsletter.errors import ConfigurationError

# Only accepted when NEWSLETTER_DEMO is on; refused everywhere else.
DEMO_SECRET_KEY = "demo-secret-key-not-for-production-use-0000"
MIN_SECRET_LENGTH = 32


def is_loopback_host(host: str) -> bool:
    """localhost or a loopback IP: traffic that never leaves this machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_problem(variable: str, value: str, *, allow_http: bool) -> str | None:
    """Why this URL is unsafe as a base for links or API calls, or None if it is fine."""
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return f"{variable} is not a valid URL: {value!r}"
    if parts.scheme not in ("http", "https") or not host:
        return f"{variable} must be an absolute http(s) URL with a host, like https://news.example.com (got {value!r})"
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return f"{variable} must not carry credentials, a query or a fragment (got {value!r})"
    if any(ch.isspace() or ch in "<>\"'" for ch in value):
        return f"{variable} contains characters that cannot appear in a URL (got {value!r})"
    if parts.scheme == "http" and not (allow_http or is_loopback_host(host)):
        where = "a loopback host or demo mode" if variable == "NEWSLETTER_BASE_URL" else "a loopback host"
        return f"{variable} must use https (plain http is only accepted for {where}; got {value!r})"
    return None


def _address_problem(variable: str, value: str) -> str | None:
    try:
        normalise_email(value)
    except InvalidAddress as exc:
        return f"{variable} is not a valid email address ({value!r}): {exc}"
    if value != value.strip():
        return f"{variable} has spaces around the address ({value!r})"
    return None


QUEUE_SCHEMES = ("amqp", "amqps", "redis", "rediss")


def _queue_url_problem(value: str) -> str | None:
    """Why NEWSLETTER_QUEUE_URL is not a broker URL we support, or None. Never echoes it: it may hold a password."""
    if not value:
        return None
    scheme = urlsplit(value).scheme if "://" in value else ""
    if scheme not in QUEUE_SCHEMES or not urlsplit(value).hostname:
        return (
            "NEWSLETTER_QUEUE_URL must be a broker URL with a host, amqp://... or redis://... (also amqps, rediss), "
            f"or empty for in-process sends (got scheme {scheme or 'none'!r})"
        )
    return None


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

    model_config = SettingsConfigDict(env_prefix="NEWSLETTER_", env_file=".env", extra="ignore", populate_by_name=True)

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
    # Gmail clips HTML over about 102 KB (hiding the unsubscribe link); editions over this are refused.
    max_html_kb: int = Field(default=90, ge=10, le=10240)
    # SendGrid's open and click tracking for editions (the report's opens and clicks). Opens are off by
    # default: the pixel is a privacy cost, and privacy proxies (Apple MPP) make the figure unreliable.
    track_opens: bool = False
    track_clicks: bool = True
    # An unresolved delivery with no provider event after this long is what `release --without-events` frees.
    unresolved_event_wait_minutes: int = Field(default=30, ge=1, le=10080)
    # Subscribe form limits (see subscribe_limits): mails per address, requests per client.
    subscribe_mails_per_day: int = Field(default=3, ge=1, le=1000)
    subscribe_requests_per_minute: int = Field(default=10, ge=1, le=100000)
    # Content API (/api/v1/): requests per key a minute; the largest request body accepted.
    api_requests_per_minute: int = Field(default=120, ge=1, le=100000)
    api_max_body_kb: int = Field(default=256, ge=1, le=10240)
    # The task queue's broker (see newsletter.queue); empty: sends run in the calling process.
    queue_url: SecretStr = SecretStr("")
    queue_tasks: int = Field(default=4, ge=1, le=64)  # tasks one edition's send is fanned out to

    @model_validator(mode="after")
    def _addresses_and_urls_are_safe(self) -> Settings:
        # Each of these ends up in every mail (links, From, List-Unsubscribe) or
        # carries the API key, so a typo must stop start-up, not ship.
        problems = [
            _url_problem("NEWSLETTER_BASE_URL", self.base_url, allow_http=self.demo),
            _url_problem("SENDGRID_API_HOST", self.sendgrid_api_host, allow_http=False),
            _address_problem("NEWSLETTER_SENDER_ADDRESS", self.sender_address),
            _address_problem("NEWSLETTER_UNSUBSCRIBE_MAILTO", self.unsubscribe_mailto),
            _address_problem("NEWSLETTER_REPLY_TO", self.reply_to) if self.reply_to is not None else None,
        ]
        problems.append(_queue_url_problem(self.queue_url.get_secret_value()))
        found = [problem for problem in problems if problem is not None]
        if found:
            raise ValueError("; ".join(found))
        if self.demo and self.backend is not BackendName.OUTBOX:
            # Demo mode accepts a published placeholder secret: links made with it
            # can be forged by anyone, so it must never reach a real mailbox.
            raise ValueError(
                f"NEWSLETTER_DEMO=1 only works with NEWSLETTER_BACKEND=outbox (got {self.backend.value}); "
                "demo mode is for trying the pipeline locally, never for sending real mail."
            )
        return self

    @model_validator(mode="after")
    def _secret_is_safe(self) -> Settings:
        secret = self.secret_key.get_secret_value() if self.secret_key else ""
        if secret and not secret.strip():
            raise ValueError("NEWSLETTER_SECRET_KEY is blank (only whitespace); set it to a random string.")
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
                "NEWSLETTER_SECRET_KEY is the demo placeholder; it is only accepted with NEWSLETTER_DEMO=1."
            )
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"NEWSLETTER_SECRET_KEY is too short ({len(secret)} characters); use at least {MIN_SECRET_LENGTH}."
            )
        return self

    @property
    def secret(self) -> bytes:
        assert self.secret_key is not None  # guaranteed by the validator
        return self.secret_key.get_secret_value().encode()

    def require_sendgrid_key(self) -> str:
        if self.sendgrid_api_key is None or not self.sendgrid_api_key.get_secret_value():
            raise ConfigurationError("SENDGRID_API_KEY is not set; it is required with NEWSLETTER_BACKEND=sendgrid.")
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
