"""Archive / view in browser: sent editions only, and never anyone's personal links."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings
from newsletter.links import TOKEN_PLACEHOLDER, edition_url, preferences_url, unsubscribe_url
from newsletter.models import Edition, EditionStatus
from newsletter.web.archive import public_copy
from tests.web_helpers import (  # noqa: F401 - fixtures
    TestClient,
    client,
    clock,
    web_engine,
    web_settings,
    webhook_key,
)

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
        session.add(Edition(region_code="dc", local_date=day, status=status, subject=subject,
                            html=edition_html(settings, day), text="text"))
        session.commit()


def test_public_copy_points_personal_links_at_the_subscribe_page() -> None:
    html = (f'<a href="{BASE}/p/{TOKEN_PLACEHOLDER}">p</a> <a href="{BASE}/u/{TOKEN_PLACEHOLDER}">u</a> '
            f'<a href="mailto:unsub@example.com?subject=unsubscribe-{TOKEN_PLACEHOLDER}">m</a> '
            f'<a href="{BASE}/editions/dc/2026-11-29">keep</a> plain {TOKEN_PLACEHOLDER} text')
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
    for path in ("/editions/dc/2026-11-30", "/editions/dc/2026-12-01", "/editions/dc/not-a-date",
                 "/editions/atlantis/2026-11-30", "/editions/atlantis"):
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
