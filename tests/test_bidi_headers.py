"""Bidi controls never reach a subject, the inbox preview or a From name, whatever the source.

Content files refuse them (tests/test_content_loading.py); these cover what is not a
content file: stored rows written by other tools, editors' overrides, settings.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from newsletter.bidi import BIDI_CONTROLS, bidi_controls_in, without_bidi_controls
from newsletter.db.models import Signal, Source, Story, StoryRegion, StoryStatus
from newsletter.delivery.base import MessageContent, Recipient
from newsletter.delivery.mime import build_mime
from newsletter.delivery.sendgrid_payload import to_sendgrid_request
from newsletter.editions.lifecycle import prepare_edition, set_edition_text
from newsletter.render.edition import render_edition
from newsletter.render.snapshot import EditionContent, RegionRef, StoryBlock
from tests.conftest import make_settings, seed_engine

DAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # a fixed clock, handed to everything that needs one
EVERY = "".join(sorted(BIDI_CONTROLS))
SPOOF = f"Invoice \u202eexe.fdp{EVERY} paid"


def test_the_helpers_find_and_remove_every_control_and_keep_direction_marks() -> None:
    assert bidi_controls_in(SPOOF) == ["U+202E", *(f"U+{ord(ch):04X}" for ch in EVERY if ch != "\u202e")]
    assert without_bidi_controls(SPOOF) == "Invoice exe.fdp paid"
    assert without_bidi_controls("\u200f\u200e\u061c") == "\u200f\u200e\u061c"


def message(**changes: str) -> MessageContent:
    values = {
        "subject": "Subject",
        "html": "<p>Hi</p>",
        "text": "Hi",
        "sender_name": "The Morning Wire",
        "sender_address": "news@example.com",
        "base_url": "https://news.example.com",
        "unsubscribe_mailto": "unsubscribe@example.com",
        **changes,
    }
    return MessageContent(**values)  # type: ignore[arg-type]


def test_a_message_never_carries_a_control_in_its_subject_or_from_name() -> None:
    content_ = message(subject=SPOOF, sender_name=f"Bank {EVERY}Support")
    assert (content_.subject, content_.sender_name) == ("Invoice exe.fdp paid", "Bank Support")

    mime = build_mime(content_, Recipient("reader@example.org", "tok"), now=NOW)
    parsed = message_from_bytes(mime.as_bytes(), policy=policy.default)
    for name in ("Subject", "From"):
        assert not bidi_controls_in(str(parsed[name])), name
    request = to_sendgrid_request(content_, [Recipient("reader@example.org", "tok")])
    assert not bidi_controls_in(request["subject"] + request["from"]["name"])


def edition(subject: str, preheader: str) -> EditionContent:
    lead = StoryBlock(
        slug="s1",
        headline="Plain headline",
        summary="Summary.",
        body="Body.",
        byline="",
        canonical_url="https://news.example.com/dc/s1",
        image_url=None,
        image_alt="",
        image_credit="",
        language="en",
        updated_at=NOW,
    )
    return EditionContent(
        region_code="dc",
        region_name="Washington D.C.",
        edition_name="The Washington Morning Wire",
        timezone="America/New_York",
        language="en",
        local_date=DAY,
        subject=subject,
        preheader=preheader,
        regions=(RegionRef("dc", "D.C.", "Washington D.C."),),
        items=(lead,),
        base_url="https://news.example.com",
        sender_name="The Morning Wire",
        postal_address="1 Example Street",
    )


def test_rendering_removes_controls_from_subject_and_preheader() -> None:
    spoofed = replace(edition(SPOOF, f"Read {EVERY}more"), from_name=f"Wire {EVERY}D.C.")
    rendered = render_edition(spoofed, edition_id=1)
    assert rendered.subject == "Invoice exe.fdp paid" and rendered.preheader == "Read more"
    assert rendered.from_name == "Wire D.C."
    assert not bidi_controls_in(rendered.html) and not bidi_controls_in(rendered.text)


def add_spoofed_story(session: Session) -> None:
    row = Story(
        slug="dc-spoof",
        headline=SPOOF,
        summary=f"Summary {EVERY}of it.",
        body="Body.",
        canonical_url="https://news.example.com/dc/spoof",
        priority=99,
        status=StoryStatus.PUBLISHED,
        published_at=NOW - timedelta(minutes=5),
        updated_at=NOW - timedelta(minutes=5),
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    session.add(StoryRegion(story_id=row.id, region_code="dc"))
    signal = Signal(story_id=row.id, headline="Signal", body="Analysis.")
    session.add(signal)
    session.flush()
    assert signal.id is not None
    session.add(Source(signal_id=signal.id, name="Ledger", url="https://ledger.example.com/a"))
    session.flush()


@pytest.mark.parametrize("source", ["stored story", "editor's override"])
def test_an_edition_built_from_the_database_has_no_control_in_its_headers(
    engine: sa.Engine, db_url: str, tmp_path: Path, source: str
) -> None:
    seed_engine(engine)
    settings = make_settings(db_url, tmp_path, sender_name=f"The {EVERY}Wire")
    with Session(engine) as session:
        if source == "stored story":
            add_spoofed_story(session)  # written by another tool, never through a content file
            rendered = prepare_edition(session, settings, "dc", DAY, now=NOW)
        else:
            prepare_edition(session, settings, "dc", DAY, now=NOW)
            rendered = set_edition_text(session, settings, "dc", DAY, subject=SPOOF, preheader=EVERY + "Today", now=NOW)
    assert rendered.subject.startswith("Invoice exe.fdp")
    assert not bidi_controls_in(rendered.subject + rendered.preheader)
    sent = MessageContent(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        sender_name=settings.sender_name,
        sender_address=settings.sender_address,
        base_url=settings.base_url,
        unsubscribe_mailto=settings.unsubscribe_mailto,
    )
    parsed = message_from_bytes(
        build_mime(sent, Recipient("reader@example.org", "tok"), now=NOW).as_bytes(), policy=policy.default
    )
    assert all(not bidi_controls_in(str(value)) for value in parsed.values())
    assert str(parsed["From"]).startswith("The Wire")
