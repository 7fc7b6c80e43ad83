"""Unknown outcomes resolved by the provider's own events, through the real webhook route.

A ledger row left UNKNOWN (a timeout) or CLAIMED (a crash, or a sender still waiting)
becomes QUEUED when a signed SendGrid event names it; nothing can turn it back, and the
operator's release frees only rows with no event. SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from newsletter.db.engine import session_scope
from newsletter.db.models import Delivery, DeliveryState, Edition, EditionStatus, Event
from newsletter.db.tables import table_of
from newsletter.editions.rows import get_or_create_edition
from newsletter.send import ledger
from newsletter.send.edition import RESOLVED_BY_EVENTS
from newsletter.send.service import SendOutcome, SendReport, edition_status, release_unresolved, send_edition
from tests.conftest import run_cli
from tests.dispatch_harness import (
    NOW,
    REGION,
    active_readers,
    add_readers,
    edition_date,
    seed_content,
    sendgrid_settings,
)
from tests.peers.sendgrid import StandIn
from tests.test_dispatch_processes import dispatcher_env, send_command
from tests.web_helpers import Clock, TestClient, WebhookKey, signed_post

_delivery = table_of(Delivery)
_event = table_of(Event)


@pytest.fixture
def seeded(web_engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    seed_content(web_engine, tmp_path / "seed")
    return web_engine


def processed(delivery_id: int, event_id: str, kind: str = "processed", **extra: Any) -> dict[str, Any]:
    """A SendGrid event as its webhook posts it: custom args flattened into the event."""
    return {
        "email": f"reader-of-{delivery_id}@example.org",
        "timestamp": int(NOW.timestamp()),
        "event": kind,
        "sg_event_id": event_id,
        "sg_message_id": f"msg{delivery_id:06d}.filter0001",
        "delivery_id": str(delivery_id),
        "region": REGION,
        **extra,
    }


def ledger_ids(body: dict[str, Any]) -> list[int]:
    """The ledger ids one mail send request carried (its custom_args)."""
    return [int(p["custom_args"]["delivery_id"]) for p in body["personalizations"]]


def rows(engine: sa.Engine) -> dict[int, tuple[DeliveryState, datetime | None]]:
    d = _delivery.c
    with engine.connect() as connection:
        found = connection.execute(sa.select(d.id, d.state, d.resolved_at)).all()
    return {row.id: (DeliveryState(row.state), row.resolved_at) for row in found}


def test_events_resolve_rows_left_unknown_by_a_timeout_and_a_repeat_changes_nothing(
    seeded: sa.Engine,
    db_url: str,
    tmp_path: Path,
    sendgrid_standin: StandIn,
    client: TestClient,
    webhook_key: WebhookKey,
    clock: Clock,
) -> None:
    add_readers(seeded, active_readers(6))
    sendgrid_standin.script = ["202", "hang"]
    settings = sendgrid_settings(
        db_url, tmp_path, sendgrid_standin, batch_size=3, concurrency=1, sendgrid_timeout=0.5, error_threshold=1.0
    )
    local_date = edition_date(seeded)
    first = send_edition(seeded, settings, REGION, local_date, now=NOW)
    assert first.counts[DeliveryState.UNKNOWN] == 3
    hung = ledger_ids(sendgrid_standin.received[1])
    accepted = ledger_ids(sendgrid_standin.accepted[0])

    # SendGrid did take the timed-out request: its processed events arrive, one of them
    # after a delivered event for the same message (events come in any order).
    batch = [processed(hung[0], "p0"), processed(hung[1], "d1", "delivered"), processed(hung[1], "p1")]
    batch += [processed(hung[2], "p2"), processed(accepted[0], "p3")]
    assert signed_post(client, webhook_key, batch).status_code == 204

    state = rows(seeded)
    assert {state[i] for i in hung} == {(DeliveryState.QUEUED, clock.now)}
    assert state[accepted[0]] == (DeliveryState.QUEUED, None)  # answered 202: nothing to resolve
    view = edition_status(seeded, REGION, local_date, now=datetime.now(UTC))
    assert view.unresolved_total == 0 and view.events.resolved == 3

    # The same batch again (SendGrid retries) and later events: stored once, resolved once.
    clock.advance(timedelta(hours=1))
    later = [*batch, processed(hung[0], "d0", "delivered"), processed(hung[2], "o2", "open")]
    assert signed_post(client, webhook_key, later).status_code == 204
    assert rows(seeded) == state
    with seeded.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(_event)).scalar_one() == 7

    # The next run has nobody left: the edition is complete, and nobody got a second copy.
    again = send_edition(seeded, settings, REGION, local_date, now=NOW)
    assert again.this_run == Counter() and again.edition_status is EditionStatus.SENT
    assert len(sendgrid_standin.received) == 2


def test_an_event_for_a_claim_still_in_flight_survives_its_senders_late_answer(
    seeded: sa.Engine,
    db_url: str,
    tmp_path: Path,
    sendgrid_standin: StandIn,
    client: TestClient,
    webhook_key: WebhookKey,
) -> None:
    """The provider's event lands while the sender still waits; then its connection drops."""
    add_readers(seeded, active_readers(3))
    sendgrid_standin.script = ["hang"]
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, sendgrid_timeout=30, error_threshold=1.0)
    local_date = edition_date(seeded)
    outcome: list[SendReport] = []
    sender = threading.Thread(target=lambda: outcome.append(send_edition(seeded, settings, REGION, local_date)))
    sender.start()
    try:
        deadline = time.monotonic() + 20
        while sendgrid_standin.in_flight == 0:
            assert time.monotonic() < deadline, "the request never reached the stand-in"
            time.sleep(0.02)
        in_flight = ledger_ids(sendgrid_standin.received[0])
        assert {rows(seeded)[i][0] for i in in_flight} == {DeliveryState.CLAIMED}  # fresh claims, held

        events = [processed(i, f"p{i}") for i in in_flight]
        assert signed_post(client, webhook_key, events).status_code == 204
        assert {rows(seeded)[i][0] for i in in_flight} == {DeliveryState.QUEUED}
    finally:
        sendgrid_standin.release_hang.set()  # the stand-in drops the connection: an unknown outcome
        sender.join(30)

    report = outcome[0]
    assert report.this_run[DeliveryState.UNKNOWN] == 3  # what the sender saw
    assert report.counts[DeliveryState.QUEUED] == 3 and report.unresolved == 0  # what the ledger keeps
    assert report.edition_status is EditionStatus.SENT
    assert release_unresolved(seeded, REGION, local_date, older_than=timedelta(0)) == 0
    assert len(sendgrid_standin.received) == 1


