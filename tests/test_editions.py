"""Edition assembly, freezing and the prepare/approve service, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.db.models import (
    Ad,
    AdRegion,
    Edition,
    EditionItem,
    EditionStatus,
    Region,
    Signal,
    Source,
    Story,
    StoryRegion,
    StoryStatus,
)
from newsletter.editions.lifecycle import approve_edition, prepare_edition, set_edition_text
from newsletter.errors import EditionError, EmptyEditionError, NotFoundError
from newsletter.render.edition import render_edition
from newsletter.render.snapshot import EditionContent
from tests.conftest import make_settings, run_cli, seed_engine
from tests.html_tree import parse

DAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def seeded(engine: sa.Engine) -> sa.Engine:
    seed_engine(engine)
    return engine


@pytest.fixture
def cfg(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path)


def add_story(
    session: Session,
    region: str,
    slug: str,
    published: datetime,
    *,
    priority: int = 0,
    headline: str | None = None,
    status: StoryStatus = StoryStatus.PUBLISHED,
    **fields: object,
) -> Story:
    story = Story(
        slug=slug,
        headline=headline or f"Headline {slug}",
        summary=f"Summary {slug}.",
        body=f"Body of {slug}.",
        canonical_url=f"https://news.example.com/{region}/{slug}",
        status=status,
        priority=priority,
        published_at=published,
        updated_at=published,
        image_url=None,
        **fields,
    )
    session.add(story)
    session.flush()
    assert story.id is not None
    session.add(StoryRegion(story_id=story.id, region_code=region))
    signal = Signal(story_id=story.id, headline=f"Signal of {slug}", body="Analysis.")
    session.add(signal)
    session.flush()
    assert signal.id is not None
    session.add(Source(signal_id=signal.id, name="Ledger", url="https://ledger.example.com/a"))
    session.flush()
    return story


def headlines(html: str) -> list[str]:
    return [" ".join(h.text().split()) for h in parse(html).find_all("h2")]


def items_of(session: Session, edition_id: int) -> list[tuple[int, int | None, int | None]]:
    rows = session.exec(select(EditionItem).where(EditionItem.edition_id == edition_id).order_by(EditionItem.position))
    return [(r.position, r.story_id, r.ad_id) for r in rows]


def mark_sent(session: Session, edition_id: int, at: datetime) -> None:
    edition = session.get(Edition, edition_id)
    assert edition is not None
    edition.status, edition.send_started_at, edition.sent_at = EditionStatus.SENT, at, at
    session.flush()


def test_first_edition_is_full_ordered_and_stored(seeded: sa.Engine, cfg: Settings) -> None:
    with Session(seeded) as session:
        rendered = prepare_edition(session, cfg, "dc", DAY, now=NOW)
        session.commit()
        expected = session.exec(select(Story).join(StoryRegion).where(StoryRegion.region_code == "dc")).all()
        order = sorted(expected, key=lambda s: (-s.priority, -s.published_at.timestamp()))
        assert headlines(rendered.html) == [s.headline for s in order]
        edition = session.get(Edition, rendered.edition_id)
        assert edition is not None and edition.status is EditionStatus.DRAFT
        assert (edition.html, edition.text) == (rendered.html, rendered.text)
        # The lead headline, within the subject budget, cut at a word.
        assert edition.subject == rendered.subject
        lead = order[0].headline
        assert (
            rendered.subject == lead
            if len(lead) <= 60
            else (
                len(rendered.subject) <= 60
                and rendered.subject.endswith("…")
                and lead.startswith(rendered.subject[:-1] + " ")
            )
        ), (rendered.subject, lead)
        assert edition.preheader == rendered.preheader == order[0].summary
        # Stories and ads in document order: story, ad (slot 1), story, ad (slot 2), story.
        ads = {a.slot: a.id for a in session.exec(select(Ad).join(AdRegion).where(AdRegion.region_code == "dc"))}
        assert items_of(session, rendered.edition_id) == [
            (0, order[0].id, None),
            (1, None, ads[1]),
            (2, order[1].id, None),
            (3, None, ads[2]),
            (4, order[2].id, None),
        ]


def test_edition_size_caps_the_first_edition_by_recency_then_orders_by_priority(
    seeded: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    small = make_settings(db_url, tmp_path, edition_size=2)
    with Session(seeded) as session:
        stories = session.exec(select(Story).join(StoryRegion).where(StoryRegion.region_code == "sg")).all()
        recent = sorted(stories, key=lambda s: s.published_at, reverse=True)[:2]
        rendered = prepare_edition(session, small, "sg", DAY, now=NOW)
        expected = sorted(recent, key=lambda s: (-s.priority, -s.published_at.timestamp()))
        assert headlines(rendered.html) == [s.headline for s in expected]


def test_next_edition_takes_the_stories_published_since_the_previous_one_was_assembled(
    seeded: sa.Engine, cfg: Settings
) -> None:
    """The window starts when the previous edition's stories were chosen, not when its send began:
    a story published in between (``lagos-before-send``) was in neither and goes in the next one."""
    with Session(seeded) as session:
        first = prepare_edition(session, cfg, "lagos", DAY, now=NOW)  # assembled (content fixed) at NOW
        sent_at = NOW + timedelta(hours=1)
        mark_sent(session, first.edition_id, sent_at)
        add_story(session, "lagos", "lagos-after-send", sent_at + timedelta(hours=3), priority=1)
        add_story(session, "lagos", "lagos-top-priority", sent_at + timedelta(hours=2), priority=9)
        add_story(session, "lagos", "lagos-before-send", sent_at - timedelta(minutes=5), priority=99)
        add_story(session, "lagos", "lagos-future", NOW + timedelta(days=3), priority=99)
        add_story(session, "lagos", "lagos-draft", sent_at + timedelta(hours=2), status=StoryStatus.DRAFT)
        add_story(session, "lagos", "lagos-retracted", sent_at + timedelta(hours=2), status=StoryStatus.RETRACTED)
        add_story(session, "dc", "dc-elsewhere", sent_at + timedelta(hours=2))
        nxt = prepare_edition(session, cfg, "lagos", DAY + timedelta(days=1), now=NOW + timedelta(days=1))
        assert headlines(nxt.html) == [
            "Headline lagos-before-send",
            "Headline lagos-top-priority",
            "Headline lagos-after-send",
        ]
        assert not set(headlines(first.html)) & set(headlines(nxt.html))  # nothing sent twice


def test_nothing_new_since_the_last_send_is_an_explicit_empty_edition(seeded: sa.Engine, cfg: Settings) -> None:
    with Session(seeded) as session:
        first = prepare_edition(session, cfg, "bxl", DAY, now=NOW)
        mark_sent(session, first.edition_id, NOW)
        with pytest.raises(EmptyEditionError, match="no published stories for bxl on 2026-11-30"):
            prepare_edition(session, cfg, "bxl", DAY + timedelta(days=1), now=NOW + timedelta(days=1))
        # The row prepare_edition created first (see edition_rows) goes with the caller's rollback.
        session.rollback()
        assert session.exec(select(Edition).where(Edition.local_date == DAY + timedelta(days=1))).first() is None


def test_region_without_stories_is_empty_not_an_empty_email(seeded: sa.Engine, cfg: Settings) -> None:
    with Session(seeded) as session:
        session.add(
            Region(
                code="nbo",
                name="Nairobi",
                short_label="NBO",
                timezone="Africa/Nairobi",
                send_time="06:00",
                edition_name="The Nairobi Morning Wire",
            )
        )
        session.flush()
        with pytest.raises(EmptyEditionError):
            prepare_edition(session, cfg, "nbo", DAY, now=NOW)


def test_unknown_region_lists_the_valid_codes(seeded: sa.Engine, cfg: Settings) -> None:
    with Session(seeded) as session, pytest.raises(NotFoundError) as caught:
        prepare_edition(session, cfg, "paris", DAY, now=NOW)
    assert "'paris'" in str(caught.value) and "dc, bxl, lagos, riyadh, beijing, sg" in str(caught.value)


def test_a_draft_follows_story_edits_and_is_reassembled_in_place(seeded: sa.Engine, cfg: Settings) -> None:
    with Session(seeded) as session:
        first = prepare_edition(session, cfg, "beijing", DAY, now=NOW)
        story = session.exec(select(Story).where(Story.slug == "beijing-late-night-bookshops")).one()
        story.headline = "Edited before approval"
        session.flush()
        again = prepare_edition(session, cfg, "beijing", DAY, now=NOW)
        assert again.edition_id == first.edition_id
        assert "Edited before approval" in headlines(again.html)
        assert len(items_of(session, again.edition_id)) == len(items_of(session, first.edition_id))
        assert session.exec(select(sa.func.count()).select_from(Edition)).one() == 1


def test_an_approved_edition_is_frozen_byte_for_byte(seeded: sa.Engine, cfg: Settings) -> None:
    with Session(seeded) as session:
        approved = approve_edition(session, cfg, "riyadh", DAY, now=NOW)
        session.commit()
    with Session(seeded) as session:
        for story in session.exec(select(Story).join(StoryRegion).where(StoryRegion.region_code == "riyadh")):
            story.headline = "Changed after approval"
            story.body = "Rewritten."
        add_story(session, "riyadh", "riyadh-late-breaking", NOW - timedelta(minutes=1), priority=100)
        session.commit()
    with Session(seeded) as session:
        later = prepare_edition(session, cfg, "riyadh", DAY, now=NOW + timedelta(hours=2))
        assert later == approved
        assert "Changed after approval" not in later.html
        edition = session.get(Edition, approved.edition_id)
        assert edition is not None and edition.status is EditionStatus.APPROVED and edition.approved_at == NOW
        # Re-rendering the stored snapshot (after a JSON round trip through the database) gives the same bytes.
        assert edition.snapshot is not None
        again = render_edition(EditionContent.from_snapshot(edition.snapshot), edition_id=approved.edition_id)
        assert (again.html, again.text) == (approved.html, approved.text)


@pytest.mark.parametrize("status", [EditionStatus.SENDING, EditionStatus.SENT, EditionStatus.FAILED])
def test_sending_and_sent_editions_are_frozen_too(seeded: sa.Engine, cfg: Settings, status: EditionStatus) -> None:
    with Session(seeded) as session:
        first = prepare_edition(session, cfg, "sg", DAY, now=NOW)
        edition = session.get(Edition, first.edition_id)
        assert edition is not None
        edition.status = status
        session.exec(select(Story).where(Story.slug == "sg-monsoon-drain-sensors")).one().headline = "Changed"
        session.flush()
        assert prepare_edition(session, cfg, "sg", DAY, now=NOW) == first


def test_approving_twice_is_harmless_and_cancelled_cannot_be_approved(seeded: sa.Engine, cfg: Settings) -> None:
    with Session(seeded) as session:
        first = approve_edition(session, cfg, "dc", DAY, now=NOW)
        assert approve_edition(session, cfg, "dc", DAY, now=NOW + timedelta(hours=1)) == first
        prepare_edition(session, cfg, "bxl", DAY, now=NOW)
        edition = session.exec(select(Edition).where(Edition.region_code == "bxl")).one()
        edition.status = EditionStatus.CANCELLED
        session.flush()
        with pytest.raises(EditionError, match="cancelled"):
            approve_edition(session, cfg, "bxl", DAY, now=NOW)


def test_subject_and_preheader_can_be_overridden_until_frozen(seeded: sa.Engine, cfg: Settings) -> None:
    with Session(seeded) as session:
        derived = prepare_edition(session, cfg, "lagos", DAY, now=NOW)
        custom = set_edition_text(
            session, cfg, "lagos", DAY, subject="Lagos\nthis morning", preheader="Three stories", now=NOW
        )
        assert (custom.subject, custom.preheader) == ("Lagos this morning", "Three stories")
        root = parse(custom.html)
        assert root.find_all("title")[0].text() == "Lagos this morning"
        assert "Three stories" in root.find_all("body")[0].children[0].text()  # type: ignore[union-attr]
        cleared = set_edition_text(session, cfg, "lagos", DAY, subject="", now=NOW)
        assert (cleared.subject, cleared.preheader) == (derived.subject, "Three stories")
        approve_edition(session, cfg, "lagos", DAY, now=NOW)
        with pytest.raises(EditionError, match="frozen"):
            set_edition_text(session, cfg, "lagos", DAY, subject="Too late", now=NOW)


def test_ads_outside_their_dates_or_region_are_left_out(seeded: sa.Engine, cfg: Settings) -> None:
    with Session(seeded) as session:
        for ad in session.exec(select(Ad).join(AdRegion).where(AdRegion.region_code == "sg")):
            ad.ends_on = DAY - timedelta(days=1)
        future = Ad(
            slug="sg-future",
            sponsor="Later Co",
            headline="Not yet",
            link="https://later.example.com",
            starts_on=DAY + timedelta(days=1),
            slot=1,
        )
        session.add(future)
        session.flush()
        assert future.id is not None
        session.add(AdRegion(ad_id=future.id, region_code="sg"))
        session.flush()
        rendered = prepare_edition(session, cfg, "sg", DAY, now=NOW)
        assert "Advertisement" not in rendered.html
        assert all(ad_id is None for _, _, ad_id in items_of(session, rendered.edition_id))


def test_an_ad_slot_beyond_the_last_story_runs_after_it(seeded: sa.Engine, db_url: str, tmp_path: Path) -> None:
    one = make_settings(db_url, tmp_path, edition_size=1)
    with Session(seeded) as session:
        rendered = prepare_edition(session, one, "dc", DAY, now=NOW)
        kinds = ["story" if s else "ad" for _, s, _ in items_of(session, rendered.edition_id)]
        assert kinds == ["story", "ad", "ad"]


def test_hostile_stored_content_is_escaped_end_to_end(seeded: sa.Engine, cfg: Settings) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    with Session(seeded) as session:
        story = add_story(
            session,
            "dc",
            "dc-evil",
            NOW - timedelta(minutes=5),
            priority=50,
            headline=evil + " headline",
            byline=evil,
            image_alt=evil,
            image_credit=evil,
        )
        story.body = f"{evil}\n\n[x](javascript:alert(3))"
        story.canonical_url = "javascript:alert(4)"
        signal = session.exec(select(Signal).where(Signal.story_id == story.id)).one()
        signal.headline, signal.body = evil, evil
        session.add(Source(signal_id=signal.id or 0, position=1, name=evil, url="javascript:alert(5)"))
        session.flush()
        rendered = prepare_edition(session, cfg, "dc", DAY, now=NOW)
        root = parse(rendered.html)
        assert not root.find_all("script")
        assert all(not name.startswith("on") for n in root.iter() for name in n.attrs)
        assert all(a.attrs["href"].startswith(("https://", "mailto:")) for a in root.find_all("a"))
        assert [img for img in root.find_all("img") if img.attrs["src"] == "x"] == []
        assert headlines(rendered.html)[0] == evil + " headline"


# --- `newsletter preview` -----------------------------------------------------------------


def test_preview_writes_html_and_text_and_says_where(sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path) -> None:
    seed_engine(sqlite_engine)
    result = run_cli(
        ["preview", "riyadh", "--date", "2026-11-29", "--out", "out/riyadh.html"], sqlite_url, tmp_path, at=NOW
    )
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "out" / "riyadh.html").read_text(encoding="utf-8")
    text = (tmp_path / "out" / "riyadh.txt").read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and 'lang="en"' in html and 'dir="rtl"' in html
    assert "THE RIYADH MORNING WIRE" in text
    assert "html: out/riyadh.html" in result.stdout and "text: out/riyadh.txt" in result.stdout


def test_preview_errors_list_what_is_valid(sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path) -> None:
    seed_engine(sqlite_engine)
    unknown = run_cli(["preview", "paris"], sqlite_url, tmp_path)
    assert unknown.returncode == 1
    assert "unknown region 'paris'; valid regions: dc, bxl, lagos, riyadh, beijing, sg" in unknown.stderr
    bad_date = run_cli(["preview", "dc", "--date", "29/11/2026"], sqlite_url, tmp_path)
    assert bad_date.returncode == 2 and "%Y-%m-%d" in bad_date.stderr
    assert not (tmp_path / "var" / "preview").exists()


def test_reassembling_an_edition_under_way_keeps_its_own_stories(seeded: sa.Engine, cfg: Settings) -> None:
    from newsletter.editions.assembly import assemble, get_region

    with Session(seeded) as session:
        first = prepare_edition(session, cfg, "dc", DAY, now=NOW)
        edition = session.get(Edition, first.edition_id)
        assert edition is not None
        edition.status = EditionStatus.SENDING
        session.flush()
        content, _, _ = assemble(session, cfg, get_region(session, "dc"), DAY, now=NOW)
        assert [s.headline for s in content.stories] == headlines(first.html)


def test_a_second_opener_waits_for_the_first_and_sends_the_same_content(seeded: sa.Engine, cfg: Settings) -> None:
    """Dispatcher A holds the edition row (marking it SENDING) while B opens the same draft.

    B must wait and then send A's frozen content, never re-assemble it with a
    story published meanwhile.
    """
    import threading
    import time

    from newsletter.send.edition import open_send

    with Session(seeded) as session:
        draft = prepare_edition(session, cfg, "dc", DAY, now=NOW)
        session.commit()
        add_story(session, "dc", "late-breaking", NOW + timedelta(seconds=30), priority=100, headline="LATE BREAKING")
        session.commit()
    opened: dict[str, str] = {}

    def b_opens() -> None:
        opened["B"] = open_send(seeded, cfg, "dc", DAY, now=NOW + timedelta(minutes=1)).content.html

    with seeded.connect() as a:  # A, between its assembly and its commit of SENDING
        a.execute(sa.text("update edition set status = 'sending' where id = :id"), {"id": draft.edition_id})
        b = threading.Thread(target=b_opens)
        b.start()
        time.sleep(1.0)  # B reads (and, unlocked, would re-assemble) meanwhile
        a.commit()
    b.join(30)

    assert "LATE BREAKING" not in opened["B"]
    assert opened["B"] == draft.html
    with Session(seeded) as session:
        stored = session.get(Edition, draft.edition_id)
        assert stored is not None and stored.html == draft.html and stored.status is EditionStatus.SENDING
