"""An approved edition the scheduler recorded as missed keeps what was approved.

Its approval, not its status, makes it frozen: a preview shows the approved
rendering and ``send --send-missed`` sends it, never a re-assembly of stories
changed since. On SQLite and PostgreSQL; dates from the real clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col, select

from newsletter.db.engine import session_scope
from newsletter.db.models import Edition, EditionItem, EditionStatus, Story
from newsletter.editions.lifecycle import approve_edition, prepare_edition, region_today
from newsletter.schedule.daily import record_missed
from newsletter.send.service import SendOutcome, edition_status, send_edition
from tests.conftest import make_settings
from tests.dispatch_harness import REGION, active_readers, add_readers, seed_content

READERS = 3


def status_of(engine: sa.Engine, local_date: date) -> EditionStatus:
    return edition_status(engine, REGION, local_date).status


def outbox_count(tmp_path: Path) -> int:
    return len(list((tmp_path / "outbox").rglob("*.eml")))


def lead_story_headline(engine: sa.Engine, edition_id: int, headline: str) -> None:
    """Change the edition's first story in the newsroom's tables."""
    with session_scope(engine) as session:
        item = session.exec(
            select(EditionItem)
            .where(EditionItem.edition_id == edition_id, col(EditionItem.story_id).is_not(None))
            .order_by(col(EditionItem.position))
        ).first()
        assert item is not None
        story = session.get(Story, item.story_id)
        assert story is not None
        story.headline = headline


def test_a_missed_approved_edition_stays_frozen_through_a_preview_and_the_late_send(
    engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    seed_content(engine, tmp_path)
    add_readers(engine, active_readers(READERS))
    seeded = engine
    settings = make_settings(db_url, tmp_path)
    with session_scope(seeded) as session:
        local_date = region_today(session, REGION, now=datetime.now(UTC))
    with session_scope(seeded) as session:
        approved = approve_edition(session, settings, REGION, local_date)
    record_missed(seeded, REGION, local_date, datetime.now(UTC) - timedelta(hours=5))
    assert status_of(seeded, local_date) is EditionStatus.MISSED
    lead_story_headline(seeded, approved.edition_id, "Rewritten after the sign-off")

    # An editor looks at it before deciding: the approval, not the status, keeps it frozen.
    with session_scope(seeded) as session:
        previewed = prepare_edition(session, settings, REGION, local_date)
    assert previewed.html == approved.html and "Rewritten after the sign-off" not in previewed.html
    assert status_of(seeded, local_date) is EditionStatus.MISSED

    report = send_edition(seeded, settings, REGION, local_date, send_missed=True)
    assert report.outcome is SendOutcome.COMPLETED and outbox_count(tmp_path) == READERS
    sent = [path.read_text(encoding="utf-8") for path in (tmp_path / "outbox").rglob("*.eml")]
    assert not any("Rewritten after the sign-off" in message for message in sent)
    with session_scope(seeded) as session:
        edition = session.get(Edition, approved.edition_id)
        assert edition is not None and edition.html == approved.html