def test_a_resolved_row_takes_a_late_message_id_but_never_a_downgrade(seeded: sa.Engine) -> None:
    add_readers(seeded, active_readers(2))
    now = datetime.now(UTC)
    local_date = edition_date(seeded)
    edition_id = _edition_id(seeded, local_date)
    with seeded.begin() as connection:
        claim = ledger.claim_next(connection, edition_id=edition_id, region_code=REGION, after=0, limit=2, now=now)
    first, second = (c.delivery_id for c in claim.to_send)
    with seeded.begin() as connection:
        connection.execute(
            sa.update(_delivery).values(state=DeliveryState.QUEUED, resolved_at=now)  # as the events do
        )
        missing = ledger.record(
            connection,
            [
                ledger.Answer(DeliveryState.QUEUED, [first], provider_message_id="msg-late"),
                ledger.Answer(DeliveryState.FAILED, [second], error="550 refused"),
            ],
            attempts=1,
            now=now,
        )
    assert missing == []  # nothing to write back: no "second copy" warning
    d = _delivery.c
    with seeded.connect() as connection:
        found = {r.id: r for r in connection.execute(sa.select(d.id, d.state, d.provider_message_id, d.last_error))}
    assert (found[first].state, found[first].provider_message_id) == ("queued", "msg-late")
    assert (found[second].state, found[second].last_error) == ("queued", None)


def _edition_id(engine: sa.Engine, local_date: date) -> int:
    with session_scope(engine) as session:
        edition = get_or_create_edition(session, REGION, local_date)
        assert edition.id is not None
        return edition.id


