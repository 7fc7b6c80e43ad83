"""`newsletter editions list|show` in real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newsletter.db.engine import make_engine, session_scope
from newsletter.db.models import EditionStatus
from newsletter.editions.rows import get_or_create_edition
from tests.conftest import run_cli, seed_engine

DATE = "2026-11-29"
# The sample stories' day: each command's clock starts here, so --date DATE is "today".
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def cli(args: list[str], db_url: str, tmp_path: Path) -> str:
    result = run_cli(args, db_url, tmp_path, at=NOW, NEWSLETTER_OUTBOX_DIR=str(tmp_path / "outbox"))
    assert result.returncode == 0, result.stderr
    return result.stdout


def document(args: list[str], db_url: str, tmp_path: Path) -> Any:
    return json.loads(cli([*args, "--json"], db_url, tmp_path))


@pytest.fixture
def two_editions(db_url: str, tmp_path: Path) -> str:
    """dc approved and sent (outbox), bxl a previewed draft."""
    engine = make_engine(db_url)
    seed_engine(engine)
    engine.dispose()
    cli(["approve", "dc", "--date", DATE], db_url, tmp_path)
    cli(["send", "dc", "--date", DATE, "--yes"], db_url, tmp_path)
    cli(["preview", "bxl", "--date", DATE, "--out", str(tmp_path / "bxl.html")], db_url, tmp_path)
    return db_url


def test_list_json_has_status_stories_size_approval_and_ledger(two_editions: str, tmp_path: Path) -> None:
    editions = document(["editions", "list"], two_editions, tmp_path)["editions"]
    assert [(e["region"], e["local_date"], e["status"]) for e in editions] == [
        ("dc", DATE, "sent"),
        ("bxl", DATE, "draft"),
    ]
    dc, bxl = editions
    assert set(dc) == {
        "region", "local_date", "status", "subject", "stories", "size_kb", "approved_at", "sent_at", "ledger"
    }  # fmt: skip
    assert dc["stories"] == 3 and bxl["stories"] == 3
    html = (tmp_path / "bxl.html").read_bytes()  # the preview's copy: same size give or take the sample token
    assert abs(bxl["size_kb"] - len(html) / 1024) < 1
    assert timedelta(0) <= datetime.fromisoformat(dc["approved_at"]) - NOW < timedelta(minutes=5)
    assert bxl["approved_at"] is None and bxl["sent_at"] is None
    sent_files = list((tmp_path / "outbox" / f"dc-{DATE}").glob("*.eml"))
    assert dc["ledger"]["sent"] == len(sent_files) > 0
    assert set(dc["ledger"]) == {"claimed", "queued", "sent", "failed", "suppressed", "unknown"}
    assert sum(bxl["ledger"].values()) == 0


def test_list_filters_and_table(two_editions: str, tmp_path: Path) -> None:
    def regions(*args: str) -> list[str]:
        return [e["region"] for e in document(["editions", "list", *args], two_editions, tmp_path)["editions"]]

    assert regions("--status", "sent") == ["dc"]
    assert regions("--region", "bxl") == ["bxl"]
    assert regions("--since", "2026-11-30") == []
    assert regions("--since", "3d") == ["dc", "bxl"]  # three days back from the (faked) today
    assert regions("--region", "dc", "--status", "draft") == []
    lines = cli(["editions", "list"], two_editions, tmp_path).splitlines()
    assert lines[0].split()[:5] == ["region", "date", "status", "stories", "KB"]
    assert lines[1].split()[:4] == ["dc", DATE, "sent", "3"]
    assert lines[2].split()[:4] == ["bxl", DATE, "draft", "3"]


def test_show_one_edition(two_editions: str, tmp_path: Path) -> None:
    detail = document(["editions", "show", "dc", "--date", DATE], two_editions, tmp_path)
    assert detail["status"] == "sent" and detail["stories"] == len(detail["story_headlines"]) == 3
    assert detail["ledger"]["sent"] > 0 and detail["sent_at"] is not None and detail["send_started_at"] is not None
    assert detail["subject_overridden"] is False and detail["ad_sponsors"]
    text = cli(["editions", "show", "dc", "--date", DATE], two_editions, tmp_path)
    assert f"edition dc {DATE} (#{detail['edition_id']}): sent" in text
    assert f"    1. {detail['story_headlines'][0]}" in text
    assert f"  subject:   {detail['subject']}" in text
    assert f"sent {detail['ledger']['sent']}" in text


def test_show_and_list_refuse_what_does_not_exist(two_editions: str, tmp_path: Path) -> None:
    for args in (["editions", "show", "lagos", "--date", DATE, "--json"], ["editions", "list", "--region", "zz"]):
        result = run_cli(args, two_editions, tmp_path, at=NOW)
        assert result.returncode == 1 and result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
    missing = run_cli(["editions", "show", "lagos", "--date", DATE], two_editions, tmp_path, at=NOW)
    assert "newsletter preview lagos" in missing.stderr


def test_an_edition_recorded_before_any_rendering(db_url: str, tmp_path: Path) -> None:
    """The scheduler records a missed edition on a bare row (no snapshot, no HTML): listed, not measured."""
    engine = make_engine(db_url)
    seed_engine(engine)
    with session_scope(engine) as session:
        edition = get_or_create_edition(session, "lagos", date(2026, 11, 28))
        edition.status, edition.note = EditionStatus.MISSED, "missed: the scheduler was down"
    engine.dispose()
    (row,) = document(["editions", "list", "--status", "missed"], db_url, tmp_path)["editions"]
    assert (row["region"], row["local_date"], row["stories"], row["size_kb"]) == ("lagos", "2026-11-28", 0, None)
    text = cli(["editions", "show", "lagos", "--date", "2026-11-28"], db_url, tmp_path)
    assert "  size:      not rendered yet" in text and "  note:      missed: the scheduler was down" in text
