"""Editors' commands in real processes: approve (freeze with overrides) and proof copies."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.models import Delivery, Edition, EditionStatus
from tests.conftest import run_cli, seed_engine

DATE = "2026-11-29"


def test_approve_freezes_with_an_overridden_subject(sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path) -> None:
    seed_engine(sqlite_engine)
    result = run_cli(["approve", "bxl", "--date", DATE, "--subject", "Grid money, explained"], sqlite_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "approved and frozen: bxl 2026-11-29" in result.stdout
    assert "subject:   Grid money, explained" in result.stdout
    with Session(sqlite_engine) as session:
        edition = session.exec(select(Edition).where(Edition.region_code == "bxl")).one()
    assert edition.status is EditionStatus.APPROVED and edition.subject_override == "Grid money, explained"

    again = run_cli(["approve", "bxl", "--date", DATE, "--subject", "Too late"], sqlite_url, tmp_path)
    assert again.returncode == 1 and "frozen" in again.stderr


def test_proof_goes_to_editors_only_and_records_nothing(sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path) -> None:
    seed_engine(sqlite_engine)
    outbox = tmp_path / "outbox"
    result = run_cli(
        ["proof", "dc", "--date", DATE, "--to", "Desk.Editor@Example.com", "--to", "night@example.org"],
        sqlite_url, tmp_path, NEWSLETTER_OUTBOX_DIR=str(outbox),
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
    result = run_cli(["proof", "dc", "--to", "ok@example.com", "--to", "not an address"],
                     sqlite_url, tmp_path, NEWSLETTER_OUTBOX_DIR=str(outbox))
    assert result.returncode == 2
    assert "--to" in result.stderr
    assert not outbox.exists()
