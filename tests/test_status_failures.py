"""`newsletter status` groups failed recipients by the provider's reason, in text and JSON (real SMTP peer)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.db.engine import make_engine
from newsletter.db.models import Subscriber, SubscriberStatus, Subscription
from tests.conftest import run_cli, seed_engine
from tests.peers.smtp import SmtpStandIn

DATE = "2026-11-29"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def dc_readers(engine: sa.Engine) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(
            select(Subscriber.email)
            .join(Subscription, col(Subscription.subscriber_id) == col(Subscriber.id))
            .where(Subscription.region_code == "dc", Subscriber.status == SubscriberStatus.ACTIVE)
            .order_by(col(Subscriber.id))
        )
        return list(rows)


def test_status_groups_failures_by_reason(db_url: str, tmp_path: Path, smtp_standin: SmtpStandIn) -> None:
    engine = make_engine(db_url)
    seed_engine(engine)
    readers = dc_readers(engine)
    engine.dispose()
    assert len(readers) >= 8
    smtp_standin.refuse = set(readers[:5])  # 550 at RCPT TO
    smtp_standin.refuse_data = {readers[6]}  # 554 after DATA
    smtp = {"NEWSLETTER_BACKEND": "smtp", "NEWSLETTER_SMTP_PORT": str(smtp_standin.port)}
    sent = run_cli(["send", "dc", "--date", DATE, "--yes"], db_url, tmp_path, at=NOW, **smtp)
    assert sent.returncode == 0, sent.stderr

    result = run_cli(["status", "dc", "--date", DATE, "--json"], db_url, tmp_path, at=NOW)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ledger"]["failed"] == 6
    assert document["ledger"]["sent"] == len(readers) - 6
    (mailbox, content) = document["failures"]  # most frequent first
    assert mailbox["count"] == 5 and "550" in mailbox["reason"] and "mailbox unavailable" in mailbox["reason"]
    assert mailbox["examples"] == readers[:3]
    assert content["count"] == 1 and "554" in content["reason"] and content["examples"] == [readers[6]]
    assert document["region"] == "dc" and document["local_date"] == DATE and document["status"] == "sent"

    text = run_cli(["status", "dc", "--date", DATE], db_url, tmp_path, at=NOW)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    head = lines.index("  6 failed, by the provider's reason:")
    assert lines[head + 1].split()[0] == "5"
    assert lines[head + 1].endswith(f"{', '.join(readers[:3])} and 2 more")
    assert mailbox["reason"] in lines[head + 1]
    assert lines[head + 2].split()[0] == "1" and lines[head + 2].endswith(readers[6])
