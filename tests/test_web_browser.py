"""A subscriber's whole journey in headless Chromium against the real server.

Subscribe, confirm from the outbox mail, open the preference link of a delivered
edition, change regions with the keyboard, save, reload, unsubscribe. Uses the
system Chromium (Debian ``chromium``) through Playwright; never downloads one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.send.service import send_edition
from tests.conftest import make_settings, seed_engine, unavailable
from tests.web_helpers import LiveServer, free_port, link_in, outbox_messages, subscriber_state

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("NEWSLETTER_TEST_CHROMIUM", "/usr/bin/chromium")
# Running as root in a container: no sandbox; and no update or telemetry traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ADDRESS = "walker@example.com"


@pytest.fixture
def browser_page() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            # A phone-sized window: the pages must work there.
            context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
            yield context.new_page()
        finally:
            browser.close()


@pytest.fixture
def live(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Settings, sa.Engine]]:
    port = free_port()
    settings = make_settings(sqlite_url, tmp_path, base_url=f"http://127.0.0.1:{port}")
    engine = sa.create_engine(sqlite_url)
    seed_engine(engine)
    with LiveServer(settings, engine, port) as server:
        yield server, settings, engine
    engine.dispose()


def _fits_the_screen(page: object) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))  # type: ignore[attr-defined]


def _focus_outline(page: object) -> str:
    return str(page.evaluate("getComputedStyle(document.activeElement).outlineStyle"))  # type: ignore[attr-defined]


def test_subscriber_journey(browser_page: object, live: tuple[LiveServer, Settings, sa.Engine]) -> None:
    from playwright.sync_api import Page, expect

    page: Page = browser_page  # type: ignore[assignment]
    server, settings, engine = live

    # 1. Subscribe, by label, as a screen reader user would find the fields.
    page.goto(server.url + "/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_label("Email address").fill(ADDRESS)
    page.get_by_label("Washington D.C.").check()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert _fits_the_screen(page)

    # 2. Confirm from the mail in the outbox.
    [confirmation] = [m for m in outbox_messages(settings) if m["To"] == ADDRESS]
    page.goto(server.url + link_in(confirmation, "/confirm/", settings))
    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    assert subscriber_state(engine, ADDRESS) == ("active", False, {"dc"})

    # 3. An edition goes out; open the preference link in the delivered copy.
    send_edition(engine, settings, "dc", date(2026, 11, 29), now=datetime(2026, 11, 29, 11, 30, tzinfo=UTC))
    [edition_mail] = [
        m for m in outbox_messages(settings) if m["To"] == ADDRESS and m["Subject"] != confirmation["Subject"]
    ]
    page.goto(server.url + link_in(edition_mail, "/p/", settings))
    expect(page.get_by_role("heading", name="Your preferences")).to_be_visible()
    expect(page.get_by_label("Washington D.C.")).to_be_checked()

    # 4. Change regions with the keyboard: focus is visible on the way.
    page.get_by_label("Washington D.C.").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert _focus_outline(page) == "solid"
    page.get_by_label("Brussels").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status").filter(has_text="Your preferences are saved.")).to_be_visible()

    # 5. Reload: the change is stored.
    page.reload()
    expect(page.get_by_label("Brussels")).to_be_checked()
    expect(page.get_by_label("Washington D.C.")).not_to_be_checked()
    assert subscriber_state(engine, ADDRESS) == ("active", False, {"bxl"})
    assert _fits_the_screen(page)

    # 6. Unsubscribe from everything.
    page.get_by_role("button", name="Unsubscribe from everything").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert subscriber_state(engine, ADDRESS)[0] == "unsubscribed"
