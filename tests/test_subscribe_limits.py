"""Subscription bombing: the subscribe form's limits, over HTTP, on SQLite and PostgreSQL.

One page's cookie and CSRF token can be replayed at will, so the form itself must
not be a way to fill a stranger's mailbox: confirmation mails are limited per
address (case and +tag variants count as one) and requests per client address,
in the database, so the limits hold across web processes and restarts. Over a
limit the visitor sees the same answer as always and nothing is mailed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.db.engine import make_engine
from newsletter.db.models import Subscriber, SubscriberStatus
from newsletter.subscribers.limits import client_limit_key, limited_address
from newsletter.web import create_app
from tests.conftest import TEST_SECRET, make_settings
from tests.web_helpers import (
    Clock,
    TestClient,
    active_subscriber,
    add_regions,
    confirm,
    csrf_from,
    free_port,
    link_in,
    outbox_messages,
    subscribe,
    subscriber_state,
)

SENT = (303, "/subscribe/check-your-inbox")


def _client(settings: Settings, engine: sa.Engine, clock: Clock, host: str = "testclient") -> TestClient:
    app = create_app(settings, engine, clock=clock)
    return TestClient(app, base_url="https://testserver", follow_redirects=False, client=(host, 50000))


def _post(client: TestClient, token: str, address: str) -> Any:
    return client.post("/subscribe", data={"email": address, "regions": ["dc"], "csrf_token": token})


def _answer(response: Any) -> tuple[int, str]:
    return response.status_code, response.headers.get("location", "")


def test_the_limit_key_joins_the_spellings_of_one_mailbox() -> None:
    assert limited_address("Victim+News@Example.COM") == "victim@example.com"
    assert limited_address("victim+a+b@example.com") == "victim@example.com"
    # Gmail ignores dots in the local part (and googlemail.com is the same service);
    # elsewhere a dot is part of the name.
    assert limited_address("V.I.C.Tim+x@GoogleMail.com") == "victim@gmail.com"
    assert limited_address("first.last@example.com") == "first.last@example.com"


def test_the_client_key_covers_an_ipv6_network_and_unwraps_mapped_ipv4() -> None:
    secret = TEST_SECRET.encode()
    assert client_limit_key(secret, "2001:db8:1:2::1") == client_limit_key(secret, "2001:db8:1:2:ffff::9")
    assert client_limit_key(secret, "2001:db8:1:2::1") != client_limit_key(secret, "2001:db8:1:3::1")
    assert client_limit_key(secret, "::ffff:192.0.2.7") == client_limit_key(secret, "192.0.2.7")
    assert client_limit_key(secret, "192.0.2.7") != client_limit_key(secret, "192.0.2.8")
    # Keys are keyed hashes: the table never holds an address in clear.
    assert "192.0.2.7" not in client_limit_key(secret, "192.0.2.7")


def test_one_page_replayed_mails_one_mailbox_at_most_three_times_a_day(
    web_settings: Settings, web_engine: sa.Engine, clock: Clock, tmp_path: Path, db_url: str
) -> None:
    settings = make_settings(db_url, tmp_path, subscribe_requests_per_minute=1000)
    variants = ["victim@example.com", "Victim@Example.COM", "victim+news@example.com", "VICTIM+x1@example.com"]
    with _client(settings, web_engine, clock) as attacker:
        token = csrf_from(attacker.get("/").text)
        answers = [_post(attacker, token, variants[i % len(variants)]) for i in range(25)]
        assert {_answer(a) for a in answers} == {SENT}
        assert len({a.content for a in answers}) == 1
        assert len(outbox_messages(settings)) == 3

        # The victim confirms, then unsubscribes; the attacker goes on.
        first = outbox_messages(settings)[0]
        assert confirm(attacker, link_in(first, "/confirm/", settings)).status_code == 200
        unsubscribe = re.search(r"<https://[^/>]+(/u/[^>]+)>", first["List-Unsubscribe"])
        assert unsubscribe is not None
        attacker.post(unsubscribe.group(1), data={"List-Unsubscribe": "One-Click"})
        assert subscriber_state(web_engine, first["To"])[0] == "unsubscribed"
        clock.advance(timedelta(hours=2))
        assert {_answer(_post(attacker, token, v)) for v in variants} == {SENT}
        assert len(outbox_messages(settings)) == 3

        # Two days on, the owner may subscribe again: double opt-in, one mail.
        clock.advance(timedelta(days=2))
        assert _answer(_post(attacker, token, "victim@example.com")) == SENT
        assert len(outbox_messages(settings)) == 4


def test_a_client_address_gets_ten_requests_a_minute(
    web_settings: Settings, web_engine: sa.Engine, clock: Clock
) -> None:
    with (
        _client(web_settings, web_engine, clock, host="203.0.113.5") as noisy,
        _client(web_settings, web_engine, clock, host="198.51.100.7") as other,
    ):
        token = csrf_from(noisy.get("/").text)
        answers = [_post(noisy, token, f"reader{i}@example.com") for i in range(14)]
        assert {_answer(a) for a in answers} == {SENT}
        assert len({a.content for a in answers}) == 1
        assert len(outbox_messages(web_settings)) == 10
        # Over the limit nothing is written either.
        with Session(web_engine) as session:
            assert session.get(Subscriber, 11) is None
        # Bad input still gets its explanation, and another client is served.
        assert (
            noisy.post("/subscribe", data={"email": "nope", "regions": ["dc"], "csrf_token": token}).status_code == 400
        )
        assert _answer(subscribe(other, "elsewhere@example.com", ["dc"])) == SENT
        assert len(outbox_messages(web_settings)) == 11
        # A minute or two later the first client is served again.
        clock.advance(timedelta(minutes=2))
        assert _answer(_post(noisy, token, "later@example.com")) == SENT
        assert len(outbox_messages(web_settings)) == 12


@pytest.fixture
def second_engine(db_url: str, web_engine: sa.Engine) -> Iterator[sa.Engine]:
    """Another engine on the same database, as another web process would have."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def test_limits_hold_across_two_app_instances_and_a_restart(
    web_settings: Settings, web_engine: sa.Engine, second_engine: sa.Engine, clock: Clock, db_url: str
) -> None:
    with _client(web_settings, web_engine, clock) as one, _client(web_settings, second_engine, clock) as two:
        token = csrf_from(one.get("/").text)
        nonce = one.cookies["__Host-csrf"]
        two.cookies.set("__Host-csrf", nonce)  # the same replayed page, whichever process answers
        for i in range(6):
            assert _answer(_post((one, two)[i % 2], token, "shared@example.com")) == SENT
        assert len(outbox_messages(web_settings)) == 3

        clock.advance(timedelta(minutes=2))
        for i in range(14):
            assert _answer(_post((one, two)[i % 2], token, f"many{i}@example.com")) == SENT
        assert len(outbox_messages(web_settings)) == 3 + 10

    # A restarted process (a new engine, a new app) keeps counting.
    restarted = make_engine(db_url)
    try:
        with _client(web_settings, restarted, clock) as three:
            three.cookies.set("__Host-csrf", nonce)
            assert _answer(_post(three, token, "Shared+again@example.com")) == SENT
            assert _answer(_post(three, token, "one-more@example.com")) == SENT
    finally:
        restarted.dispose()
    assert len(outbox_messages(web_settings)) == 3 + 10


