"""One-click unsubscribe (RFC 8058) the way mail providers make it, and its GET page."""

from __future__ import annotations

import sqlalchemy as sa

from newsletter.config import Settings
from tests.web_helpers import TestClient, active_subscriber, subscriber_state


def test_provider_style_one_click_post_unsubscribes_at_once(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    token = active_subscriber(web_engine, web_settings, "oneclick@example.com", ["dc", "bxl"])
    client.cookies.clear()
    # Exactly what a mailbox provider sends: a bare url-encoded POST, no cookie, no token field.
    answer = client.post(
        f"/u/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200  # not a redirect: providers do not follow them
    assert "location" not in answer.headers and "set-cookie" not in answer.headers
    assert "You are unsubscribed" in answer.text
    assert subscriber_state(web_engine, "oneclick@example.com")[0] == "unsubscribed"
    # Providers may retry: a second POST is harmless.
    assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200


def test_multipart_one_click_body_is_accepted(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    token = active_subscriber(web_engine, web_settings, "multipart@example.com", ["dc"])
    answer = client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert answer.status_code == 200
    assert subscriber_state(web_engine, "multipart@example.com")[0] == "unsubscribed"


def test_get_only_shows_a_confirm_button(client: TestClient, web_engine: sa.Engine, web_settings: Settings) -> None:
    token = active_subscriber(web_engine, web_settings, "scanner@example.com", ["dc"])
    page = client.get(f"/u/{token}")
    assert page.status_code == 200
    assert f'<form method="post" action="/u/{token}">' in page.text
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page.text
    assert subscriber_state(web_engine, "scanner@example.com") == ("active", False, {"dc"})


def test_post_without_the_one_click_body_changes_nothing(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    token = active_subscriber(web_engine, web_settings, "nobody@example.com", ["dc"])
    for body in ({}, {"List-Unsubscribe": "Yes"}):
        assert client.post(f"/u/{token}", data=body).status_code == 400
    assert subscriber_state(web_engine, "nobody@example.com")[0] == "active"


def test_forged_unsubscribe_tokens_change_nothing(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    token = active_subscriber(web_engine, web_settings, "victim@example.com", ["dc"])
    payload, _ = token.split(".")
    for bad in (token[:-2], payload + ".AAAAAAAAAAAAAAAAAAAAAA", "x.y"):
        answer = client.post(f"/u/{bad}", data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 400 and "This link does not work" in answer.text
    assert subscriber_state(web_engine, "victim@example.com")[0] == "active"


def test_unknown_subscriber_looks_like_a_forged_link(client: TestClient, web_settings: Settings) -> None:
    from newsletter.subscribers.tokens import manage_token

    answer = client.post(f"/u/{manage_token(web_settings.secret, 999_999, 1)}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 400 and "this link is not valid" in answer.text
