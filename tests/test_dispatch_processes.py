"""Real processes: a send killed with SIGKILL and resumed, and two dispatchers racing on one edition.

Each dispatcher is ``python -m newsletter send`` in its own process, talking to the
SendGrid stand-in of this test process. Everything the stand-in received counts,
including a request whose answer never came back: that reader may have the email.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.db.models import DeliveryState, EditionStatus
from newsletter.send.service import edition_status
from tests.conftest import TEST_SECRET, make_settings
from tests.dispatch_harness import (
    REGION,
    active_readers,
    add_readers,
    approve,
    edition_date,
    ledger_states,
    seed_content,
)
from tests.peers.sendgrid import API_KEY, StandIn


def dispatcher_env(db_url: str, standin: StandIn, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "SENDGRID_"))}
    env.update(
        NEWSLETTER_SECRET_KEY=TEST_SECRET,
        NEWSLETTER_DATABASE_URL=db_url,
        NEWSLETTER_BASE_URL="https://news.example.com",
        NEWSLETTER_BACKEND="sendgrid",
        SENDGRID_API_KEY=API_KEY,
        SENDGRID_API_HOST=standin.host,
        NEWSLETTER_SENDGRID_TIMEOUT="30",
        NEWSLETTER_BATCH_SIZE="5",
        NEWSLETTER_CONCURRENCY="1",
    )
    env.update(extra)
    return env


def send_command(local_date: object) -> list[str]:
    return [sys.executable, "-m", "newsletter", "send", REGION, "--date", str(local_date), "--yes"]


def received_once_each(standin: StandIn, emails: list[str]) -> bool:
    return standin.recipients(standin.received) == Counter(emails)


@pytest.fixture
def prepared(engine: sa.Engine, db_url: str, tmp_path: Path) -> sa.Engine:
    """Content seeded and today's edition approved (frozen), as the scheduler leaves it."""
    seed_content(engine, tmp_path)
    approve(engine, make_settings(db_url, tmp_path), edition_date(engine))
    return engine


def test_a_send_killed_mid_way_and_resumed_reaches_everyone_exactly_once(
    prepared: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    readers = [r.email for r in active_readers(30)]
    add_readers(prepared, active_readers(30))
    local_date = edition_date(prepared)
    sendgrid_standin.script = ["202", "202", "hang"]  # the third request never gets an answer
    env = dispatcher_env(db_url, sendgrid_standin)

    process = subprocess.Popen(
        send_command(local_date), env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while len(sendgrid_standin.received) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        assert len(sendgrid_standin.received) == 3, process.communicate(timeout=5)
        os.kill(process.pid, signal.SIGKILL)  # mid-way: 10 queued, 5 in flight, 15 untouched
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    sendgrid_standin.release_hang.set()
    states = Counter(ledger_states(prepared).values())
    assert states == Counter({DeliveryState.QUEUED: 10, DeliveryState.CLAIMED: 5})

    resumed = subprocess.run(
        send_command(local_date), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    # Everyone else got theirs, but 5 outcomes are unknown: the edition is not complete (exit 3).
    assert resumed.returncode == 3, resumed.stdout + resumed.stderr
    assert f"newsletter release {REGION} --date {local_date}" in resumed.stderr
    assert received_once_each(sendgrid_standin, readers)
    assert Counter(ledger_states(prepared).values()) == Counter({DeliveryState.QUEUED: 25, DeliveryState.CLAIMED: 5})
    status = subprocess.run(
        [sys.executable, "-m", "newsletter", "status", REGION, "--date", str(local_date)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "5 without a known outcome" in status.stdout, status.stdout + status.stderr


def test_two_dispatchers_at_once_send_each_subscriber_exactly_one_message(
    prepared: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn
) -> None:
    readers = [r.email for r in active_readers(60)]
    add_readers(prepared, active_readers(60))
    local_date = edition_date(prepared)
    sendgrid_standin.delay = 0.1  # keep both busy long enough to overlap
    env = dispatcher_env(db_url, sendgrid_standin, NEWSLETTER_BATCH_SIZE="2", NEWSLETTER_CONCURRENCY="2")

    processes = [
        subprocess.Popen(
            send_command(local_date), env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=180) for p in processes]

    # The one that finishes first may leave the other's batch in flight: incomplete (3) when it
    # exits; the last one to finish closes the edition (0).
    codes = sorted(p.returncode for p in processes)
    assert codes in ([0, 0], [0, 3]), outputs
    assert edition_status(prepared, REGION, local_date).status is EditionStatus.SENT
    assert received_once_each(sendgrid_standin, readers)
    assert Counter(ledger_states(prepared).values()) == Counter({DeliveryState.QUEUED: 60})
    shares = [int(m.group(1)) for stdout, _ in outputs for m in [re.search(r"this run: queued (\d+)", stdout)] if m]
    assert sum(shares) == 60 and len(shares) == 2
    if db_url.startswith("postgresql"):
        assert min(shares) > 0, "the two dispatchers should have shared the list"