@pytest.mark.parametrize("status", [SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED])
def test_a_bounced_or_complained_address_gets_no_mail_from_the_form(
    client: TestClient, web_settings: Settings, web_engine: sa.Engine, status: SubscriberStatus
) -> None:
    active_subscriber(web_engine, web_settings, "stopped@example.com", ["dc"])
    with Session(web_engine) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == "stopped@example.com")).one()
        subscriber.status = status
        session.commit()
    stopped = subscribe(client, " Stopped@Example.com", ["bxl"])
    stranger = subscribe(client, "stranger@example.com", ["bxl"])
    assert _answer(stopped) == _answer(stranger) == SENT
    assert stopped.content == stranger.content
    assert [m["To"] for m in outbox_messages(web_settings)] == ["stranger@example.com"]
    assert subscriber_state(web_engine, "stopped@example.com")[0] == status.value


def test_an_unsubscribed_address_may_come_back_by_double_opt_in(
    client: TestClient, web_settings: Settings, web_engine: sa.Engine
) -> None:
    active_subscriber(web_engine, web_settings, "left@example.com", ["dc"])
    with Session(web_engine) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == "left@example.com")).one()
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
        session.commit()
    assert _answer(subscribe(client, "left@example.com", ["bxl"])) == SENT
    [mail] = outbox_messages(web_settings)
    assert mail["To"] == "left@example.com" and "/confirm/" in link_in(mail, "/confirm/", web_settings)


def _wait_for_health(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited early"
        try:
            httpx.get(url + "/health", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server never answered /health")


def test_two_serve_processes_hammered_at_once_mail_three_times(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    add_regions(engine)
    engine.dispose()
    ports = [free_port(), free_port()]
    env = {
        **os.environ,
        "NEWSLETTER_SECRET_KEY": TEST_SECRET,
        "NEWSLETTER_DATABASE_URL": db_url,
        "NEWSLETTER_OUTBOX_DIR": str(tmp_path / "outbox"),
        "NEWSLETTER_BASE_URL": f"http://127.0.0.1:{ports[0]}",
        "NEWSLETTER_SUBSCRIBE_REQUESTS_PER_MINUTE": "1000",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "newsletter", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            _wait_for_health(url, process)
        page = httpx.get(urls[0] + "/")
        cookies = {"csrf": page.cookies["csrf"]}
        token = csrf_from(page.text)

        def post(i: int) -> int:
            data = {"email": f"Target+{i}@example.com", "regions": ["dc"], "csrf_token": token}
            return httpx.post(urls[i % 2] + "/subscribe", data=data, cookies=cookies, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(post, range(30)))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
    assert statuses == [303] * 30
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 3


def test_limit_settings_must_be_positive(tmp_path: Path, sqlite_url: str) -> None:
    from newsletter.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="NEWSLETTER_SUBSCRIBE_MAILS_PER_DAY"):
        make_settings(sqlite_url, tmp_path, subscribe_mails_per_day=0)
    with pytest.raises(ConfigurationError, match="NEWSLETTER_SUBSCRIBE_REQUESTS_PER_MINUTE"):
        make_settings(sqlite_url, tmp_path, subscribe_requests_per_minute=-1)
