"""App-wide behaviour: health, security headers, friendly error pages, token-free logs."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.db.models import Edition, EditionStatus
from newsletter.web import create_app
from newsletter.web.access_log import RedactTokens, redact_tokens
from tests.web_helpers import (
    TestClient,
    WebhookKey,
    active_subscriber,
    confirm,
    link_in,
    outbox_messages,
    signed_post,
    subscribe,
    subscriber_state,
)

SENT_DAY = date(2026, 11, 28)  # an archive entry's date, never compared with any clock


def test_health_reports_the_database(client: TestClient) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200 and answer.json() == {"status": "ok", "database": "ok"}


def test_health_is_503_when_the_database_is_gone(web_settings: Settings, tmp_path: Path) -> None:
    # A path below a regular file can never be opened as a database.
    blocker = tmp_path / "file"
    blocker.write_text("")
    engine = sa.create_engine(f"sqlite:///{blocker}/unreachable.db")
    with TestClient(create_app(web_settings, engine), base_url="https://testserver") as broken:
        answer = broken.get("/health")
    assert answer.status_code == 503 and answer.json()["database"] == "unreachable"


def test_every_page_sends_security_headers(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings, webhook_key: WebhookKey
) -> None:
    manage = active_subscriber(web_engine, web_settings, "reader@example.org", ["dc"])
    with Session(web_engine) as session:
        session.add(Edition(region_code="dc", local_date=SENT_DAY, status=EditionStatus.SENT, html="<p>x</p>"))
        session.commit()
    answers = {"subscribe form": client.get("/")}
    answers["subscribe"] = subscribe(client, "new@example.org", ["dc"])
    answers["check your inbox"] = client.get("/subscribe/check-your-inbox")
    confirm_path = link_in(outbox_messages(web_settings)[-1], "/confirm/", web_settings)
    answers["confirm page"] = client.get(confirm_path)
    answers["confirmed"] = confirm(client, confirm_path)
    answers["preferences"] = client.get(f"/p/{manage}")
    answers["unsubscribe page"] = client.get(f"/u/{manage}")
    answers["one-click unsubscribe"] = client.post(f"/u/{manage}", data={"List-Unsubscribe": "One-Click"})
    answers["archive index"] = client.get("/editions/dc")
    answers["archive edition"] = client.get(f"/editions/dc/{SENT_DAY.isoformat()}")
    answers["bad link"] = client.get("/p/not-a-token")
    answers["not found"] = client.get("/no/such/page")
    answers["wrong method"] = client.delete("/")
    answers["unreadable form"] = client.post(f"/p/{manage}", data={"paused": "not-a-bool"})
    answers["health"] = client.get("/health")
    answers["stylesheet"] = client.get("/static/site.css")
    answers["webhook"] = signed_post(client, webhook_key, [])

    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        **dict.fromkeys(answers, 200),
        "subscribe": 303,
        "bad link": 400,
        "not found": 404,
        "wrong method": 405,
        "unreadable form": 400,
        "webhook": statuses["webhook"],  # its own test pins the code; any answer must carry the headers
    }
    for name, answer in answers.items():
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert answer.headers["x-frame-options"] == "DENY", name
        assert answer.headers["referrer-policy"] == "no-referrer", name
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], name
        assert "script-src" not in answer.headers["content-security-policy"], name  # default-src 'none' covers it


def test_unknown_pages_and_methods_get_friendly_pages(client: TestClient) -> None:
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "Page not found" in missing.text and '<html lang="en">' in missing.text
    wrong = client.delete("/")
    assert wrong.status_code == 405 and "Not allowed" in wrong.text


def test_no_api_docs_are_exposed(client: TestClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404


def test_access_log_never_shows_a_link_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/p/AbC.dEf?saved=1", "1.1", 200),
        None,
    )
    RedactTokens().filter(record)
    assert "AbC" not in record.getMessage() and "/p/[redacted]?saved=1" in record.getMessage()
    assert redact_tokens("POST /u/x.y") == "POST /u/[redacted]"
    assert redact_tokens("GET /confirm/x.y") == "GET /confirm/[redacted]"
    assert redact_tokens("GET /editions/dc/2026-11-29") == "GET /editions/dc/2026-11-29"


def test_a_server_error_is_a_friendly_page_without_a_traceback(web_settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    engine = sa.create_engine(f"sqlite:///{blocker}/unreachable.db")
    app = create_app(web_settings, engine)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as broken:
        answer = broken.get("/")
    assert answer.status_code == 500
    assert "Sorry, something went wrong" in answer.text
    assert "Traceback" not in answer.text and "sqlite" not in answer.text.lower()


def test_a_server_error_still_sends_the_security_headers(web_settings: Settings, tmp_path: Path) -> None:
    from newsletter.subscribers.tokens import manage_token

    blocker = tmp_path / "file"
    blocker.write_text("")
    engine = sa.create_engine(f"sqlite:///{blocker}/unreachable.db")
    app = create_app(web_settings, engine)
    # A well-formed link, so the route reaches the (broken) database and fails there.
    token = manage_token(web_settings.secret, 1, 1)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as broken:
        for path in ("/", f"/p/{token}"):
            answer = broken.get(path)
            assert answer.status_code == 500, path
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_every_link_route_answers_a_revoked_link_with_the_one_invalid_link_page(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    """Each route under a link token reads it through the one dependency: same page, nothing changed."""
    from newsletter.subscribers.lifecycle import revoke_links_for_address

    token = active_subscriber(web_engine, web_settings, "revoked@example.com", ["dc"])
    with Session(web_engine) as session:
        revoke_links_for_address(session, "revoked@example.com", now=datetime.now(UTC))
        session.commit()
    routes = [(method, path) for path in ("/confirm/{token}", "/p/{token}", "/u/{token}") for method in ("GET", "POST")]
    for method, path in routes:
        url = path.replace("{token}", token)
        body = {"List-Unsubscribe": "One-Click", "action": "unsubscribe"}
        answer = client.request(method, url, data=body if method == "POST" else None)
        assert (answer.status_code, "This link does not work" in answer.text) == (400, True), (method, path)
        assert answer.headers["Cache-Control"] == "no-store"
    assert subscriber_state(web_engine, "revoked@example.com") == ("active", False, {"dc"})
