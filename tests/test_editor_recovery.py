"""Editors can recover: send a missed edition on purpose, un-approve, and survive a refused key.

On SQLite and PostgreSQL, through the service functions and the CLI in real processes.
Dates are derived from the real clock (the region's today), never fixed.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from newsletter.db.engine import session_scope
from newsletter.db.models import Edition, EditionItem, EditionStatus, Story
from newsletter.editions.lifecycle import approve_edition, prepare_edition, region_today, unapprove_edition
from newsletter.errors import ConfigurationError, EditionError
from newsletter.schedule.daily import RunOutcome, record_missed, run_edition
from newsletter.send.service import SendOutcome, edition_status, send_edition
from tests.conftest import make_settings, run_cli
from tests.dispatch_harness import REGION, active_readers, add_readers, ledger_states, seed_content, sendgrid_settings
from tests.peers.sendgrid import API_KEY, StandIn

READERS = 6


def no_sleep(seconds: float) -> None:
    """The retry loop's clock: nothing here should wait."""


@pytest.fixture
def seeded(engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    seed_content(engine, tmp_path)
    add_readers(engine, active_readers(READERS))
    return engine


def today(engine: sa.Engine) -> date:
    with session_scope(engine) as session:
        return region_today(session, REGION, now=datetime.now(UTC))


def status_of(engine: sa.Engine, local_date: date) -> EditionStatus:
    return edition_status(engine, REGION, local_date).status


def stored_status(engine: sa.Engine, local_date: date) -> EditionStatus | None:
    with session_scope(engine) as session:
        edition = session.exec(
            select(Edition).where(Edition.region_code == REGION, Edition.local_date == local_date)
        ).first()
        return edition.status if edition is not None else None


def outbox_count(tmp_path: Path) -> int:
    return len(list((tmp_path / "outbox").rglob("*.eml")))


def mark_missed(engine: sa.Engine, local_date: date) -> None:
    """What the scheduler does past the grace window."""
    record_missed(engine, REGION, local_date, datetime.now(UTC) - timedelta(hours=5))
    assert status_of(engine, local_date) is EditionStatus.MISSED


def lead_story_headline(engine: sa.Engine, local_date: date, headline: str) -> None:
    """Change the edition's first story in the newsroom's tables."""
    with session_scope(engine) as session:
        edition = session.exec(
            select(Edition).where(Edition.region_code == REGION, Edition.local_date == local_date)
        ).one()
        item = session.exec(
            select(EditionItem)
            .where(EditionItem.edition_id == edition.id, EditionItem.story_id.is_not(None))  # type: ignore[union-attr]
            .order_by(EditionItem.position)  # type: ignore[arg-type]
        ).first()
        assert item is not None
        story = session.get(Story, item.story_id)
        assert story is not None
        story.headline = headline


# -- a missed edition ------------------------------------------------------------------


def test_a_missed_edition_is_sent_only_on_an_explicit_decision(seeded: sa.Engine, db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path, batch_size=4)
    local_date = today(seeded)
    mark_missed(seeded, local_date)

    with pytest.raises(EditionError, match="--send-missed"):
        send_edition(seeded, settings, REGION, local_date)
    # The scheduler's path never sends it on its own.
    assert run_edition(seeded, settings, REGION, local_date).outcome is RunOutcome.SKIPPED
    assert status_of(seeded, local_date) is EditionStatus.MISSED and outbox_count(tmp_path) == 0

    report = send_edition(seeded, settings, REGION, local_date, send_missed=True)
    assert report.outcome is SendOutcome.COMPLETED
    assert status_of(seeded, local_date) is EditionStatus.SENT
    assert outbox_count(tmp_path) == READERS


def test_an_approved_edition_that_was_missed_goes_out_as_approved(
    seeded: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    settings = make_settings(db_url, tmp_path, require_approval=True)
    local_date = today(seeded)
    with session_scope(seeded) as session:
        approved = approve_edition(session, settings, REGION, local_date)
    mark_missed(seeded, local_date)
    lead_story_headline(seeded, local_date, "Rewritten after the sign-off")

    report = send_edition(seeded, settings, REGION, local_date, send_missed=True)

    assert report.outcome is SendOutcome.COMPLETED and outbox_count(tmp_path) == READERS
    with session_scope(seeded) as session:
        edition = session.get(Edition, approved.edition_id)
        assert edition is not None and edition.html == approved.html


def test_cli_send_of_a_missed_edition_names_the_flag_and_asks(seeded: sa.Engine, db_url: str, tmp_path: Path) -> None:
    local_date = today(seeded)
    mark_missed(seeded, local_date)
    env = {"NEWSLETTER_OUTBOX_DIR": str(tmp_path / "outbox")}
    args = ["send", REGION, "--date", local_date.isoformat()]

    refused = run_cli([*args, "--yes"], db_url, tmp_path, **env)
    assert refused.returncode == 1
    assert "missed" in refused.stderr and "--send-missed" in refused.stderr

    declined = run_cli([*args, "--send-missed"], db_url, tmp_path, input="n\n", **env)
    assert declined.returncode == 1 and "missed" in declined.stdout
    assert status_of(seeded, local_date) is EditionStatus.MISSED and outbox_count(tmp_path) == 0

    sent = run_cli([*args, "--send-missed"], db_url, tmp_path, input="y\n", **env)
    assert sent.returncode == 0, sent.stderr
    assert status_of(seeded, local_date) is EditionStatus.SENT
    assert outbox_count(tmp_path) == READERS


# -- un-approving -------------------------------------------------------------------------


def test_unapprove_returns_to_draft_and_the_next_preview_reassembles(
    seeded: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    settings = make_settings(db_url, tmp_path)
    local_date = today(seeded)
    with session_scope(seeded) as session:
        approve_edition(session, settings, REGION, local_date)
    lead_story_headline(seeded, local_date, "A corrected headline")
    with session_scope(seeded) as session:
        assert "A corrected headline" not in prepare_edition(session, settings, REGION, local_date).html  # frozen

    with session_scope(seeded) as session:
        assert unapprove_edition(session, REGION, local_date) is EditionStatus.APPROVED
    assert status_of(seeded, local_date) is EditionStatus.DRAFT
    with session_scope(seeded) as session:
        edition = session.exec(select(Edition).where(Edition.region_code == REGION)).one()
        assert edition.approved_at is None
        assert "A corrected headline" in prepare_edition(session, settings, REGION, local_date).html

    with session_scope(seeded) as session:  # a draft already: nothing to undo, no error
        assert unapprove_edition(session, REGION, local_date) is EditionStatus.DRAFT


def test_cli_unapprove_then_preview_shows_the_changed_story(seeded: sa.Engine, db_url: str, tmp_path: Path) -> None:
    local_date = today(seeded)
    args = [REGION, "--date", local_date.isoformat()]
    assert run_cli(["approve", *args], db_url, tmp_path).returncode == 0
    lead_story_headline(seeded, local_date, "A corrected headline")

    result = run_cli(["unapprove", *args], db_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "draft" in result.stdout
    preview = run_cli(["preview", *args, "--out", str(tmp_path / "p.html")], db_url, tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert "A corrected headline" in (tmp_path / "p.html").read_text(encoding="utf-8")


def test_an_edition_under_way_cannot_be_unapproved(seeded: sa.Engine, db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path, batch_size=2, concurrency=1)
    local_date = today(seeded)
    polls = iter([False, True])  # one batch, then a stop request
    stopped = send_edition(seeded, settings, REGION, local_date, should_stop=lambda: next(polls, True))
    assert stopped.outcome is SendOutcome.STOPPED and status_of(seeded, local_date) is EditionStatus.SENDING

    with session_scope(seeded) as session, pytest.raises(EditionError, match="sending"):
        unapprove_edition(session, REGION, local_date)
    result = run_cli(["unapprove", REGION, "--date", local_date.isoformat()], db_url, tmp_path)
    assert result.returncode == 1 and "sending" in result.stderr and "cannot be un-approved" in result.stderr
    assert status_of(seeded, local_date) is EditionStatus.SENDING

    assert send_edition(seeded, settings, REGION, local_date).completed
    with session_scope(seeded) as session, pytest.raises(EditionError, match="sent"):
        unapprove_edition(session, REGION, local_date)


# -- a refused or missing SendGrid key ------------------------------------------------------


@pytest.mark.parametrize("approved", [False, True], ids=["draft", "approved"])
def test_a_refused_key_leaves_the_edition_sendable_and_a_fixed_key_sends_once_each(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn, approved: bool
) -> None:
    local_date = today(seeded)
    before = EditionStatus.APPROVED if approved else EditionStatus.DRAFT
    if approved:
        with session_scope(seeded) as session:
            approve_edition(session, make_settings(db_url, tmp_path), REGION, local_date)
    wrong = sendgrid_settings(db_url, tmp_path, sendgrid_standin, sendgrid_api_key="SG.revoked", batch_size=2)

    report = send_edition(seeded, wrong, REGION, local_date, sleep=no_sleep)

    assert report.outcome is SendOutcome.FAILED and "SENDGRID_API_KEY" in report.message
    assert set(sendgrid_standin.answers) == {401}
    assert status_of(seeded, local_date) is before  # not sending, not failed: nothing went out
    assert ledger_states(seeded) == {}
    assert "SENDGRID_API_KEY" in edition_status(seeded, REGION, local_date).note

    good = sendgrid_settings(db_url, tmp_path, sendgrid_standin, batch_size=2)
    fixed = send_edition(seeded, good, REGION, local_date, sleep=no_sleep)
    assert fixed.completed and status_of(seeded, local_date) is EditionStatus.SENT
    assert sendgrid_standin.recipients() == Counter(r.email for r in active_readers(READERS))


def test_a_key_refused_after_some_went_out_leaves_the_send_failed_for_resume(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    local_date = today(seeded)
    sendgrid_standin.script, sendgrid_standin.default = ["202"], "401"  # the key is revoked mid-send
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, batch_size=2, concurrency=1)

    report = send_edition(seeded, settings, REGION, local_date, sleep=no_sleep)

    assert report.outcome is SendOutcome.FAILED and "nothing was sent" not in report.message
    assert status_of(seeded, local_date) is EditionStatus.FAILED  # under way: frozen, resumable
    with session_scope(seeded) as session, pytest.raises(EditionError, match="cannot be un-approved"):
        unapprove_edition(session, REGION, local_date)
    sendgrid_standin.default = "202"
    assert send_edition(seeded, settings, REGION, local_date, sleep=no_sleep).completed
    assert sendgrid_standin.recipients() == Counter(r.email for r in active_readers(READERS))


def test_a_missing_key_never_leaves_the_edition_sending(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    local_date = today(seeded)
    with session_scope(seeded) as session:
        prepare_edition(session, make_settings(db_url, tmp_path), REGION, local_date)
    empty = sendgrid_settings(db_url, tmp_path, sendgrid_standin, sendgrid_api_key="")

    with pytest.raises(ConfigurationError, match="SENDGRID_API_KEY"):
        send_edition(seeded, empty, REGION, local_date)
    assert status_of(seeded, local_date) is EditionStatus.DRAFT and ledger_states(seeded) == {}

    fixed = send_edition(seeded, sendgrid_settings(db_url, tmp_path, sendgrid_standin), REGION, local_date)
    assert fixed.completed
    assert sendgrid_standin.recipients() == Counter(r.email for r in active_readers(READERS))


def test_cli_send_with_a_refused_key_says_what_to_fix_and_a_rerun_completes(
    seeded: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    local_date = today(seeded)
    env = {"NEWSLETTER_BACKEND": "sendgrid", "SENDGRID_API_HOST": sendgrid_standin.host, "NEWSLETTER_BATCH_SIZE": "2"}
    args = ["send", REGION, "--date", local_date.isoformat(), "--yes"]

    missing = run_cli(args, db_url, tmp_path, SENDGRID_API_KEY="", **env)
    assert missing.returncode == 1 and "SENDGRID_API_KEY" in missing.stderr
    assert stored_status(seeded, local_date) is None  # refused before the edition was touched
    refused = run_cli(args, db_url, tmp_path, SENDGRID_API_KEY="SG.revoked", **env)
    assert refused.returncode == 1
    (why,) = refused.stderr.splitlines()  # the summary on stdout, the reason one line on stderr
    assert "SENDGRID_API_KEY" in why and "nothing was sent" in why
    assert "newsletter send dc" in why and "newsletter resume" not in why
    assert status_of(seeded, local_date) is EditionStatus.DRAFT and ledger_states(seeded) == {}

    fixed = run_cli(args, db_url, tmp_path, SENDGRID_API_KEY=API_KEY, **env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert status_of(seeded, local_date) is EditionStatus.SENT
    assert sendgrid_standin.recipients() == Counter(r.email for r in active_readers(READERS))


def test_only_an_interrupted_send_can_be_resumed(engine: sa.Engine) -> None:
    """The resume rule lives in send/: sending or failed resumes; every other state says why not."""
    from newsletter.send.service import check_resumable
    from tests.web_helpers import add_regions

    add_regions(engine)
    day = date(2026, 11, 1)
    with session_scope(engine) as session:
        for offset, status in enumerate(EditionStatus):
            session.add(Edition(region_code="dc", local_date=day + timedelta(days=offset), status=status))
    for offset, status in enumerate(EditionStatus):
        if status in (EditionStatus.SENDING, EditionStatus.FAILED):
            check_resumable(engine, "dc", day + timedelta(days=offset))
        else:
            with pytest.raises(EditionError, match=f"is {status.value}: there is no interrupted send to resume"):
                check_resumable(engine, "dc", day + timedelta(days=offset))