def test_status_splits_the_unresolved_and_release_without_events_frees_only_the_eventless(
    seeded: sa.Engine, db_url: str, tmp_path: Path, client: TestClient, webhook_key: WebhookKey
) -> None:
    add_readers(seeded, active_readers(5))
    now = datetime.now(UTC)
    local_date = edition_date(seeded)
    edition_id = _edition_id(seeded, local_date)
    with seeded.begin() as connection:
        claim = ledger.claim_next(connection, edition_id=edition_id, region_code=REGION, after=0, limit=5, now=now)
    old, young, odd, stale_claim, resolved = (c.delivery_id for c in claim.to_send)
    two_hours_ago, five_minutes_ago = now - timedelta(hours=2), now - timedelta(minutes=5)
    with seeded.begin() as connection:
        for delivery_id, state, written in [
            (old, DeliveryState.UNKNOWN, two_hours_ago),
            (young, DeliveryState.UNKNOWN, five_minutes_ago),
            (odd, DeliveryState.UNKNOWN, two_hours_ago),
            (stale_claim, DeliveryState.CLAIMED, two_hours_ago),
            (resolved, DeliveryState.UNKNOWN, two_hours_ago),
        ]:
            connection.execute(
                sa.update(_delivery).where(_delivery.c.id == delivery_id).values(state=state, updated_at=written)
            )
    # A processed event resolves one; an event type we do not know names another without resolving it.
    events = [processed(resolved, "p-res"), processed(odd, "x-odd", "machine_opened")]
    assert signed_post(client, webhook_key, events).status_code == 204

    env = {"NEWSLETTER_UNRESOLVED_EVENT_WAIT_MINUTES": "30"}
    shown = run_cli(["status", REGION, "--date", local_date.isoformat()], db_url, tmp_path, **env)
    assert shown.returncode == 0, shown.stderr
    assert "accepted by the provider: 1 resolved to queued by its events" in shown.stdout
    assert (
        "unresolved: 1 named by a provider event, 1 waiting for an event (less than 30 minutes), "
        "2 with no event after 30 minutes" in shown.stdout
    )

    released = run_cli(
        ["release", REGION, "--date", local_date.isoformat(), "--without-events", "--yes"], db_url, tmp_path, **env
    )
    assert released.returncode == 0, released.stderr
    assert "released 2 deliveries" in released.stdout
    left = rows(seeded)
    assert old not in left and stale_claim not in left
    assert left[young][0] is DeliveryState.UNKNOWN and left[odd][0] is DeliveryState.UNKNOWN
    assert left[resolved][0] is DeliveryState.QUEUED

    # Without the flag the young one goes too; the row an event names never does.
    plain = run_cli(["release", REGION, "--date", local_date.isoformat(), "--yes"], db_url, tmp_path, **env)
    assert "released 1 deliveries" in plain.stdout
    assert set(rows(seeded)) == {odd, resolved}


