"""Every link a reader can click in a seed edition leads somewhere: no 404 on our own site.

The six editions are sent as the scheduler sends them, each at its region's local send
time on one local date, so the east-of-UTC editions go out while the western ones do not
exist yet. Right after each send, every link of every message (HTML and text part, as the
outbox wrote it, with the reader's real token) is followed against the running web app.
Links elsewhere (stories, share targets, images) are not fetched, only checked to be
well-formed https (or mailto).
"""

from __future__ import annotations

import email
import re
from datetime import date
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import urlsplit

from sqlmodel import select

from newsletter.db.engine import make_engine, migrate, session_scope
from newsletter.db.models import Region
from newsletter.delivery.outbox import OutboxBackend
from newsletter.links import region_archive_url
from newsletter.schedule.daily import RunOutcome, region_schedules, run_edition
from newsletter.schedule.rules import send_instant
from newsletter.web import create_app
from tests.conftest import make_settings, seed_engine
from tests.html_tree import parse
from tests.web_helpers import TestClient

# The web app's address; the seed stories live on the publisher's site (news.example.com).
BASE = "https://mail.news.example.com"
# A day after every seed story's publication, so each region's first edition is full.
LOCAL_DATE = date(2026, 11, 30)
_TEXT_URL = re.compile(r"(?:https?|mailto):[^\s<>\"')]+")


def _links(message: EmailMessage) -> list[str]:
    html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    root = parse(html_part.get_content())
    found = [node.attrs[attr] for node in root.iter() for attr in ("href", "src") if node.attrs.get(attr)]
    return found + _TEXT_URL.findall(text_part.get_content())


def _check_elsewhere(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "mailto":
        return
    assert parts.scheme == "https" and parts.netloc and " " not in url, f"malformed external link {url!r}"


def _follow(client: TestClient, url: str) -> int:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.get(path, follow_redirects=True).status_code


def test_no_link_of_any_seed_edition_is_a_dead_end(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'links.db'}"
    engine = make_engine(url)
    try:
        migrate(engine)
        seed_engine(engine)
        settings = make_settings(url, tmp_path, base_url=BASE)
        client = TestClient(create_app(settings, engine), base_url=BASE)
        outbox = OutboxBackend(tmp_path / "outbox")
        # In the order the scheduler sends them: Beijing and Singapore first, D.C. last.
        schedules = sorted(region_schedules(engine), key=lambda s: send_instant(s, LOCAL_DATE))
        assert len(schedules) == 6
        checked: dict[str, int] = {}
        for schedule in schedules:
            run = run_edition(
                engine, settings, schedule.code, LOCAL_DATE, backend=outbox, now=send_instant(schedule, LOCAL_DATE)
            )
            assert run.outcome is RunOutcome.SENT, run.detail
            files = sorted((tmp_path / "outbox").glob(f"{schedule.code}-{LOCAL_DATE.isoformat()}/*.eml"))
            assert files, f"{schedule.code}: no messages"
            own = 0
            for file in files:
                message = email.message_from_bytes(file.read_bytes(), policy=default_policy)
                assert isinstance(message, EmailMessage)
                for link in _links(message):
                    if link.startswith(f"{BASE}/") or link == BASE:
                        status = _follow(client, link)
                        assert status != 404 and status < 400, f"{schedule.code} {file.name}: {link} answers {status}"
                        own += 1
                    else:
                        assert not link.startswith("http:"), f"{schedule.code}: insecure link {link}"
                        _check_elsewhere(link)
            checked[schedule.code] = own
        # Header row, view in browser, preferences, unsubscribe: in both parts of every message.
        assert all(count >= 2 * 9 for count in checked.values()), checked
    finally:
        engine.dispose()


def test_the_region_row_links_each_region_to_its_archive(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'row.db'}"
    engine = make_engine(url)
    try:
        migrate(engine)
        seed_engine(engine)
        settings = make_settings(url, tmp_path, base_url=BASE)
        (schedule, *_) = region_schedules(engine)
        run_edition(
            engine,
            settings,
            schedule.code,
            LOCAL_DATE,
            backend=OutboxBackend(tmp_path / "outbox"),
            now=send_instant(schedule, LOCAL_DATE),
        )
        with session_scope(engine) as session:
            codes = [r.code for r in session.exec(select(Region)).all()]
        (file, *_) = sorted((tmp_path / "outbox").rglob("*.eml"))
        message = email.message_from_bytes(file.read_bytes(), policy=default_policy)
        assert isinstance(message, EmailMessage)
        links = _links(message)
        for code in codes:
            assert region_archive_url(BASE, code) in links
            # No region is linked at a date: that edition may not exist (yet, or ever).
            assert not any(
                link.startswith(f"{region_archive_url(BASE, code)}/") and code != schedule.code for link in links
            ), code
    finally:
        engine.dispose()
