"""Shared harness for the web tests: a real app on a real database, its outbox, a webhook key.

A pytest plugin (tests/conftest.py lists it): its fixtures reach every test without
an import; test modules import only its plain helpers.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.db.models import Region, Subscriber, Subscription
from newsletter.events.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER
from newsletter.web import create_app
from tests.conftest import make_settings

with warnings.catch_warnings():
    # Starlette 1.x wants the "httpx2" package for its TestClient and warns when it
    # falls back to httpx; the lock file pins httpx, which works. Only this import
    # is excused: every other warning still fails the run.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from starlette.testclient import TestClient

START = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
REGIONS = [
    ("dc", "Washington D.C.", "America/New_York"),
    ("bxl", "Brussels", "Europe/Brussels"),
    ("lagos", "Lagos", "Africa/Lagos"),
]


@dataclass
class Clock:
    """The app's clock; tests move it to expire links."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class WebhookKey:
    private: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_text(self) -> str:
        """As SendGrid shows it: base64 of the DER SubjectPublicKeyInfo, no armour."""
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    def sign(self, timestamp: str, body: bytes) -> str:
        signature = self.private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode("ascii")

    def headers(self, body: bytes, timestamp: str = "1764396000") -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: self.sign(timestamp, body),
            TIMESTAMP_HEADER: timestamp,
        }


def add_regions(engine: sa.Engine) -> None:
    with Session(engine) as session:
        for position, (code, name, zone) in enumerate(REGIONS):
            session.add(
                Region(
                    code=code,
                    name=name,
                    short_label=code.upper(),
                    timezone=zone,
                    send_time="06:30",
                    edition_name=f"The {name} Morning Wire",
                    position=position,
                )
            )
        session.commit()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def webhook_key() -> WebhookKey:
    return WebhookKey()


@pytest.fixture
def web_settings(db_url: str, tmp_path: Path, webhook_key: WebhookKey) -> Settings:
    return make_settings(db_url, tmp_path, sendgrid_webhook_public_key=webhook_key.public_text)


@pytest.fixture
def web_engine(web_settings: Settings, engine: sa.Engine) -> sa.Engine:
    add_regions(engine)
    return engine


@pytest.fixture
def client(web_settings: Settings, web_engine: sa.Engine, clock: Clock) -> Iterator[TestClient]:
    # https, like the configured base URL: the CSRF cookie is Secure and __Host- prefixed.
    app = create_app(web_settings, web_engine, clock=clock)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as test_client:
        yield test_client


def outbox_messages(settings: Settings) -> list[EmailMessage]:
    paths = sorted(settings.outbox_dir.rglob("*.eml"))
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in paths]  # type: ignore[misc]


def text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def link_in(message: EmailMessage, path_prefix: str, settings: Settings) -> str:
    """The first link under ``base_url + path_prefix`` in the text part, as a path."""
    base = settings.base_url.rstrip("/")
    match = re.search(re.escape(base + path_prefix) + r"[A-Za-z0-9_.\-]+", text_body(message))
    assert match, f"no {path_prefix} link in:\n{text_body(message)}"
    return match.group(0).removeprefix(base)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form has no CSRF field"
    return match.group(1)


def subscribe(client: TestClient, address: str, regions: list[str]) -> Any:
    page = client.get("/")
    return client.post("/subscribe", data={"email": address, "regions": regions, "csrf_token": csrf_from(page.text)})


def confirm(client: TestClient, confirm_path: str) -> Any:
    page = client.get(confirm_path)
    assert page.status_code == 200, page.text
    return client.post(confirm_path, data={"csrf_token": csrf_from(page.text)})


def subscriber_state(engine: sa.Engine, address: str) -> tuple[str, bool, set[str]]:
    """(status, paused, active region codes) as stored."""
    with Session(engine) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == address)).one()
        active = {
            row.region_code
            for row in session.exec(select(Subscription).where(Subscription.subscriber_id == subscriber.id))
            if row.active
        }
        return subscriber.status.value, subscriber.paused, active


def signed_post(client: TestClient, key: WebhookKey, events: list[Any]) -> Any:
    body = json.dumps(events).encode()
    return client.post("/webhooks/sendgrid", content=body, headers=key.headers(body))


def active_subscriber(engine: sa.Engine, settings: Settings, address: str, regions: list[str]) -> str:
    """Subscribe and confirm through the service layer; returns the manage token."""
    from newsletter.db.engine import session_scope
    from newsletter.subscribers import lifecycle as subscriptions

    with session_scope(engine) as session:
        outcome = subscriptions.subscribe(session, address, regions, secret=settings.secret, now=START)
        assert outcome is not None and outcome.confirm_token is not None
        subscriptions.confirm(session, outcome.confirm_token, secret=settings.secret, now=START)
    return outcome.manage_token


def checked_regions(html: str) -> set[str]:
    """Region codes whose checkbox is ticked on a rendered form."""
    tags = re.findall(r"<input\b[^>]*>", html)
    return {
        re.search(r'value="([^"]+)"', tag).group(1)  # type: ignore[union-attr]
        for tag in tags
        if 'name="regions"' in tag and re.search(r"\schecked\b", tag)
    }


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LiveServer:
    """The real app under a real uvicorn server on 127.0.0.1, in a thread of this process."""

    def __init__(self, settings: Settings, engine: sa.Engine, port: int) -> None:
        import threading

        from newsletter.web.server import make_server

        self.url = f"http://127.0.0.1:{port}"
        self._server = make_server(settings, host="127.0.0.1", port=port, engine=engine)
        self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
