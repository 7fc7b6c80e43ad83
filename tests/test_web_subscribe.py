"""Subscribe form and double opt-in, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.db.models import Subscriber
from newsletter.delivery.base import MessageContent, Outcome, Recipient, SendResult
from newsletter.subscribers.tokens import confirm_token
from newsletter.web import create_app
from tests.web_helpers import (
    START,
    Clock,
    TestClient,
    confirm,
    csrf_from,
    link_in,
    outbox_messages,
    subscribe,
    subscriber_state,
    text_body,
)


def test_subscribe_page_is_an_accessible_form(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert '<html lang="en">' in html
    assert '<label for="email">' in html and 'id="email"' in html
    assert "<legend>Regions</legend>" in html
    for code in ("dc", "bxl", "lagos"):
        assert f'<label class="choice" for="region-{code}">' in html
    assert 'name="viewport"' in html
    # The CSRF nonce rides in a Secure, HttpOnly, host-only cookie.
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-csrf=") and "HttpOnly" in cookie and "Secure" in cookie
    assert "samesite=lax" in cookie.lower()


def test_stylesheet_gives_keyboard_focus_a_visible_outline(client: TestClient) -> None:
    css = client.get("/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in css.text and "outline: 3px solid" in css.text


def test_subscribe_sends_a_confirmation_and_confirming_activates(
    client: TestClient, web_settings: Settings, web_engine: sa.Engine
) -> None:
    answer = subscribe(client, "  Reader@Example.COM ", ["dc", "lagos"])
    assert answer.status_code == 303 and answer.headers["location"] == "/subscribe/check-your-inbox"
    assert subscriber_state(web_engine, "reader@example.com") == ("pending", False, set())

    [message] = outbox_messages(web_settings)
    assert message["To"] == "reader@example.com"
    assert "Washington D.C., Lagos" in text_body(message)
    # Its List-Unsubscribe header works: "I never asked for this" is one click.
    assert "/u/" in message["List-Unsubscribe"] and message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    confirm_path = link_in(message, "/confirm/", web_settings)
    # Opening the link (as a mail scanner would) changes nothing.
    assert client.get(confirm_path).status_code == 200
    assert subscriber_state(web_engine, "reader@example.com")[0] == "pending"

    done = confirm(client, confirm_path)
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert subscriber_state(web_engine, "reader@example.com") == ("active", False, {"dc", "lagos"})
    # Confirming again is harmless.
    assert confirm(client, confirm_path).status_code == 200


def test_new_and_known_addresses_get_the_same_answer(
    client: TestClient, web_settings: Settings, web_engine: sa.Engine
) -> None:
    first = subscribe(client, "known@example.com", ["dc"])
    confirm(client, link_in(outbox_messages(web_settings)[0], "/confirm/", web_settings))

    known = subscribe(client, "known@example.com", ["bxl"])
    new = subscribe(client, "stranger@example.com", ["bxl"])
    for answer in (first, known, new):
        assert (answer.status_code, answer.headers["location"]) == (303, "/subscribe/check-your-inbox")
    assert known.content == new.content

    # The known address is told so by mail, and a stranger's form did not change its regions.
    assert subscriber_state(web_engine, "known@example.com") == ("active", False, {"dc"})
    mails = {m["To"]: m for m in outbox_messages(web_settings) if "already" in m["Subject"]}
    assert "/p/" in text_body(mails["known@example.com"])


def test_form_without_csrf_token_changes_nothing(client: TestClient, web_engine: sa.Engine) -> None:
    client.get("/")
    answer = client.post("/subscribe", data={"email": "csrf@example.com", "regions": ["dc"]})
    assert answer.status_code == 403 and "form has expired" in answer.text
    forged = client.post("/subscribe", data={"email": "csrf@example.com", "regions": ["dc"], "csrf_token": "x" * 43})
    assert forged.status_code == 403
    with Session(web_engine) as session:
        assert session.exec(select(Subscriber).where(Subscriber.email == "csrf@example.com")).first() is None


def test_csrf_token_without_its_cookie_is_refused(client: TestClient) -> None:
    token = csrf_from(client.get("/").text)
    client.cookies.clear()  # a cross-site attacker has the field's shape but not the victim's cookie
    answer = client.post("/subscribe", data={"email": "a@example.com", "regions": ["dc"], "csrf_token": token})
    assert answer.status_code == 403


def test_non_ascii_csrf_token_is_a_friendly_403(client: TestClient, web_engine: sa.Engine) -> None:
    client.get("/")  # the CSRF cookie is set
    for token in ("é", "\u00e9" * 43, "x" * 42 + "\u2028"):
        answer = client.post("/subscribe", data={"email": "na@example.com", "regions": ["dc"], "csrf_token": token})
        assert answer.status_code == 403 and "form has expired" in answer.text
    with Session(web_engine) as session:
        assert session.exec(select(Subscriber).where(Subscriber.email == "na@example.com")).first() is None


def test_invalid_address_is_explained_and_nothing_is_sent(client: TestClient, web_settings: Settings) -> None:
    answer = subscribe(client, "not-an-address", ["dc"])
    assert answer.status_code == 400
    assert "complete email address" in answer.text and 'aria-invalid="true"' in answer.text
    assert 'value="not-an-address"' in answer.text  # the visitor's text is kept, escaped
    assert outbox_messages(web_settings) == []


def test_region_is_required_and_must_exist(client: TestClient, web_settings: Settings) -> None:
    assert subscribe(client, "a@example.com", []).status_code == 400
    assert subscribe(client, "a@example.com", ["atlantis"]).status_code == 400
    assert outbox_messages(web_settings) == []


def test_visitor_text_is_escaped(client: TestClient) -> None:
    answer = subscribe(client, '"><script>alert(1)</script>', ["dc"])
    assert answer.status_code == 400
    assert "<script>alert(1)</script>" not in answer.text
    assert "&lt;script&gt;" in answer.text


def test_expired_confirmation_link_is_refused_kindly(
    client: TestClient, web_settings: Settings, web_engine: sa.Engine, clock: Clock
) -> None:
    subscribe(client, "late@example.com", ["dc"])
    confirm_path = link_in(outbox_messages(web_settings)[0], "/confirm/", web_settings)
    csrf = csrf_from(client.get(confirm_path).text)
    clock.advance(timedelta(days=8))
    for answer in (client.get(confirm_path), client.post(confirm_path, data={"csrf_token": csrf})):
        assert answer.status_code == 400
        assert "expired" in answer.text and "Traceback" not in answer.text
    assert subscriber_state(web_engine, "late@example.com")[0] == "pending"


def test_forged_and_truncated_confirmation_links_are_refused(
    client: TestClient, web_settings: Settings, web_engine: sa.Engine
) -> None:
    subscribe(client, "forge@example.com", ["dc"])
    good = link_in(outbox_messages(web_settings)[0], "/confirm/", web_settings)
    # The link carries the requested regions after the signed token, bound by a MAC.
    payload, signature, regions, mac = good.removeprefix("/confirm/").split(".")
    other_key = confirm_token(b"another-secret-key-of-enough-length!!", 1, 1, now=START)
    for bad in (
        good[:-1],
        good[:-4],
        good[: -len(mac) - 1],  # cut just before the MAC
        f"/confirm/{payload}",
        f"/confirm/{payload}.{signature[::-1]}.{regions}.{mac}",
        f"/confirm/{other_key}",
        f"/confirm/{payload}.{signature}.bxl.{mac}",
        f"/confirm/{payload}.{signature}.{regions}",
        f"/confirm/{payload}.{signature}",
        "/confirm/%00%ff",
        "/confirm/" + "A" * 500,
    ):
        answer = client.get(bad)
        assert answer.status_code == 400, bad
        assert "This link does not work" in answer.text
    assert subscriber_state(web_engine, "forge@example.com")[0] == "pending"


def test_a_confirmation_link_stripped_of_its_regions_is_refused(
    client: TestClient, web_settings: Settings, web_engine: sa.Engine
) -> None:
    subscribe(client, "strip@example.com", ["dc"])
    good = link_in(outbox_messages(web_settings)[0], "/confirm/", web_settings)
    payload, signature, _regions, _mac = good.removeprefix("/confirm/").split(".")
    # The signed two-part token alone (the old link format) must not confirm anything.
    stripped = f"/confirm/{payload}.{signature}"
    opened = client.get(stripped)
    assert opened.status_code == 400 and "This link does not work" in opened.text
    from newsletter.web.csrf import form_token

    # A post with a valid form token for that path, as a hand-made form would send.
    scoped = form_token(web_settings.secret, client.cookies["__Host-csrf"], stripped.removeprefix("/confirm/"))
    answer = client.post(stripped, data={"csrf_token": scoped})
    assert answer.status_code == 400 and "This link does not work" in answer.text
    assert subscriber_state(web_engine, "strip@example.com")[0] == "pending"

    from newsletter.db.engine import session_scope
    from newsletter.errors import TokenError
    from newsletter.subscribers import lifecycle as subscriptions

    with session_scope(web_engine) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == "strip@example.com")).one()
        assert subscriber.id is not None
        plain = confirm_token(web_settings.secret, subscriber.id, subscriber.token_version, now=START)
        for token in (plain, stripped.removeprefix("/confirm/")):
            with pytest.raises(TokenError, match="malformed or incomplete"):
                subscriptions.confirm(session, token, secret=web_settings.secret, now=START)
    assert subscriber_state(web_engine, "strip@example.com")[0] == "pending"
    # The whole link still works.
    assert confirm(client, good).status_code == 200


def test_a_strangers_request_does_not_rewrite_a_pending_subscribers_regions(
    client: TestClient, web_settings: Settings, web_engine: sa.Engine
) -> None:
    subscribe(client, "victim@example.com", ["dc"])
    own_link = link_in(outbox_messages(web_settings)[-1], "/confirm/", web_settings)
    subscribe(client, "victim@example.com", ["bxl", "lagos"])  # someone else, typing the same address
    assert confirm(client, own_link).status_code == 200
    assert subscriber_state(web_engine, "victim@example.com") == ("active", False, {"dc"})


def test_an_old_confirmation_cannot_undo_an_unsubscribe(
    client: TestClient, web_settings: Settings, web_engine: sa.Engine, clock: Clock
) -> None:
    subscribe(client, "undo@example.com", ["dc"])
    message = outbox_messages(web_settings)[0]
    confirm_path = link_in(message, "/confirm/", web_settings)
    confirm(client, confirm_path)
    clock.advance(timedelta(minutes=5))
    unsubscribe_url = re.search(r"<(https://[^>]+/u/[^>]+)>", message["List-Unsubscribe"]).group(1)  # type: ignore[union-attr]
    client.post(unsubscribe_url.removeprefix(web_settings.base_url), data={"List-Unsubscribe": "One-Click"})
    assert subscriber_state(web_engine, "undo@example.com")[0] == "unsubscribed"

    clock.advance(timedelta(minutes=5))
    again = confirm(client, confirm_path)
    assert again.status_code == 400 and "older than your last unsubscribe" in again.text
    assert subscriber_state(web_engine, "undo@example.com")[0] == "unsubscribed"


class RefusingBackend:
    """A backend that refuses every recipient, as a provider would a blocked address."""

    name = "refusing"

    def send_batch(self, content: MessageContent, recipients: Sequence[Recipient]) -> list[SendResult]:
        return [SendResult(r, Outcome.FAILED, error="550 mailbox unavailable") for r in recipients]

    def close(self) -> None:
        pass


def test_a_refused_confirmation_mail_asks_the_visitor_to_retry(
    web_settings: Settings, web_engine: sa.Engine, clock: Clock
) -> None:
    app = create_app(web_settings, web_engine, backend_factory=RefusingBackend, clock=clock)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as refusing:
        answer = subscribe(refusing, "retry@example.com", ["dc"])
    assert answer.status_code == 503 and "could not send the email" in answer.text
    # The request itself is kept: submitting again sends again.
    assert subscriber_state(web_engine, "retry@example.com")[0] == "pending"
