"""The subject an editor set is the one sent, and the one the archive lists: never the derived one.

Through the real commands (``approve --subject``, ``send``) in child processes, the
outbox files they write, and the web app's archive pages, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select

from newsletter.db.engine import session_scope
from newsletter.db.models import Edition
from newsletter.editions.lifecycle import region_today, set_edition_text
from newsletter.web import create_app
from tests.conftest import make_settings, run_cli
from tests.dispatch_harness import REGION, active_readers, add_readers, seed_content
from tests.web_helpers import TestClient

SUBJECT = "An editor's own subject for today"
PREHEADER = "Chosen by hand, not derived"


def test_an_overridden_subject_is_what_was_sent_and_what_the_archive_lists(
    engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    seed_content(engine, tmp_path)
    add_readers(engine, active_readers(2))
    with session_scope(engine) as session:
        local_date = region_today(session, REGION, now=datetime.now(UTC))
    args = [REGION, "--date", local_date.isoformat()]
    outbox = {"NEWSLETTER_OUTBOX_DIR": str(tmp_path / "outbox")}

    approved = run_cli(["approve", *args, "--subject", SUBJECT, "--preheader", PREHEADER], db_url, tmp_path)
    assert approved.returncode == 0, approved.stderr
    sent = run_cli(["send", *args, "--yes"], db_url, tmp_path, **outbox)
    assert sent.returncode == 0, sent.stderr

    files = sorted((tmp_path / "outbox").rglob("*.eml"))
    assert len(files) == 2
    for path in files:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert message["Subject"] == SUBJECT
    with session_scope(engine) as session:
        edition = session.exec(
            select(Edition).where(Edition.region_code == REGION, Edition.local_date == local_date)
        ).one()
        assert (edition.subject, edition.preheader) == (SUBJECT, PREHEADER)

    settings = make_settings(db_url, tmp_path)
    with TestClient(create_app(settings, engine), base_url="https://testserver") as client:
        index = client.get(f"/editions/{REGION}")
        page = client.get(f"/editions/{REGION}/{local_date.isoformat()}")
    assert index.status_code == 200 and "An editor&#39;s own subject for today" in index.text
    assert page.status_code == 200 and "An editor&#39;s own subject for today" in page.text
    assert PREHEADER in page.text


def test_the_upgrade_puts_the_sent_subject_into_editions_stored_before(engine: sa.Engine, tmp_path: Path) -> None:
    from alembic import command

    from newsletter.db.engine import _alembic_config

    seed_content(engine, tmp_path)
    settings = make_settings(str(engine.url), tmp_path)
    with session_scope(engine) as session:
        local_date = region_today(session, REGION, now=datetime.now(UTC))
        set_edition_text(session, settings, REGION, local_date, subject=SUBJECT, preheader=PREHEADER)
    with session_scope(engine) as session:  # as stored before 0004: the derived text in the columns
        edition = session.exec(select(Edition).where(Edition.region_code == REGION)).one()
        edition.subject, edition.preheader = "The derived subject", "The derived preheader"

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
        command.upgrade(config, "head")

    with session_scope(engine) as session:
        edition = session.exec(select(Edition).where(Edition.region_code == REGION)).one()
        assert (edition.subject, edition.preheader) == (SUBJECT, PREHEADER)
