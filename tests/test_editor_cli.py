"""Editors' commands in real processes: approve (freeze with overrides) and proof copies."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime
from email import policy
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db.models import Delivery, DeliveryState, Edition, EditionStatus
from newsletter.send.service import SendOutcome, send_edition
from tests.conftest import make_settings, run_cli, seed_engine

DATE = "2026-11-29"
# The sample stories' day: each command's clock starts here, so --date DATE is "today".
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_approve_freezes_with_an_overridden_subject(sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path) -> None:
    seed_engine(sqlite_engine)
    result = run_cli(
        ["approve", "bxl", "--date", DATE, "--subject", "Grid money, explained"], sqlite_url, tmp_path, at=NOW
    )
    assert result.returncode == 0, result.stderr
    assert "approved and frozen: bxl 2026-11-29" in result.stdout
    assert "subject:   Grid money, explained" in result.stdout
    with Session(sqlite_engine) as session:
        edition = session.exec(select(Edition).where(Edition.region_code == "bxl")).one()
    assert edition.status is EditionStatus.APPROVED and edition.subject_override == "Grid money, explained"

    again = run_cli(["approve", "bxl", "--date", DATE, "--subject", "Too late"], sqlite_url, tmp_path, at=NOW)
    assert again.returncode == 1 and "frozen" in again.stderr


def test_proof_goes_to_editors_only_and_records_nothing(
    sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path
) -> None:
    seed_engine(sqlite_engine)
    outbox = tmp_path / "outbox"
    result = run_cli(
        ["proof", "dc", "--date", DATE, "--to", "Desk.Editor@Example.com", "--to", "night@example.org"],
        sqlite_url,
        tmp_path,
        at=NOW,
        NEWSLETTER_OUTBOX_DIR=str(outbox),
    )
    assert result.returncode == 0, result.stderr
    files = sorted((outbox / f"proof-dc-{DATE}").glob("*.eml"))
    assert len(files) == 2
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["Subject"].startswith("[PROOF] ")
    assert message["To"] in {"desk.editor@example.com", "night@example.org"}
    html = message.get_body(("html",)).get_content()
    assert "https://news.example.com/u/proof-copy" in html and "%%recipient_token%%" not in html
    with Session(sqlite_engine) as session:
        assert session.exec(select(Delivery)).all() == []
        assert session.exec(select(Edition.status)).one() is EditionStatus.DRAFT


def test_proof_refuses_a_bad_address_before_sending(sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path) -> None:
    seed_engine(sqlite_engine)
    outbox = tmp_path / "outbox"
    result = run_cli(
        ["proof", "dc", "--to", "ok@example.com", "--to", "not an address"],
        sqlite_url,
        tmp_path,
        NEWSLETTER_OUTBOX_DIR=str(outbox),
    )
    assert result.returncode == 2
    assert "--to" in result.stderr
    assert not outbox.exists()


def test_resume_continues_a_stopped_send_and_refuses_when_there_is_none(
    sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path
) -> None:
    seed_engine(sqlite_engine)
    outbox = tmp_path / "outbox"
    env = {"NEWSLETTER_OUTBOX_DIR": str(outbox), "NEWSLETTER_BATCH_SIZE": "4", "NEWSLETTER_CONCURRENCY": "1"}
    nothing = run_cli(["resume", "sg", "--date", DATE], sqlite_url, tmp_path, at=NOW, **env)
    assert nothing.returncode == 1 and "no edition for sg" in nothing.stderr

    settings = make_settings(sqlite_url, tmp_path, batch_size=4, concurrency=1)
    polls = iter([False, True])  # one batch, then "SIGTERM"
    stopped = send_edition(
        sqlite_engine, settings, "sg", date.fromisoformat(DATE), now=NOW, should_stop=lambda: next(polls, True)
    )
    assert stopped.outcome is SendOutcome.STOPPED
    first_run = len(list(outbox.rglob("*.eml")))
    assert 0 < first_run < 10

    resumed = run_cli(["resume", "sg", "--date", DATE], sqlite_url, tmp_path, at=NOW, **env)
    assert resumed.returncode == 0, resumed.stderr
    assert "completed" in resumed.stdout
    with Session(sqlite_engine) as session:
        sent = session.exec(select(Delivery.subscriber_id).where(Delivery.state == DeliveryState.SENT)).all()
    files = list(outbox.rglob("*.eml"))
    assert len(sent) == len(set(sent)) == len(files) > first_run

    finished = run_cli(["resume", "sg", "--date", DATE], sqlite_url, tmp_path, at=NOW, **env)
    assert finished.returncode == 1 and "is sent: there is no interrupted send" in finished.stderr
