"""The next claim sent ahead on PostgreSQL: the server runs it while the dispatcher builds messages.

A claim (:func:`ledger.claim_next`) is mostly the database server's work. Sent
and then waited for, that work and the dispatcher's (tokens, request bodies) take
turns; sent ahead, they overlap. psycopg's pipeline mode sends statements without
waiting for their answers: ``BEGIN``, the claim and ``COMMIT`` go out together, so the
claim is committed as soon as the server has run it, the same claim with the same
guarantees as :func:`ledger.claim_next`. Its answer is read when the batch is needed.

A claim sent ahead and never taken (the send stopped or paused first) is handed back
by :meth:`ClaimsAhead.withdraw` or :meth:`ClaimsAhead.close` for the caller to release; after a crash it is one more
batch the ledger lists as claimed, as a batch in flight is.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.pool import PoolProxiedConnection

from newsletter.db.types import UTCDateTime
from newsletter.send import ledger

log = logging.getLogger(__name__)


class _Open:
    """A pooled connection in autocommit and pipeline mode, with a cursor for the claim and one for the rest."""

    def __init__(self, engine: sa.Engine) -> None:
        self.raw: PoolProxiedConnection = engine.raw_connection()
        driver = self.raw.driver_connection
        if not isinstance(driver, psycopg.Connection):
            self.raw.close()
            raise TypeError(f"claims ahead need psycopg, not {type(driver).__name__}")
        self.driver: psycopg.Connection[Any] = driver
        self.driver.autocommit = True  # transactions are the BEGIN and COMMIT sent with each claim
        self._mode = ExitStack()
        self.pipeline: psycopg.Pipeline = self._mode.enter_context(self.driver.pipeline())
        self.claim = self.driver.cursor()
        self.control = self.driver.cursor()

    def close(self) -> None:
        """Leave pipeline mode and give the connection back as the pool lent it; a broken one is discarded.

        Nothing is left to do on a connection that fails here (a claim in flight was read
        first, see :meth:`ClaimsAhead.close`), so its error is logged, not raised over the
        error that usually broke it.
        """
        reusable = True
        try:
            self._mode.close()
            if self.driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self.driver.rollback()
            self.driver.autocommit = False
        except psycopg.Error as error:
            log.warning("discarding the claims-ahead connection: %s", error)
            reusable = False
        finally:
            if not reusable or self.driver.broken:
                self.raw.invalidate()  # not back to the pool, whose reset would fail on it
            self.raw.close()


@dataclass(frozen=True)
class _InFlight:
    after: int  # the keyset position it was sent for
    committed: psycopg.Cursor[Any]  # its COMMIT's cursor: a status once the server answered


class ClaimsAhead:
    """At most one claim in flight on a connection of its own; send it, later receive it."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._sql, self._constants = ledger.compiled_claim(engine.dialect)
        self._now = UTCDateTime()
        self._open: _Open | None = None
        self._in_flight: _InFlight | None = None

    @property
    def backend_pid(self) -> int | None:
        """The server process of its connection, as ``pg_stat_activity`` names it; None before the first claim."""
        return self._open.driver.info.backend_pid if self._open is not None else None

    @property
    def sent_after(self) -> int | None:
        """The keyset position of the claim in flight; None when none is."""
        return self._in_flight.after if self._in_flight is not None else None

    def send(self, *, edition_id: int, region_code: str, after: int, limit: int, now: datetime) -> None:
        """Send the claim of the next ``limit`` readers past ``after``; do not wait for it."""
        if self._in_flight is not None:
            raise RuntimeError("a claim is already in flight; receive it first")
        if self._open is None:
            self._open = _Open(self._engine)
        parameters = {
            **self._constants,
            "edition_id": edition_id,
            "region_code": region_code,
            "after": after,
            "limit": limit,
            "now": self._now.process_bind_param(now, self._engine.dialect),
        }
        self._open.control.execute("BEGIN")
        self._open.claim.execute(self._sql, parameters)
        committed = self._open.driver.cursor()
        committed.execute("COMMIT")
        self._in_flight = _InFlight(after, committed)

    def receive(self) -> ledger.ClaimResult:
        """The claim in flight, committed; an empty claim when it lost a race (``ledger.claim_next``'s rule)."""
        if self._open is None or self._in_flight is None:
            raise RuntimeError("no claim in flight")
        opened, in_flight, self._in_flight = self._open, self._in_flight, None
        try:
            row = opened.claim.fetchone()  # psycopg reads every answer queued, the COMMIT's too
            if in_flight.committed.statusmessage != "COMMIT":
                opened.pipeline.sync()  # only a committed claim may be handed over: wait for it
        except psycopg.IntegrityError as error:
            if not ledger.is_lost_race(error):
                raise
            self._recover(opened)
            return ledger.ClaimResult([], 0, None)
        assert row is not None  # an aggregate always returns its one row
        return ledger.claim_result(tuple(row))

    @staticmethod
    def _recover(opened: _Open) -> None:
        """After a lost race: the server skipped the COMMIT; end the failed transaction and go on."""
        with suppress(psycopg.errors.PipelineAborted):  # the COMMIT, skipped because the claim failed
            opened.pipeline.sync()
        opened.control.execute("ROLLBACK")
        opened.pipeline.sync()

    def withdraw(self) -> ledger.ClaimResult | None:
        """The claim in flight, if any, read and no longer in flight: committed, for the caller to release."""
        return self.receive() if self._in_flight is not None else None

    def close(self) -> ledger.ClaimResult | None:
        """Give the connection back; a claim still in flight is returned, as :meth:`withdraw` does."""
        if self._open is None:
            return None
        try:
            return self.withdraw()
        finally:
            opened, self._open = self._open, None
            opened.close()
