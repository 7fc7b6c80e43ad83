"""The Gmail clip guard: HTML over NEWSLETTER_MAX_HTML_KB is refused by send, the scheduler
and approve (size, budget, biggest parts in the message); preview warns; send can override."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.db.engine import session_scope
from newsletter.db.models import Delivery, Edition, EditionStatus
from newsletter.editions.clip_guard import check_html_size, html_size
from newsletter.editions.lifecycle import approve_edition, prepare_edition
from newsletter.errors import HtmlTooLargeError
from newsletter.schedule.daily import RunOutcome, run_edition
from newsletter.send.service import send_edition
from tests.conftest import make_settings, run_cli, seed_engine

DAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # the seed editions are 48-60 KB
SMALL_BUDGET = 40


def test_size_report_splits_the_html_into_its_blocks(sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path) -> None:
    seed_engine(sqlite_engine)
    settings = make_settings(sqlite_url, tmp_path)
    with session_scope(sqlite_engine) as session:
        rendered = prepare_edition(session, settings, "dc", DAY, now=NOW)
    size = html_size(rendered, 90)
    assert not size.over and size.total == len(rendered.html.encode())
    labels = {label for label, _ in size.parts}
    assert {"header", "footer", "head and styles"} <= labels
    assert sum(1 for label in labels if label.startswith("story ")) == 3
    assert sum(1 for label in labels if label.startswith("ad ")) == 2
    assert sum(part for _, part in size.parts) == size.total
    assert [part for _, part in size.parts] == sorted((part for _, part in size.parts), reverse=True)
    check_html_size(rendered, 90)  # within budget: no error


def test_send_refuses_html_over_budget_and_an_editor_can_override(
    engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    seed_engine(engine)
    settings = make_settings(db_url, tmp_path, max_html_kb=SMALL_BUDGET)
    with pytest.raises(HtmlTooLargeError) as refused:
        send_edition(engine, settings, "dc", DAY, now=NOW)
    message = str(refused.value)
    assert "edition dc 2026-11-29 cannot be sent: HTML is " in message
    assert f"over the {SMALL_BUDGET} KB budget (NEWSLETTER_MAX_HTML_KB)" in message
    assert "biggest parts: story " in message and "--allow-large-html" in message
    with Session(engine) as session:
        assert session.exec(select(Delivery)).all() == []
        assert session.exec(select(Edition.status)).all() in ([], [EditionStatus.DRAFT])

    report = send_edition(engine, settings, "dc", DAY, now=NOW, allow_large_html=True)
    assert report.completed and sum(report.this_run.values()) > 0
    # A send under way is finished whatever its size: a later run is not refused.
    again = send_edition(engine, settings, "dc", DAY, now=NOW)
    assert again.completed


def test_approve_refuses_html_over_budget(sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path) -> None:
    seed_engine(sqlite_engine)
    settings = make_settings(sqlite_url, tmp_path, max_html_kb=SMALL_BUDGET)
    budget = r"cannot be approved: HTML is .* KB, over the 40 KB budget"
    with pytest.raises(HtmlTooLargeError, match=budget), session_scope(sqlite_engine) as session:
        approve_edition(session, settings, "bxl", DAY, now=NOW)
    with Session(sqlite_engine) as session:
        assert EditionStatus.APPROVED not in session.exec(select(Edition.status)).all()


def test_the_scheduler_path_holds_the_edition_with_a_note(
    sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path
) -> None:
    seed_engine(sqlite_engine)
    settings = make_settings(sqlite_url, tmp_path, max_html_kb=SMALL_BUDGET)
    run = run_edition(sqlite_engine, settings, "lagos", DAY, now=NOW)
    assert run.outcome is RunOutcome.HELD and "over the 40 KB budget" in run.detail
    with Session(sqlite_engine) as session:
        edition = session.exec(select(Edition).where(Edition.region_code == "lagos")).one()
        assert edition.status is EditionStatus.DRAFT and "biggest parts" in edition.note
        assert session.exec(select(Delivery)).all() == []


def test_cli_preview_warns_send_refuses_and_allow_large_html_sends(
    sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path
) -> None:
    seed_engine(sqlite_engine)
    env = {"NEWSLETTER_MAX_HTML_KB": str(SMALL_BUDGET), "NEWSLETTER_OUTBOX_DIR": str(tmp_path / "outbox")}
    preview = run_cli(
        ["preview", "sg", "--date", "2026-11-29", "--out", str(tmp_path / "sg.html")],
        sqlite_url,
        tmp_path,
        at=NOW,
        **env,
    )
    assert preview.returncode == 0, preview.stderr
    assert "warning: HTML is" in preview.stderr and "over the 40 KB budget" in preview.stderr
    assert (tmp_path / "sg.html").exists()

    refused = run_cli(["send", "sg", "--date", "2026-11-29", "--yes"], sqlite_url, tmp_path, at=NOW, **env)
    assert refused.returncode == 1 and "cannot be sent: HTML is" in refused.stderr
    assert not list((tmp_path / "outbox").rglob("*.eml"))

    sent = run_cli(
        ["send", "sg", "--date", "2026-11-29", "--yes", "--allow-large-html"], sqlite_url, tmp_path, at=NOW, **env
    )
    assert sent.returncode == 0, sent.stderr
    assert list((tmp_path / "outbox").rglob("*.eml"))
