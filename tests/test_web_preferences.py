"""The preference page: regions, pause, unsubscribe from everything, CSRF, revoked links."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.config import Settings
from newsletter.db.models import Event, StatusChange, Subscriber, SubscriberStatus
from newsletter.subscribers.tokens import manage_token
from tests.conftest import run_cli
from tests.web_helpers import (
    Clock,
    TestClient,
    active_subscriber,
    checked_regions,
    confirm,
    csrf_from,
    link_in,
    outbox_messages,
    subscribe,
    subscriber_state,
)


def test_page_shows_the_subscribers_regions(client: TestClient, web_engine: sa.Engine, web_settings: Settings) -> None:
    token = active_subscriber(web_engine, web_settings, "prefs@example.com", ["bxl"])
    page = client.get(f"/p/{token}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert "prefs@example.com" in page.text
    assert checked_regions(page.text) == {"bxl"}


def test_saving_changes_regions_and_pause_and_survives_a_reload(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    token = active_subscriber(web_engine, web_settings, "save@example.com", ["dc"])
    form = client.get(f"/p/{token}")
    saved = client.post(
        f"/p/{token}",
        data={"regions": ["bxl", "lagos"], "paused": "1", "action": "save", "csrf_token": csrf_from(form.text)},
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/p/{token}?saved=1"
    assert subscriber_state(web_engine, "save@example.com") == ("active", True, {"bxl", "lagos"})

    reloaded = client.get(saved.headers["location"])
    assert "Your preferences are saved." in reloaded.text and "Your editions are paused." in reloaded.text
    assert checked_regions(reloaded.text) == {"bxl", "lagos"}

    unpause = client.post(
        f"/p/{token}", data={"regions": ["lagos"], "action": "save", "csrf_token": csrf_from(reloaded.text)}
    )
    assert unpause.status_code == 303
    assert subscriber_state(web_engine, "save@example.com") == ("active", False, {"lagos"})


def test_unsubscribe_from_everything_and_come_back(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    token = active_subscriber(web_engine, web_settings, "leave@example.com", ["dc", "bxl"])
    csrf = csrf_from(client.get(f"/p/{token}").text)
    gone = client.post(f"/p/{token}", data={"action": "unsubscribe", "regions": ["dc"], "csrf_token": csrf})
    assert gone.status_code == 200 and "You are unsubscribed" in gone.text
    assert subscriber_state(web_engine, "leave@example.com")[0] == "unsubscribed"

    page = client.get(f"/p/{token}")
    assert "You are not receiving any editions" in page.text and checked_regions(page.text) == set()
    back = client.post(f"/p/{token}", data={"regions": ["dc"], "action": "save", "csrf_token": csrf_from(page.text)})
    assert back.status_code == 303
    assert subscriber_state(web_engine, "leave@example.com") == ("active", False, {"dc"})


def test_saving_with_no_region_is_an_unsubscribe(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    token = active_subscriber(web_engine, web_settings, "none@example.com", ["dc"])
    csrf = csrf_from(client.get(f"/p/{token}").text)
    assert client.post(f"/p/{token}", data={"action": "save", "csrf_token": csrf}).status_code == 303
    assert subscriber_state(web_engine, "none@example.com")[0] == "unsubscribed"


def test_a_pending_subscriber_cannot_be_activated_from_the_preference_page(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings, clock: Clock
) -> None:
    subscribe(client, "late@example.com", ["dc"])
    message = outbox_messages(web_settings)[-1]
    # The confirmation mail's List-Unsubscribe carries the manage token.
    manage = re.search(r"/u/([A-Za-z0-9_.\-]+)>", message["List-Unsubscribe"]).group(1)  # type: ignore[union-attr]
    clock.advance(timedelta(days=30))  # the confirmation link has expired
    page = client.get(f"/p/{manage}")
    assert page.status_code == 200 and "not confirmed yet" in page.text
    assert 'value="save"' not in page.text
    answer = client.post(f"/p/{manage}", data={"csrf_token": csrf_from(page.text), "regions": ["dc"], "action": "save"})
    assert answer.status_code == 409 and "not confirmed yet" in answer.text
    assert subscriber_state(web_engine, "late@example.com") == ("pending", False, set())
    # Leaving is still one click away.
    answer = client.post(f"/p/{manage}", data={"csrf_token": csrf_from(page.text), "action": "unsubscribe"})
    assert answer.status_code == 200
    assert subscriber_state(web_engine, "late@example.com")[0] == "unsubscribed"


@pytest.mark.parametrize("status", [SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED])
def test_bounced_or_complained_subscribers_must_opt_in_again(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings, status: SubscriberStatus
) -> None:
    token = active_subscriber(web_engine, web_settings, "stopped@example.com", ["dc"])
    with Session(web_engine) as session:
        subscriber = session.get(Subscriber, subscriber_id_of(web_engine, "stopped@example.com"))
        assert subscriber is not None
        subscriber.status = status
        session.commit()
    page = client.get(f"/p/{token}")
    assert page.status_code == 200 and "ask for a confirmation email" in page.text and 'value="save"' not in page.text
    # The page offers no region form; post the one an older copy of the page had.
    csrf = csrf_from(page.text)
    answer = client.post(f"/p/{token}", data={"csrf_token": csrf, "regions": ["dc"], "action": "save"})
    assert answer.status_code == 409 and "ask for a confirmation email" in answer.text
    assert subscriber_state(web_engine, "stopped@example.com")[0] == status.value

    # The public form mails this address nothing; its owner's page can ask for a confirmation.
    assert outbox_messages(web_settings) == []
    asked = client.post(f"/p/{token}", data={"csrf_token": csrf, "action": "confirm"})
    assert (asked.status_code, asked.headers["location"]) == (303, "/subscribe/check-your-inbox")
    [mail] = outbox_messages(web_settings)
    assert mail["To"] == "stopped@example.com"
    assert subscriber_state(web_engine, "stopped@example.com")[0] == status.value  # nothing changes until confirmed
    assert confirm(client, link_in(mail, "/confirm/", web_settings)).status_code == 200
    assert subscriber_state(web_engine, "stopped@example.com") == ("active", False, {"dc"})


def test_asking_for_confirmations_from_the_page_is_limited_too(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    token = active_subscriber(web_engine, web_settings, "asks@example.com", ["dc"])
    with Session(web_engine) as session:
        subscriber = session.get(Subscriber, subscriber_id_of(web_engine, "asks@example.com"))
        assert subscriber is not None
        subscriber.status = SubscriberStatus.BOUNCED
        session.commit()
    csrf = csrf_from(client.get(f"/p/{token}").text)
    answers = [client.post(f"/p/{token}", data={"csrf_token": csrf, "action": "confirm"}) for _ in range(5)]
    assert {(a.status_code, a.headers["location"]) for a in answers} == {(303, "/subscribe/check-your-inbox")}
    assert len(outbox_messages(web_settings)) == 3
    # An active subscriber has nothing to confirm.
    active = active_subscriber(web_engine, web_settings, "fine@example.com", ["dc"])
    csrf = csrf_from(client.get(f"/p/{active}").text)
    answer = client.post(f"/p/{active}", data={"csrf_token": csrf, "action": "confirm"})
    assert answer.status_code == 409 and "Nothing was sent" in answer.text


def test_csrf_is_bound_to_the_browser_and_to_the_subscriber(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    mine = active_subscriber(web_engine, web_settings, "mine@example.com", ["dc"])
    theirs = active_subscriber(web_engine, web_settings, "theirs@example.com", ["dc"])
    my_csrf = csrf_from(client.get(f"/p/{mine}").text)
    client.get(f"/p/{theirs}")

    # A field taken from one subscriber's page does nothing on another's.
    stolen = client.post(f"/p/{theirs}", data={"regions": ["bxl"], "action": "save", "csrf_token": my_csrf})
    missing = client.post(f"/p/{theirs}", data={"regions": ["bxl"], "action": "save"})
    client.cookies.clear()
    no_cookie = client.post(f"/p/{mine}", data={"regions": ["bxl"], "action": "save", "csrf_token": my_csrf})
    for answer in (stolen, missing, no_cookie):
        assert answer.status_code == 403 and "Nothing was changed" in answer.text
    assert subscriber_state(web_engine, "theirs@example.com") == ("active", False, {"dc"})
    assert subscriber_state(web_engine, "mine@example.com") == ("active", False, {"dc"})


def test_unknown_region_changes_nothing(client: TestClient, web_engine: sa.Engine, web_settings: Settings) -> None:
    token = active_subscriber(web_engine, web_settings, "odd@example.com", ["dc"])
    csrf = csrf_from(client.get(f"/p/{token}").text)
    answer = client.post(f"/p/{token}", data={"regions": ["bxl", "nowhere"], "action": "save", "csrf_token": csrf})
    assert answer.status_code == 400
    assert subscriber_state(web_engine, "odd@example.com") == ("active", False, {"dc"})


def test_revoked_links_stop_working(client: TestClient, web_engine: sa.Engine, web_settings: Settings) -> None:
    token = active_subscriber(web_engine, web_settings, "revoke@example.com", ["dc"])
    csrf = csrf_from(client.get(f"/p/{token}").text)
    with Session(web_engine) as session:
        subscriber = session.get(Subscriber, int(subscriber_id_of(web_engine, "revoke@example.com")))
        assert subscriber is not None
        subscriber.token_version += 1
        session.commit()
        new_token = manage_token(web_settings.secret, subscriber.id or 0, subscriber.token_version)

    for answer in (
        client.get(f"/p/{token}"),
        client.get(f"/u/{token}"),
        client.post(f"/p/{token}", data={"regions": ["bxl"], "csrf_token": csrf}),
        client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}),
    ):
        assert answer.status_code == 400 and "replaced by a newer one" in answer.text
    assert subscriber_state(web_engine, "revoke@example.com") == ("active", False, {"dc"})
    assert client.get(f"/p/{new_token}").status_code == 200


def test_an_operator_revokes_links_from_the_command_line(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings, tmp_path: Path
) -> None:
    token = active_subscriber(web_engine, web_settings, "forwarded@example.com", ["dc"])
    assert client.get(f"/p/{token}").status_code == 200
    done = run_cli(["revoke-links", "Forwarded@Example.com"], web_settings.database_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "forwarded@example.com" in done.stdout
    answer = client.get(f"/p/{token}")
    assert answer.status_code == 400 and "replaced by a newer one" in answer.text
    # Links do not expire when newer mails are sent; the page must not claim they do.
    assert "when newer ones are sent" not in answer.text
    assert subscriber_state(web_engine, "forwarded@example.com") == ("active", False, {"dc"})

    unknown = run_cli(["revoke-links", "nobody@example.com"], web_settings.database_url, tmp_path)
    assert unknown.returncode == 1 and "no subscriber" in unknown.stderr
    invalid = run_cli(["revoke-links", "not-an-address"], web_settings.database_url, tmp_path)
    assert invalid.returncode != 0 and "Traceback" not in invalid.stderr


def test_forged_manage_tokens_get_a_friendly_page(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    token = active_subscriber(web_engine, web_settings, "forged@example.com", ["dc"])
    payload, signature = token.split(".")
    for bad in (token[:-1], payload, f"{payload}.{'A' * len(signature)}", "nonsense", f"{token}.extra"):
        answer = client.get(f"/p/{bad}")
        assert answer.status_code == 400, bad
        assert "This link does not work" in answer.text and "Traceback" not in answer.text


def test_other_spellings_of_a_valid_token_are_refused(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    token = active_subscriber(web_engine, web_settings, "spelling@example.com", ["dc"])
    payload, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same_bytes = signature[:-1] + alphabet[alphabet.index(signature[-1]) ^ 1]  # only spare bits differ
    assert client.get(f"/p/{token}").status_code == 200
    for alias in (
        f"{payload}!!!!.{signature}",
        f"{payload[:2]}~~~~{payload[2:]}.{signature}",
        f"{payload}.{same_bytes}",
        f"{payload}.{signature}==",
    ):
        answer = client.get(f"/p/{alias}")
        assert answer.status_code == 400, alias
        assert "This link does not work" in answer.text


def test_a_confirmation_token_is_not_a_manage_token(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    from newsletter.subscribers.tokens import confirm_token
    from tests.web_helpers import START

    active_subscriber(web_engine, web_settings, "purpose@example.com", ["dc"])
    subscriber_id = subscriber_id_of(web_engine, "purpose@example.com")
    wrong_purpose = confirm_token(web_settings.secret, subscriber_id, 1, now=START)
    answer = client.get(f"/p/{wrong_purpose}")
    assert answer.status_code == 400 and "not meant for this page" in answer.text


def subscriber_id_of(engine: sa.Engine, address: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(sa.text("SELECT id FROM subscriber WHERE email = :e"), {"e": address}).scalar_one()
        )


def _unsubscribe_trace(engine: sa.Engine, email: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """The status history (old, cause, detail) and our own events (provider, type, raw type) of an address."""
    with Session(engine) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == email)).one()
        changes = session.exec(
            select(StatusChange).where(StatusChange.subscriber_id == subscriber.id).order_by(col(StatusChange.id))
        ).all()
        events = session.exec(select(Event).where(Event.subscriber_id == subscriber.id)).all()
    history = [
        (c.new_status.value, c.cause.value, c.detail) for c in changes if c.new_status is SubscriberStatus.UNSUBSCRIBED
    ]
    return history, [(e.provider, e.event_type.value, e.raw_type) for e in events]


def test_every_unsubscribe_of_our_pages_leaves_the_same_trace(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    """The preference page's button, a save with no region, and one-click: one function, one record each."""
    button = active_subscriber(web_engine, web_settings, "button@example.com", ["dc"])
    empty = active_subscriber(web_engine, web_settings, "empty@example.com", ["dc"])
    one_click = active_subscriber(web_engine, web_settings, "oneclick@example.com", ["dc"])
    csrf = csrf_from(client.get(f"/p/{button}").text)
    assert client.post(f"/p/{button}", data={"action": "unsubscribe", "csrf_token": csrf}).status_code == 200
    csrf = csrf_from(client.get(f"/p/{empty}").text)
    assert client.post(f"/p/{empty}", data={"action": "save", "csrf_token": csrf}).status_code == 303
    assert client.post(f"/u/{one_click}", data={"List-Unsubscribe": "One-Click"}).status_code == 200

    page = ([("unsubscribed", "form", "preference_page")], [("newsletter", "unsubscribe", "preference_page")])
    assert _unsubscribe_trace(web_engine, "button@example.com") == page
    assert _unsubscribe_trace(web_engine, "empty@example.com") == page  # it used to record no event for the report
    assert _unsubscribe_trace(web_engine, "oneclick@example.com") == (
        [("unsubscribed", "form", "one_click")],
        [("newsletter", "unsubscribe", "one_click")],
    )
