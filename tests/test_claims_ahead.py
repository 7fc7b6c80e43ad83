"""Claims sent ahead on PostgreSQL (``send.claims_ahead``): the server runs the next claim meanwhile.

A claim sent ahead must be the same claim as one waited for: run and committed by the
server before anyone reads its answer, the same readers in keyset order; a race it
loses writes nothing and the claims after it go on; and one the send never takes (it
stopped first) is released, so the next run sends those readers once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from newsletter.db.models import Delivery, DeliveryState, Subscriber
from newsletter.db.tables import table_of
from newsletter.send import ledger
from newsletter.send.claims_ahead import ClaimsAhead
from newsletter.send.service import edition_status, send_edition
from tests.conftest import make_settings
from tests.dispatch_harness import (
    REGION,
    active_readers,
    add_readers,
    approve,
    edition_date,
    ledger_states,
    seed_content,
)

_delivery = table_of(Delivery)
_subscriber = table_of(Subscriber)
HANG_BOUND_SECONDS = 30  # a bound on a hang, never a timing assertion


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url)
    yield engine
    engine.dispose()


def _edition_for(engine: sa.Engine, postgres_url: str, tmp_path: Path, readers: int) -> tuple[int, list[int]]:
    """An approved edition with ``readers`` active readers; its id and theirs, in order."""
    seed_content(engine, tmp_path)
    add_readers(engine, active_readers(readers))
    local_date = edition_date(engine)
    approve(engine, make_settings(postgres_url, tmp_path), local_date)
    with engine.connect() as connection:
        ids = list(connection.execute(sa.select(_subscriber.c.id).order_by(_subscriber.c.id)).scalars())
    return edition_status(engine, REGION, local_date).edition_id, ids


def _rows_seen_elsewhere(engine: sa.Engine, edition_id: int) -> list[int]:
    """The edition's ledger rows as another session sees them: committed ones only."""
    with engine.connect() as connection:
        query = sa.select(_delivery.c.subscriber_id).where(_delivery.c.edition_id == edition_id)
        return sorted(connection.execute(query.order_by(_delivery.c.subscriber_id)).scalars())


def _wait_until(condition: Any) -> None:
    deadline = time.monotonic() + HANG_BOUND_SECONDS
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_claim_sent_ahead_is_run_and_committed_before_its_answer_is_read(
    engine: sa.Engine, postgres_url: str, tmp_path: Path
) -> None:
    edition_id, ids = _edition_for(engine, postgres_url, tmp_path, 5)
    ahead = ClaimsAhead(engine)
    now = datetime.now(UTC)

    ahead.send(edition_id=edition_id, region_code=REGION, after=0, limit=3, now=now)
    assert ahead.sent_after == 0
    # Nobody has asked for the answer yet, and another session already sees the rows committed.
    _wait_until(lambda: len(_rows_seen_elsewhere(engine, edition_id)) == 3)
    assert _rows_seen_elsewhere(engine, edition_id) == ids[:3]
    first = ahead.receive()
    assert ahead.sent_after is None
    assert [c.subscriber_id for c in first.to_send] == ids[:3]
    assert first.last_subscriber_id == ids[2] and first.suppressed == 0
    assert [c.email for c in first.to_send] == [r.email for r in active_readers(3)]

    ahead.send(edition_id=edition_id, region_code=REGION, after=ids[2], limit=3, now=now)
    second = ahead.receive()
    assert [c.subscriber_id for c in second.to_send] == ids[3:]
    ahead.send(edition_id=edition_id, region_code=REGION, after=ids[-1], limit=3, now=now)
    assert ahead.receive() == ledger.ClaimResult([], 0, None)  # the end of the list
    assert ahead.close() is None
    assert _rows_seen_elsewhere(engine, edition_id) == ids


