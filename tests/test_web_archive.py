"""Archive / view in browser: sent editions only, and never anyone's personal links."""

from __future__ import annotations

import http.client
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.db.engine import make_engine, migrate
from newsletter.db.models import Edition, EditionStatus
from newsletter.delivery.outbox import OutboxBackend
from newsletter.links import TOKEN_PLACEHOLDER, edition_url, preferences_url, unsubscribe_url
from newsletter.schedule.daily import RunOutcome, region_schedules, run_edition
from newsletter.schedule.rules import send_instant
from newsletter.web import create_app
from newsletter.web.archive import public_copy
from tests.conftest import make_settings, seed_engine
from tests.html_tree import parse
from tests.web_helpers import LiveServer, TestClient, add_regions, free_port

BASE = "https://news.example.com"


def edition_html(settings: Settings, day: date) -> str:
    return (
        '<!doctype html><html lang="en"><body><h1>Morning &amp; more</h1>'
        f'<a href="{edition_url(settings.base_url, "dc", day)}">View in browser</a> '
        f'<a href="{preferences_url(settings.base_url, TOKEN_PLACEHOLDER)}">Manage preferences</a> '
        f"<a href='{unsubscribe_url(settings.base_url, TOKEN_PLACEHOLDER)}?src=footer'>Unsubscribe</a>"
        f"<p>Your token: {TOKEN_PLACEHOLDER}</p></body></html>"
    )


def add_edition(engine: sa.Engine, settings: Settings, day: date, status: EditionStatus, subject: str = "") -> None:
    with Session(engine) as session:
        session.add(
            Edition(
                region_code="dc",
                local_date=day,
                status=status,
                subject=subject,
                html=edition_html(settings, day),
                text="text",
            )
        )
        session.commit()


def test_public_copy_points_personal_links_at_the_subscribe_page() -> None:
    html = (
        f'<a href="{BASE}/p/{TOKEN_PLACEHOLDER}">p</a> <a href="{BASE}/u/{TOKEN_PLACEHOLDER}">u</a> '
        f'<a href="mailto:unsub@example.com?subject=unsubscribe-{TOKEN_PLACEHOLDER}">m</a> '
        f'<a href="{BASE}/editions/dc/2026-11-29">keep</a> plain {TOKEN_PLACEHOLDER} text'
    )
    copy = public_copy(html, f"{BASE}/")
    assert TOKEN_PLACEHOLDER not in copy
    assert copy.count(f'href="{BASE}/"') == 3
    assert f'href="{BASE}/editions/dc/2026-11-29"' in copy and "plain  text" in copy


