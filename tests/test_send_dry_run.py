"""`send --dry-run` in real processes: the plan of a send, and the database exactly as it was.

The request sizes are checked against what the real SendGrid client then posts to the
stand-in, so "what the backend would be handed" is measured, not estimated.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.db.engine import make_engine
from newsletter.db.models import Delivery, Edition, EditionStatus, Subscriber, SubscriberStatus, Subscription
from tests.conftest import run_cli, seed_engine
from tests.peers.sendgrid import API_KEY, StandIn

DATE = "2026-11-29"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def cli(args: list[str], db_url: str, tmp_path: Path, **env: str) -> Any:
    return run_cli(args, db_url, tmp_path, at=NOW, NEWSLETTER_OUTBOX_DIR=str(tmp_path / "outbox"), **env)


def ok(args: list[str], db_url: str, tmp_path: Path, **env: str) -> str:
    result = cli(args, db_url, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def stored(db_url: str) -> tuple[list[tuple[Any, ...]], int]:
    """Every edition row as it stands (HTML by digest) and the number of ledger rows."""
    engine = make_engine(db_url)
    with Session(engine) as session:
        editions = [
            (
                e.region_code,
                e.local_date,
                e.status,
                e.approved_at,
                e.send_started_at,
                e.sent_at,
                e.note,
                hashlib.sha256((e.html or "").encode()).hexdigest(),
            )
            for e in session.exec(select(Edition).order_by(col(Edition.id)))
        ]
        deliveries = len(session.exec(select(Delivery.id)).all())
    engine.dispose()
    return editions, deliveries


def seed_with_one_unsubscribed(db_url: str) -> int:
    """Seed; the first dc reader unsubscribes (a send records them as suppressed). Returns dc's active readers."""
    engine = make_engine(db_url)
    seed_engine(engine)
    with Session(engine) as session:
        ids = session.exec(
            select(Subscriber.id)
            .join(Subscription, col(Subscription.subscriber_id) == col(Subscriber.id))
            .where(Subscription.region_code == "dc", Subscriber.status == SubscriberStatus.ACTIVE)
            .order_by(col(Subscriber.id))
        ).all()
        session.execute(
            sa.update(Subscriber).where(col(Subscriber.id) == ids[0]).values(status=SubscriberStatus.UNSUBSCRIBED)
        )
        session.commit()
    engine.dispose()
    return len(ids) - 1


def test_dry_run_measures_what_sendgrid_is_then_handed(db_url: str, tmp_path: Path, sendgrid_standin: StandIn) -> None:
    readers = seed_with_one_unsubscribed(db_url)
    sendgrid = {
        "NEWSLETTER_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": API_KEY,
        "SENDGRID_API_HOST": sendgrid_standin.host,
        "NEWSLETTER_BATCH_SIZE": "5",
        # One batch in flight at a time, so the stand-in receives the requests in the plan's order.
        "NEWSLETTER_CONCURRENCY": "1",
    }
    before = stored(db_url)
    plan = json.loads(ok(["send", "dc", "--date", DATE, "--dry-run", "--json"], db_url, tmp_path, **sendgrid))
    assert stored(db_url) == before == ([], 0)  # not even a draft row is left behind
    assert sendgrid_standin.received == []
    assert plan["backend"] == "sendgrid" and plan["stored_status"] is None and plan["already_sent"] is False
    assert plan["recipients"] == readers and plan["suppressed"] == 1 and plan["in_ledger"] == 0
    # Pages of five readers, the unsubscribed one among the first: 4 to send, then 5, 5, ...
    assert [b["recipients"] for b in plan["batches"]][:2] == [4, 5]
    assert sum(b["recipients"] for b in plan["batches"]) == readers

    ok(["send", "dc", "--date", DATE, "--yes"], db_url, tmp_path, **sendgrid)
    posted = [len(orjson.dumps(body)) for body in sendgrid_standin.received]
    assert posted == [size for b in plan["batches"] for size in b["request_bytes"]]
    assert [len(body["personalizations"]) for body in sendgrid_standin.received] == [
        b["recipients"] for b in plan["batches"]
    ]


def test_dry_run_changes_nothing_for_a_draft_an_approved_or_a_sent_edition(db_url: str, tmp_path: Path) -> None:
    readers = seed_with_one_unsubscribed(db_url)
    ok(["preview", "bxl", "--date", DATE, "--out", str(tmp_path / "bxl.html")], db_url, tmp_path)
    ok(["approve", "dc", "--date", DATE], db_url, tmp_path)
    before = stored(db_url)

    text = ok(["send", "dc", "--date", DATE, "--dry-run"], db_url, tmp_path)
    assert f"dry run: dc {DATE} through outbox" in text
    assert f"  recipients: {readers} (and 1 suppressed" in text
    assert "  edition:    approved;" in text
    draft = ok(["send", "bxl", "--date", DATE, "--dry-run"], db_url, tmp_path)
    assert "  edition:    draft;" in draft
    assert stored(db_url) == before and before[1] == 0
    assert not (tmp_path / "outbox").exists()
    # Not frozen: the draft still takes an editor's subject, which only a draft does.
    ok(["approve", "bxl", "--date", DATE, "--subject", "Still a draft"], db_url, tmp_path)

    ok(["send", "dc", "--date", DATE, "--yes"], db_url, tmp_path)
    after_send = stored(db_url)
    again = ok(["send", "dc", "--date", DATE, "--dry-run"], db_url, tmp_path)
    assert "already sent: a send would do nothing" in again
    assert stored(db_url) == after_send


def test_dry_run_refuses_what_a_send_refuses(db_url: str, tmp_path: Path) -> None:
    seed_with_one_unsubscribed(db_url)
    ok(["approve", "dc", "--date", DATE], db_url, tmp_path)
    engine = make_engine(db_url)
    with Session(engine) as session:
        session.execute(sa.update(Edition).values(status=EditionStatus.MISSED))
        session.commit()
    engine.dispose()
    before = stored(db_url)

    refused = cli(["send", "dc", "--date", DATE, "--dry-run"], db_url, tmp_path)
    assert refused.returncode == 1 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1 and "--send-missed" in refused.stderr
    ok(["send", "dc", "--date", DATE, "--dry-run", "--send-missed"], db_url, tmp_path)
    assert stored(db_url) == before  # still missed: the dry run reopened it only in its rolled-back transaction

    usage = cli(["send", "dc", "--date", DATE, "--json", "--yes"], db_url, tmp_path)
    assert usage.returncode == 2 and "--dry-run" in usage.stderr