def test_a_claim_sent_ahead_that_loses_a_race_writes_nothing_and_the_next_goes_on(
    engine: sa.Engine, postgres_url: str, tmp_path: Path
) -> None:
    """Another dispatcher holds two of the readers, uncommitted: the claim ahead waits for it, then fails whole."""
    edition_id, ids = _edition_for(engine, postgres_url, tmp_path, 6)
    ahead = ClaimsAhead(engine)
    now = datetime.now(UTC)
    with engine.connect() as other, engine.connect() as watcher:
        theirs = ledger.claim_next(other, edition_id=edition_id, region_code=REGION, after=0, limit=2, now=now)
        ahead.send(edition_id=edition_id, region_code=REGION, after=0, limit=4, now=now)

        def blocked() -> bool:
            waiting = sa.text("select count(*) from pg_stat_activity where wait_event_type = 'Lock'")
            count = watcher.execute(waiting).scalar_one()
            watcher.commit()
            return bool(count)

        _wait_until(blocked)
        assert blocked()
        other.commit()
    assert [c.subscriber_id for c in theirs.to_send] == ids[:2]

    assert ahead.receive() == ledger.ClaimResult([], 0, None)
    assert _rows_seen_elsewhere(engine, edition_id) == ids[:2]  # none of the lost claim's rows
    ahead.send(edition_id=edition_id, region_code=REGION, after=0, limit=4, now=now)
    mine = ahead.receive()
    assert [c.subscriber_id for c in mine.to_send] == ids[2:]
    assert ahead.close() is None
    assert _rows_seen_elsewhere(engine, edition_id) == ids


def test_a_send_stopped_with_a_claim_sent_ahead_releases_it_and_the_next_run_sends_each_once(
    engine: sa.Engine, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edition_id, ids = _edition_for(engine, postgres_url, tmp_path, 7)
    settings = make_settings(postgres_url, tmp_path, batch_size=2, concurrency=4)
    local_date = edition_date(engine)
    sent_for: list[int] = []
    real_send = ClaimsAhead.send

    def watched_send(self: ClaimsAhead, **kwargs: Any) -> None:
        sent_for.append(kwargs["after"])
        real_send(self, **kwargs)

    monkeypatch.setattr(ClaimsAhead, "send", watched_send)
    polls = 0

    def stop_after_the_first_batch() -> bool:
        nonlocal polls
        polls += 1
        return polls > 1

    first = send_edition(engine, settings, REGION, local_date, should_stop=stop_after_the_first_batch)

    assert sent_for == [ids[1]]  # the second batch was claimed ahead while the first went out
    assert not first.completed and first.this_run[DeliveryState.SENT] == 2
    # The claim ahead was never handed over: released, not left claimed for an operator.
    assert _rows_seen_elsewhere(engine, edition_id) == ids[:2]
    assert edition_status(engine, REGION, local_date).unresolved == []

    second = send_edition(engine, settings, REGION, local_date)
    assert second.completed and second.this_run[DeliveryState.SENT] == 5
    assert set(ledger_states(engine).values()) == {DeliveryState.SENT}
    assert _rows_seen_elsewhere(engine, edition_id) == ids


def test_a_claim_ahead_whose_session_dies_before_it_commits_claims_nobody(
    engine: sa.Engine, postgres_url: str, tmp_path: Path
) -> None:
    """Its session is killed while the claim waits for another dispatcher's rows: an error, nothing written.

    Closing then discards the broken connection without raising over the error, and the
    next claim takes the readers the dead one had picked.
    """
    edition_id, ids = _edition_for(engine, postgres_url, tmp_path, 4)
    ahead = ClaimsAhead(engine)
    now = datetime.now(UTC)
    with engine.connect() as other, engine.connect() as killer:
        ledger.claim_next(other, edition_id=edition_id, region_code=REGION, after=0, limit=1, now=now)
        ahead.send(edition_id=edition_id, region_code=REGION, after=0, limit=2, now=now)

        def waiting() -> bool:
            blockers = killer.execute(
                sa.text("select cardinality(pg_blocking_pids(:pid))"), {"pid": ahead.backend_pid}
            ).scalar_one()
            killer.commit()
            return bool(blockers)

        _wait_until(waiting)
        assert waiting()
        assert killer.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": ahead.backend_pid}).scalar()
        killer.commit()
        other.rollback()

    with pytest.raises(psycopg.OperationalError):
        ahead.receive()
    assert ahead.close() is None  # the broken connection discarded, quietly
    assert _rows_seen_elsewhere(engine, edition_id) == []
    ahead.send(edition_id=edition_id, region_code=REGION, after=0, limit=4, now=now)
    assert [c.subscriber_id for c in ahead.receive().to_send] == ids
    assert ahead.close() is None