def test_sent_edition_is_shown_without_personal_links(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    day = date(2026, 11, 28)
    add_edition(web_engine, web_settings, day, EditionStatus.SENT)
    page = client.get(f"/editions/dc/{day.isoformat()}")
    assert page.status_code == 200 and "Morning &amp; more" in page.text
    assert TOKEN_PLACEHOLDER not in page.text and "/p/" not in page.text and "/u/" not in page.text
    assert f'href="{web_settings.base_url}/"' in page.text
    # Email HTML never carries scripts, so the archive forbids them outright.
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_drafts_and_missing_editions_are_not_public(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    add_edition(web_engine, web_settings, date(2026, 11, 30), EditionStatus.APPROVED)
    for path in (
        "/editions/dc/2026-11-30",
        "/editions/dc/2026-12-01",
        "/editions/dc/not-a-date",
        "/editions/atlantis/2026-11-30",
        "/editions/atlantis",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "Edition not found" in answer.text


def test_index_lists_public_editions_newest_first(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    add_edition(web_engine, web_settings, date(2026, 11, 27), EditionStatus.SENT, "Bridges <and> tunnels")
    add_edition(web_engine, web_settings, date(2026, 11, 28), EditionStatus.SENDING, "Rail budget")
    add_edition(web_engine, web_settings, date(2026, 11, 29), EditionStatus.DRAFT, "Not yet")
    page = client.get("/editions/dc")
    assert page.status_code == 200
    assert page.text.index("2026-11-28") < page.text.index("2026-11-27")
    assert "Not yet" not in page.text and "2026-11-29" not in page.text
    assert "Bridges &lt;and&gt; tunnels" in page.text


def test_index_of_a_region_without_editions(client: TestClient) -> None:
    page = client.get("/editions/bxl")
    assert page.status_code == 200 and "No editions have been sent yet." in page.text


def test_an_edition_missing_for_a_date_leads_to_its_regions_archive(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    answer = client.get("/editions/bxl/2026-12-01")
    assert answer.status_code == 404 and "Edition not found" in answer.text
    assert parse(answer.text).find_all("a", href="/editions/bxl")
    assert "archive" in " ".join(a.text() for a in parse(answer.text).find_all("a", href="/editions/bxl"))
    # A date that is no date, same answer; a region that does not exist has no archive to offer.
    assert parse(client.get("/editions/bxl/someday").text).find_all("a", href="/editions/bxl")
    unknown = client.get("/editions/atlantis/2026-12-01")
    assert unknown.status_code == 404 and "/editions/atlantis" not in unknown.text


def _has_main(html: str) -> bool:
    return len(parse(html).find_all("main")) == 1


def test_archive_pages_have_a_main_landmark(client: TestClient, web_engine: sa.Engine, web_settings: Settings) -> None:
    add_edition(web_engine, web_settings, date(2026, 11, 28), EditionStatus.SENT)
    for path in ("/editions/dc", "/editions/dc/2026-11-28", "/editions/dc/2026-11-27"):
        assert _has_main(client.get(path).text), path


def test_archive_pages_answer_head_with_the_get_headers_and_no_body(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    add_edition(web_engine, web_settings, date(2026, 11, 28), EditionStatus.SENT)
    for path, status in (
        ("/editions/dc", 200),
        ("/editions/dc/2026-11-28", 200),
        ("/editions/dc/2026-11-27", 404),
        ("/editions/atlantis", 404),
    ):
        get, head = client.get(path), client.head(path)
        assert (get.status_code, head.status_code) == (status, status), path
        assert head.content == b""
        for name in ("content-type", "content-length", "content-security-policy", "cache-control"):
            assert head.headers.get(name) == get.headers.get(name), (path, name)


def test_a_real_server_sends_no_body_for_head(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    engine = sa.create_engine(sqlite_url)
    add_regions(engine)
    try:
        with LiveServer(settings, engine, free_port()) as server:
            host, port = server.url.removeprefix("http://").split(":")
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                connection.request("HEAD", "/editions/dc")
                answer = connection.getresponse()
                assert answer.status == 200 and int(answer.headers["Content-Length"]) > 0
                assert answer.read() == b""
                # The connection is still in step: a GET on it gets its own complete answer.
                connection.request("GET", "/editions/dc")
                again = connection.getresponse()
                assert again.status == 200 and len(again.read()) == int(answer.headers["Content-Length"])
            finally:
                connection.close()
    finally:
        engine.dispose()


def _sent_seed_edition(tmp_path: Path, code: str) -> tuple[TestClient, Settings, date]:
    url = f"sqlite:///{tmp_path / 'archive-seed.db'}"
    engine = make_engine(url)
    migrate(engine)
    seed_engine(engine)
    settings = make_settings(url, tmp_path)
    (schedule,) = [s for s in region_schedules(engine) if s.code == code]
    day = date(2026, 11, 30)  # after every seed story's publication
    run = run_edition(
        engine, settings, code, day, backend=OutboxBackend(tmp_path / "outbox"), now=send_instant(schedule, day)
    )
    assert run.outcome is RunOutcome.SENT, run.detail
    return TestClient(create_app(settings, engine), base_url=settings.base_url), settings, day


def test_the_public_copy_of_a_real_edition_labels_its_links_honestly(tmp_path: Path) -> None:
    client, settings, day = _sent_seed_edition(tmp_path, "dc")
    page = client.get(f"/editions/dc/{day.isoformat()}")
    assert page.status_code == 200
    root = parse(page.text)
    labels = {" ".join(a.text().split()): a.attrs.get("href", "") for a in root.find_all("a")}
    # No link pretends to manage a subscription: a public copy manages nobody's.
    assert not {"Unsubscribe", "Manage preferences"} & set(labels), labels
    assert "/p/" not in page.text and "/u/" not in page.text and TOKEN_PLACEHOLDER not in page.text
    subscribe = [label for label, href in labels.items() if href == f"{settings.base_url}/"]
    assert subscribe and all(label.startswith("Subscribe") for label in subscribe), subscribe
    assert labels.get("Past editions") == f"{settings.base_url}/editions/dc"
    text = " ".join(root.text().split())
    assert "links at the end of the email you received" in text
    assert "Why you got this" not in text  # nobody "subscribed" to a page they were sent a link to
    assert "100 Example Street" in text  # the postal address stays
