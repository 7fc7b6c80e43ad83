"""The claim statement: the next readers by keyset, checked and written in one statement.

``ledger.claim_next`` reads the list and inserts the ledger rows in one
``INSERT ... SELECT`` (``ON CONFLICT DO NOTHING`` on SQLite); these tests pin what that
one statement must still guarantee: keyset order, the list's conditions at the instant
of the claim, and the unique (edition, subscriber) deciding between two dispatchers.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from newsletter.db.models import Delivery, DeliveryState, Subscriber, SubscriberStatus
from newsletter.db.tables import table_of
from newsletter.send import ledger
from newsletter.send import loop as dispatch_loop
from newsletter.send.service import edition_status, send_edition
from tests.conftest import make_settings
from tests.dispatch_harness import (
    REGION,
    Reader,
    active_readers,
    add_readers,
    approve,
    edition_date,
    ledger_states,
    seed_content,
)

_delivery = table_of(Delivery)
_subscriber = table_of(Subscriber)


@pytest.fixture
def seeded(engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    seed_content(engine, tmp_path)
    return engine


def _ids(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(_subscriber.c.email, _subscriber.c.id)).all())  # type: ignore[arg-type]


def _edition(engine: sa.Engine, db_url: str, tmp_path: Path) -> int:
    local_date = edition_date(engine)
    approve(engine, make_settings(db_url, tmp_path), local_date)
    return edition_status(engine, REGION, local_date).edition_id


def _take(connection: sa.Connection, edition_id: int, subscriber_id: int) -> None:
    """Another dispatcher's claim."""
    now = datetime.now(UTC)
    connection.execute(
        sa.insert(_delivery).values(
            edition_id=edition_id,
            subscriber_id=subscriber_id,
            state=DeliveryState.CLAIMED,
            attempts=0,
            claimed_at=now,
            updated_at=now,
        )
    )


