"""End to end: an edition goes out, its one-click header is used, the next send skips the reader."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db.engine import session_scope
from newsletter.db.models import Delivery, DeliveryState, Story, StoryRegion, StoryStatus, Subscriber
from newsletter.send.service import send_edition
from newsletter.web import create_app
from tests.conftest import make_settings, seed_engine
from tests.web_helpers import TestClient, active_subscriber, outbox_messages

FIRST_DAY = date(2026, 11, 29)
NEXT_DAY = date(2026, 11, 30)


def add_story_for_next_day(engine: sa.Engine) -> None:
    published = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        story = Story(
            slug="dc-next-day-story",
            headline="Council extends the late-night bus pilot",
            summary="Six more months.",
            body="The pilot continues through spring.",
            canonical_url="https://news.example.com/dc/next-day",
            status=StoryStatus.PUBLISHED,
            published_at=published,
            updated_at=published,
        )
        session.add(story)
        session.flush()
        session.add(StoryRegion(story_id=story.id or 0, region_code="dc"))


def recipients_in(outbox: Path, day: date) -> list[str]:
    """Who got the dc edition of ``day`` (the outbox keeps one folder per campaign)."""
    folders = [folder for folder in outbox.iterdir() if day.isoformat() in folder.name]
    assert len(folders) == 1, folders
    return [path.name.split("-", 1)[1].removesuffix(".eml") for path in folders[0].glob("*.eml")]


def test_one_click_from_a_delivered_edition_removes_the_reader_from_the_next_send(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    engine = sa.create_engine(sqlite_url)
    seed_engine(engine)
    active_subscriber(engine, settings, "leaver@example.com", ["dc"])

    send_edition(engine, settings, "dc", FIRST_DAY, now=datetime(2026, 11, 29, 11, 30, tzinfo=UTC))
    [delivered] = [m for m in outbox_messages(settings) if m["To"] == "leaver@example.com"]
    header = delivered["List-Unsubscribe"]
    assert delivered["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click_url = re.search(r"<(https://[^>]+)>", header).group(1)  # type: ignore[union-attr]

    # The provider's request: a plain url-encoded POST, no cookies, nothing else.
    with TestClient(create_app(settings, engine), base_url=settings.base_url) as provider:
        answer = provider.post(
            one_click_url,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 200

    add_story_for_next_day(engine)
    report = send_edition(engine, settings, "dc", NEXT_DAY, now=datetime(2026, 11, 30, 11, 30, tzinfo=UTC))
    assert report.this_run[DeliveryState.SUPPRESSED] == 1
    next_day = recipients_in(settings.outbox_dir, NEXT_DAY)
    assert "leaver@example.com" not in next_day and len(next_day) == report.this_run[DeliveryState.SENT] > 0
    assert "leaver@example.com" in recipients_in(settings.outbox_dir, FIRST_DAY)
    with Session(engine) as session:
        leaver = session.exec(select(Subscriber).where(Subscriber.email == "leaver@example.com")).one()
        states = sorted(
            d.state.value for d in session.exec(select(Delivery).where(Delivery.subscriber_id == leaver.id))
        )
    assert states == ["sent", "suppressed"]
    engine.dispose()