def test_claims_left_by_a_killed_sender_are_resolved_by_events_and_never_resent(
    seeded: sa.Engine,
    db_url: str,
    tmp_path: Path,
    sendgrid_standin: StandIn,
    client: TestClient,
    webhook_key: WebhookKey,
) -> None:
    """A real ``newsletter send`` process, SIGKILLed while SendGrid holds its second request."""
    add_readers(seeded, active_readers(10))
    local_date = edition_date(seeded)
    sendgrid_standin.script = ["202", "hang"]
    env = dispatcher_env(db_url, sendgrid_standin)
    process = subprocess.Popen(send_command(local_date), env=env, cwd=tmp_path, stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(sendgrid_standin.received) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        assert len(sendgrid_standin.received) == 2
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
    sendgrid_standin.release_hang.set()
    crashed = ledger_ids(sendgrid_standin.received[1])
    assert {rows(seeded)[i][0] for i in crashed} == {DeliveryState.CLAIMED}

    # SendGrid did take the request the crash cut off: its processed events name each claim.
    assert signed_post(client, webhook_key, [processed(i, f"p{i}") for i in crashed]).status_code == 204

    status = subprocess.run(
        [sys.executable, "-m", "newsletter", "status", REGION, "--date", str(local_date)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "accepted by the provider: 5 resolved to queued" in status.stdout, status.stdout + status.stderr
    # Every reader was claimed before the crash, and now has an answer: the events closed the edition.
    assert f"edition {REGION} {local_date} (#" in status.stdout and "): sent" in status.stdout, status.stdout
    again = subprocess.run(send_command(local_date), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr  # complete: nobody left to send to
    assert "already sent" in again.stdout
    assert len(sendgrid_standin.received) == 2  # and nobody got a second copy


def _edition(engine: sa.Engine, local_date: date) -> Edition:
    with session_scope(engine) as session:
        edition = session.exec(select(Edition).where(Edition.region_code == REGION, Edition.local_date == local_date))
        return edition.one()


def test_events_resolving_the_last_unknown_rows_of_a_finished_send_mark_the_edition_sent(
    seeded: sa.Engine,
    db_url: str,
    tmp_path: Path,
    sendgrid_standin: StandIn,
    client: TestClient,
    webhook_key: WebhookKey,
    clock: Clock,
) -> None:
    add_readers(seeded, active_readers(6))
    sendgrid_standin.script = ["202", "hang"]  # the second request times out: 3 rows unknown
    settings = sendgrid_settings(
        db_url, tmp_path, sendgrid_standin, batch_size=3, concurrency=1, sendgrid_timeout=0.5, error_threshold=1.0
    )
    local_date = edition_date(seeded)
    first = send_edition(seeded, settings, REGION, local_date, now=NOW)
    assert first.completed and first.edition_status is EditionStatus.SENDING and first.unresolved == 3
    hung = ledger_ids(sendgrid_standin.received[1])

    # Two of the three: one is still without an answer, so the edition stays open.
    assert signed_post(client, webhook_key, [processed(hung[0], "p0"), processed(hung[1], "p1")]).status_code == 204
    assert _edition(seeded, local_date).status is EditionStatus.SENDING

    clock.advance(timedelta(minutes=5))
    assert signed_post(client, webhook_key, [processed(hung[2], "p2")]).status_code == 204
    edition = _edition(seeded, local_date)
    assert edition.status is EditionStatus.SENT
    assert edition.sent_at == clock.now and edition.note == RESOLVED_BY_EVENTS
    assert edition_status(seeded, REGION, local_date).unresolved_total == 0

    # The operator's resume finds nothing to do, and nobody got a second copy.
    again = send_edition(seeded, settings, REGION, local_date, now=NOW)
    assert again.this_run == Counter() and again.message == "already sent; nothing to do"
    assert len(sendgrid_standin.received) == 2


def test_events_never_close_an_edition_whose_send_stopped_midway(
    seeded: sa.Engine,
    db_url: str,
    tmp_path: Path,
    sendgrid_standin: StandIn,
    client: TestClient,
    webhook_key: WebhookKey,
) -> None:
    add_readers(seeded, active_readers(6))
    sendgrid_standin.script = ["hang"]  # the first batch times out; the error threshold pauses the send
    settings = sendgrid_settings(db_url, tmp_path, sendgrid_standin, batch_size=3, concurrency=1, sendgrid_timeout=0.5)
    local_date = edition_date(seeded)
    # Started now, after the readers joined: they are all on the list this send owes.
    paused = send_edition(seeded, settings, REGION, local_date, now=datetime.now(UTC))
    assert paused.outcome is SendOutcome.PAUSED and paused.unresolved == 3
    never_claimed = len(active_readers(6)) - sum(paused.counts.values())
    assert never_claimed > 0

    events = [processed(i, f"p{i}") for i in ledger_ids(sendgrid_standin.received[0])]
    assert signed_post(client, webhook_key, events).status_code == 204
    edition = _edition(seeded, local_date)
    assert edition_status(seeded, REGION, local_date).unresolved_total == 0
    assert edition.status is EditionStatus.SENDING and edition.sent_at is None  # readers left: resume's work

    resumed = send_edition(seeded, settings, REGION, local_date, now=datetime.now(UTC))
    assert resumed.edition_status is EditionStatus.SENT
    assert sum(resumed.this_run.values()) == never_claimed