def test_a_claim_takes_the_next_readers_in_order_and_checks_the_list_as_it_writes(
    seeded: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    add_readers(
        seeded,
        [
            Reader("a@example.org"),
            Reader("gone@example.org", status=SubscriberStatus.UNSUBSCRIBED),
            Reader("resting@example.org", paused=True),
            Reader("taken@example.org"),
            Reader("pending@example.org", status=SubscriberStatus.PENDING),
            Reader("b@example.org"),
            Reader("c@example.org"),
        ],
    )
    ids = _ids(seeded)
    edition_id = _edition(seeded, db_url, tmp_path)
    with seeded.begin() as connection:
        _take(connection, edition_id, ids["taken@example.org"])
    now = datetime.now(UTC)

    with seeded.begin() as connection:
        first = ledger.claim_next(connection, edition_id=edition_id, region_code=REGION, after=0, limit=3, now=now)
    assert [c.email for c in first.to_send] == ["a@example.org", "b@example.org"]
    assert [c.subscriber_id for c in first.to_send] == [ids["a@example.org"], ids["b@example.org"]]
    assert first.suppressed == 1 and first.last_subscriber_id == ids["b@example.org"]

    with seeded.begin() as connection:  # c unsubscribes between the read of the list and the claim
        connection.execute(
            sa.update(_subscriber)
            .where(_subscriber.c.email == "c@example.org")
            .values(status=SubscriberStatus.UNSUBSCRIBED)
        )
        second = ledger.claim_next(
            connection, edition_id=edition_id, region_code=REGION, after=ids["b@example.org"], limit=3, now=now
        )
        third = ledger.claim_next(
            connection, edition_id=edition_id, region_code=REGION, after=ids["c@example.org"], limit=3, now=now
        )
    assert second.to_send == [] and second.suppressed == 1 and second.last_subscriber_id == ids["c@example.org"]
    assert third == ledger.ClaimResult([], 0, None)
    states = ledger_states(seeded)
    assert states == {
        "a@example.org": DeliveryState.CLAIMED,
        "b@example.org": DeliveryState.CLAIMED,
        "taken@example.org": DeliveryState.CLAIMED,
        "gone@example.org": DeliveryState.SUPPRESSED,
        "c@example.org": DeliveryState.SUPPRESSED,
    }


def test_a_batch_taken_whole_by_another_dispatcher_does_not_end_the_send(
    seeded: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim that wrote nothing is not the end of the list when readers are still left."""
    readers = active_readers(7)
    add_readers(seeded, readers)
    settings = make_settings(db_url, tmp_path, batch_size=2, concurrency=1)
    local_date = edition_date(seeded)
    approve(seeded, settings, local_date)
    real = ledger.claim_next
    calls = 0

    def first_batch_lost_to_another_dispatcher(connection: sa.Connection, **kwargs: Any) -> ledger.ClaimResult:
        nonlocal calls
        calls += 1
        return ledger.ClaimResult([], 0, None) if calls == 1 else real(connection, **kwargs)

    monkeypatch.setattr(dispatch_loop.ledger, "claim_next", first_batch_lost_to_another_dispatcher)
    report = send_edition(seeded, settings, REGION, local_date, now=datetime.now(UTC))

    assert report.completed and report.this_run[DeliveryState.SENT] == 7
    assert ledger_states(seeded) == {r.email: DeliveryState.SENT for r in readers}


def test_two_dispatchers_claiming_the_same_readers_at_once_never_both_win(postgres_url: str, tmp_path: Path) -> None:
    """PostgreSQL: B's claim meets A's uncommitted rows, waits for A, and writes none of its rows."""
    engine = sa.create_engine(postgres_url)
    try:
        seed_content(engine, tmp_path)
        add_readers(engine, active_readers(4))
        ids = sorted(_ids(engine).values())
        edition_id = _edition(engine, postgres_url, tmp_path)
        results: list[ledger.ClaimResult] = []
        b_pid: list[int] = []

        def dispatcher_b() -> None:
            with engine.begin() as connection:
                b_pid.append(connection.execute(sa.text("select pg_backend_pid()")).scalar_one())
                results.append(
                    ledger.claim_next(
                        connection, edition_id=edition_id, region_code=REGION, after=0, limit=2, now=datetime.now(UTC)
                    )
                )
                # The lost race undid the claim alone: the caller's transaction goes on.
                assert connection.execute(sa.text("select 1")).scalar_one() == 1

        with engine.connect() as a, engine.connect() as watcher:
            a_claim = ledger.claim_next(
                a, edition_id=edition_id, region_code=REGION, after=0, limit=2, now=datetime.now(UTC)
            )
            b = threading.Thread(target=dispatcher_b)
            b.start()
            deadline = time.monotonic() + 30  # a bound on a hang, not a timing assertion
            while not _waits_for_a_lock(watcher, b_pid) and b.is_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            a.commit()
            b.join(30)
        assert [c.subscriber_id for c in a_claim.to_send] == ids[:2]
        assert results == [ledger.ClaimResult([], 0, None)]  # B wrote nothing: A's rows won
        with engine.begin() as connection:  # and the next claim goes on past them
            after = ledger.claim_next(
                connection, edition_id=edition_id, region_code=REGION, after=0, limit=2, now=datetime.now(UTC)
            )
        assert [c.subscriber_id for c in after.to_send] == ids[2:]
    finally:
        engine.dispose()


def _waits_for_a_lock(watcher: sa.Connection, pid: list[int]) -> bool:
    """Whether dispatcher B's session is blocked by another one (A's uncommitted rows)."""
    if not pid:
        return False
    blockers = watcher.execute(sa.text("select cardinality(pg_blocking_pids(:pid))"), {"pid": pid[0]}).scalar_one()
    watcher.commit()
    return bool(blockers)


def test_recording_an_answer_rewrites_the_row_in_place_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """No index covers a state, and pages keep room: each answer of a full batch is a HOT update.

    A HOT update writes the row's new version on its own page and no index entry at
    all; one index on ``state``, or full pages, would cost every answer four.
    """
    engine = sa.create_engine(postgres_url)
    try:
        seed_content(engine, tmp_path)
        add_readers(engine, active_readers(1000))
        edition_id = _edition(engine, postgres_url, tmp_path)
        now = datetime.now(UTC)
        with engine.begin() as connection:
            claim = ledger.claim_next(
                connection, edition_id=edition_id, region_code=REGION, after=0, limit=1000, now=now
            )
        ids = [c.delivery_id for c in claim.to_send]
        assert len(ids) == 1000
        with engine.begin() as connection:
            # A SendGrid X-Message-Id is 22 characters; the answer widens each row by it.
            answer = ledger.Answer(DeliveryState.QUEUED, ids, provider_message_id="W0rKSu1DQPaN2w8w3fx2pQ")
            assert ledger.record(connection, [answer], attempts=1, now=now) == []
            counts = connection.execute(
                sa.text(
                    "select pg_stat_get_xact_tuples_updated(cast(:t as regclass)),"
                    " pg_stat_get_xact_tuples_hot_updated(cast(:t as regclass))"
                ),
                {"t": _delivery.name},
            ).one()
        assert tuple(counts) == (1000, 1000)
        assert set(ledger_states(engine).values()) == {DeliveryState.QUEUED}
    finally:
        engine.dispose()
