"""The send loop's moving parts: claim on the main thread, deliver on worker threads, record.

Only the main thread touches the database (SQLite has one writer, and a claim must
be committed before its batch is handed over); workers only talk to the backend.
The policies these implement are described in :mod:`newsletter.send.service`.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.db.models import DeliveryState
from newsletter.db.types import utcnow
from newsletter.delivery.base import Backend, MessageContent, Outcome, Recipient, SendResult
from newsletter.delivery.sizing import claim_limit_after, exchanges
from newsletter.delivery.units import describe
from newsletter.errors import (
    AuthenticationError,
    EditionError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UnknownOutcomeError,
)
from newsletter.send import ledger
from newsletter.send.claims_ahead import ClaimsAhead
from newsletter.send.pacing import Pacer, RetryPolicy
from newsletter.subscribers.tokens import ManageTokens

log = logging.getLogger(__name__)

# Backend outcomes as ledger states (DEFERRED never reaches the ledger: it is retried or released).
_STATE_OF = {
    Outcome.SENT: DeliveryState.SENT,
    Outcome.QUEUED: DeliveryState.QUEUED,
    Outcome.FAILED: DeliveryState.FAILED,
    Outcome.UNKNOWN: DeliveryState.UNKNOWN,
}

# How often a retrying worker hears a stop request while it waits.
STOP_POLL_SECONDS = 0.5
# How often the claims of batches still in flight get their updated_at refreshed: far
# under the operator release's age (15 minutes), so a batch still retrying never looks abandoned.
HEARTBEAT_SECONDS = 60.0


class SendOutcome(StrEnum):
    COMPLETED = "completed"  # every eligible subscriber has a ledger row
    PAUSED = "paused"  # error threshold or provider unavailable: run again to resume
    STOPPED = "stopped"  # asked to stop (SIGTERM): run again to resume
    FAILED = "failed"  # refused credentials: fix the settings, then run again


@dataclass
class BatchResult:
    results: list[SendResult]
    release: list[int]  # delivery ids certainly not handed over
    attempts: int
    halt: tuple[SendOutcome, str] | None = None


class Dispatcher:
    """One run of one edition's send; :func:`newsletter.send.service.send_edition` is the public face."""

    def __init__(
        self,
        engine: sa.Engine,
        settings: Settings,
        backend: Backend,
        content: MessageContent,
        *,
        should_stop: Callable[[], bool],
        sleep: Callable[[float], None],
        rng: random.Random,
        progress: Callable[[Counter[DeliveryState]], None] | None,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.backend = backend
        self.content = content
        self.should_stop = should_stop
        self.sleep = sleep
        self.rng = rng
        self.progress = progress
        self.policy = RetryPolicy(max_retries=settings.max_retries)
        # The pacer's wait (up to batch_size / rate seconds) is slept in short steps too, so a stop is heard.
        self.pacer = Pacer(settings.rate_limit_per_second, sleep=self._pace_sleep)
        self.tally: Counter[DeliveryState] = Counter()
        self.heartbeat = heartbeat
        self.edition_id = 0
        self._subscriber_of: dict[int, int] = {}  # delivery id -> subscriber id, for claims in flight
        self.halt: tuple[SendOutcome, str] | None = None
        # One token per recipient, made on the main thread (the send's bottleneck): key set up once.
        self.tokens = ManageTokens(settings.secret)
        # How many readers a claim takes: the batch size, or less once a batch is seen to need
        # more than one exchange (SendGrid's substitution budget), so each claim fills one request.
        self.claim_limit = settings.batch_size
        # PostgreSQL: the next claim can run on the server while this thread builds messages.
        self._ahead = ClaimsAhead(engine) if engine.dialect.name == "postgresql" else None

    # -- worker thread ------------------------------------------------------------

    def deliver(self, batch: Sequence[Recipient]) -> BatchResult:
        """Hand a claimed batch over, retrying what was certainly not sent."""
        final: list[SendResult] = []
        pending = list(batch)
        attempt = 0
        while pending:
            attempt += 1
            provider_wait: float | None = None
            recipient_only: dict[int | None, str | None] = {}
            try:
                results = self.backend.send_batch(self.content, pending)
            except AuthenticationError as exc:
                return BatchResult(final, _ids(pending), attempt, (SendOutcome.FAILED, describe(exc)))
            except TransientDeliveryError as exc:
                error, provider_wait = describe(exc), exc.retry_after
            except (PermanentDeliveryError, UnknownOutcomeError) as exc:
                # Backends report these per recipient; a raise still means the same thing.
                outcome = Outcome.FAILED if isinstance(exc, PermanentDeliveryError) else Outcome.UNKNOWN
                final += [SendResult(r, outcome, error=describe(exc)) for r in pending]
                break
            except Exception as exc:  # a backend bug: we cannot tell what went out
                log.exception("backend %s raised unexpectedly", self.backend.name)
                final += [SendResult(r, Outcome.UNKNOWN, error=f"backend error: {exc!r}"[:1000]) for r in pending]
                return BatchResult(final, [], attempt, (SendOutcome.PAUSED, f"backend error: {exc!r}"))
            else:
                final += [r for r in results if r.outcome is not Outcome.DEFERRED]
                deferred = [r for r in results if r.outcome is Outcome.DEFERRED]
                if not deferred:
                    break
                pending = [r.recipient for r in deferred]
                error = deferred[0].error or "deferred"
                waits = [r.retry_after for r in deferred if r.retry_after is not None]
                provider_wait = max(waits) if waits else None
                # A recipient deferred on its own (greylisting, mailbox full) must not hold the
                # send hostage: past the retries it fails alone, with the server's text.
                recipient_only = {r.recipient.ledger_id: r.error for r in deferred if r.recipient_only}
            if attempt > self.policy.max_retries:
                final += [
                    SendResult(
                        r,
                        Outcome.FAILED,
                        error=f"{recipient_only[r.ledger_id]} (still deferred after {self.policy.max_retries} retries)"[
                            :1000
                        ],
                    )
                    for r in pending
                    if r.ledger_id in recipient_only
                ]
                pending = [r for r in pending if r.ledger_id not in recipient_only]
                if not pending:
                    break
                why = f"provider unavailable, gave up after {self.policy.max_retries} retries: {error}"
                return BatchResult(final, _ids(pending), attempt, (SendOutcome.PAUSED, why))
            delay = self.policy.wait_for(attempt, provider_wait, self.rng)
            log.warning("batch retry %d in %.1fs: %s", attempt, delay, error)
            if not self._pause(delay):
                return BatchResult(final, _ids(pending), attempt)  # asked to stop: pending were certainly not sent
        return BatchResult(final, [], attempt)

    def _pace_sleep(self, seconds: float) -> None:
        """The pacer's sleep: cut short by a stop (the run loop then claims nothing more)."""
        self._pause(seconds)

    def _pause(self, seconds: float) -> bool:
        """Wait before a retry in short steps, so a stop (SIGTERM) is heard within a step, not after
        a 429's two minutes. Returns False when asked to stop."""
        remaining = seconds
        while remaining > 0:
            if self.should_stop():
                return False
            step = min(STOP_POLL_SECONDS, remaining)
            self.sleep(step)
            remaining -= step
        return not self.should_stop()

    # -- main thread: the only one that touches the database ----------------------

    def claim_next(
        self, edition_id: int, region_code: str, after: int, *, ahead: bool = False
    ) -> tuple[list[Recipient], int] | None:
        """The next batch, claimed; None when the list is exhausted.

        ``ahead``: the caller will ask for the batch after this one at once, so on
        PostgreSQL its claim is sent as soon as this one is read, and the server runs
        it while this thread makes this batch's tokens and the workers its requests.
        A claim sent ahead and then not asked for is released by :meth:`drop_ahead`.
        """
        try:
            return self._claim_next(edition_id, region_code, after, ahead)
        except sa.exc.OperationalError as exc:
            if self.engine.dialect.name == "sqlite":
                # SQLite has one writer: a second dispatcher waits (busy timeout), then gives up here.
                raise EditionError(
                    "the SQLite database stayed locked (another dispatcher or writer?); "
                    f"nothing is lost, run the send again: {exc.orig}"
                ) from None
            raise

    def drop_ahead(self) -> None:
        """End claiming ahead: a claim sent and never taken is released, and its connection given back."""
        if self._ahead is not None:
            self._release(self._ahead.close())

    def _withdraw_ahead(self) -> None:
        """Release a claim sent and never taken (certainly not handed over); the connection stays for the next."""
        if self._ahead is not None:
            self._release(self._ahead.withdraw())

    def _release(self, held: ledger.ClaimResult | None) -> None:
        if held is None:
            return
        self.tally[DeliveryState.SUPPRESSED] += held.suppressed
        if held.to_send:
            with self.engine.begin() as connection:
                ledger.release(connection, [c.delivery_id for c in held.to_send])

    def _claim_next(
        self, edition_id: int, region_code: str, after: int, ahead: bool
    ) -> tuple[list[Recipient], int] | None:
        claim = self._sent_ahead(after)
        if claim is not None and claim.last_subscriber_id is not None:
            after = claim.last_subscriber_id
        if claim is None or not claim.to_send:
            # Nothing sent ahead; or it wrote nothing (the end of the list, or a lost race)
            # or only suppressed readers: claim here, from where it got to.
            claim = self._claim_here(edition_id, region_code, after)
            if claim is None:
                return None
        assert claim.last_subscriber_id is not None  # it has readers to send
        if ahead and self._ahead is not None:
            self._ahead.send(
                edition_id=edition_id,
                region_code=region_code,
                after=claim.last_subscriber_id,
                limit=self.claim_limit,
                now=utcnow(),
            )
        self._subscriber_of.update((c.delivery_id, c.subscriber_id) for c in claim.to_send)
        token = self.tokens
        recipients = [Recipient(c.email, token(c.subscriber_id, c.token_version), c.delivery_id) for c in claim.to_send]
        return recipients, claim.last_subscriber_id

    def _sent_ahead(self, after: int) -> ledger.ClaimResult | None:
        """The claim sent ahead for ``after``, read; None when there is none (one for elsewhere is released)."""
        if self._ahead is None or self._ahead.sent_after is None:
            return None
        if self._ahead.sent_after != after:
            self._withdraw_ahead()
            return None
        claim = self._ahead.receive()
        self.tally[DeliveryState.SUPPRESSED] += claim.suppressed
        return claim

    def _claim_here(self, edition_id: int, region_code: str, after: int) -> ledger.ClaimResult | None:
        """Claim and wait, past ``after``, until a claim has readers to send; None when the list is exhausted."""
        with self.engine.connect() as connection:
            while True:
                # Read and claim in one statement, committed before anything is handed over.
                claim = ledger.claim_next(
                    connection,
                    edition_id=edition_id,
                    region_code=region_code,
                    after=after,
                    limit=self.claim_limit,
                    now=utcnow(),
                )
                connection.commit()
                if claim.last_subscriber_id is None:
                    # Nothing written: the list is exhausted, or another dispatcher took a reader
                    # picked. Its rows are committed now (the claim waited for them), so a fresh
                    # read sees them and tells the two apart.
                    left = ledger.next_candidates(
                        connection, edition_id=edition_id, region_code=region_code, after=after, limit=1
                    )
                    connection.commit()
                    if not left:
                        return None
                    continue
                after = claim.last_subscriber_id
                self.tally[DeliveryState.SUPPRESSED] += claim.suppressed
                if claim.to_send:
                    return claim

    def record(self, batch: BatchResult) -> None:
        groups: dict[tuple[DeliveryState, str | None, str | None], list[int]] = {}
        for result in batch.results:
            assert result.recipient.ledger_id is not None
            key = (_STATE_OF[result.outcome], result.provider_message_id, result.error)
            groups.setdefault(key, []).append(result.recipient.ledger_id)
        answers = [ledger.Answer(state, ids, message_id, error) for (state, message_id, error), ids in groups.items()]
        handed_over = {
            result.recipient.ledger_id: result
            for result in batch.results
            if result.outcome in (Outcome.SENT, Outcome.QUEUED)
        }
        with self.engine.begin() as connection:
            now = utcnow()
            missing = ledger.record(connection, answers, attempts=batch.attempts, now=now)
            if missing:
                # An operator released these claims while the batch was still retrying, and
                # then they went out after all: write them back so no later send repeats them.
                late = [
                    ledger.LateAnswer(
                        self.edition_id,
                        self._subscriber_of[i],
                        _STATE_OF[handed_over[i].outcome],
                        handed_over[i].provider_message_id,
                        batch.attempts,
                    )
                    for i in missing
                ]
                written = ledger.record_late(connection, late, now=now)
                log.warning(
                    "%d released claims were answered after all; %d written back, %d already claimed again "
                    "(those readers may get a second copy)",
                    len(missing),
                    written,
                    len(missing) - written,
                )
            ledger.release(connection, batch.release)
        for result in batch.results:
            self._subscriber_of.pop(result.recipient.ledger_id or 0, None)
        for ledger_id in batch.release:
            self._subscriber_of.pop(ledger_id, None)
        for answer in answers:
            self.tally[answer.state] += len(answer.delivery_ids)
        if batch.halt and (self.halt is None or self.halt[0] is not SendOutcome.FAILED):
            self.halt = batch.halt
        self._check_threshold()
        if self.progress:
            self.progress(self.tally)

    def _check_threshold(self) -> None:
        handed = sum(
            self.tally[s]
            for s in (DeliveryState.SENT, DeliveryState.QUEUED, DeliveryState.FAILED, DeliveryState.UNKNOWN)
        )
        errors = self.tally[DeliveryState.FAILED] + self.tally[DeliveryState.UNKNOWN]
        if self.halt is None and handed >= self.settings.batch_size and errors > self.settings.error_threshold * handed:
            self.halt = (
                SendOutcome.PAUSED,
                f"error threshold: {errors} of {handed} recipients failed or unknown this run "
                f"(over {self.settings.error_threshold:.0%}); check the errors, then run the send again",
            )

    def _keep_alive(self, in_flight: dict[Future[BatchResult], list[int]]) -> None:
        """Refresh the claims of batches still in flight (retrying, or a slow provider)."""
        ids = [i for batch_ids in in_flight.values() for i in batch_ids]
        if ids:
            with self.engine.begin() as connection:
                ledger.touch(connection, ids, now=utcnow())

    def _record_returned(self, in_flight: dict[Future[BatchResult], list[int]]) -> None:
        """Record the batches back already, without waiting: what is left is what is still out."""
        for future in [future for future in in_flight if future.done()]:
            del in_flight[future]
            self.record(future.result())

    def _collect(self, in_flight: dict[Future[BatchResult], list[int]], *, everything: bool) -> None:
        """Wait for one batch (or all of them) to come back and record it, keeping the others' claims fresh."""
        while in_flight:
            done, _ = wait(in_flight, timeout=self.heartbeat, return_when=FIRST_COMPLETED)
            if not done:
                self._keep_alive(in_flight)
                continue
            for future in done:
                del in_flight[future]
                self.record(future.result())
            if not everything:
                return

    def run(self, edition_id: int, region_code: str) -> SendOutcome:
        self.edition_id = edition_id
        concurrency = self.settings.concurrency
        in_flight: dict[Future[BatchResult], list[int]] = {}
        after = 0
        stopped = False
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="dispatch") as pool:
            try:
                while True:
                    self._record_returned(in_flight)
                    if self.halt is not None:  # set by an answer recorded: no batch after it
                        break
                    if len(in_flight) >= concurrency:
                        self._withdraw_ahead()  # it would wait with this loop, its claims not kept fresh
                        self._collect(in_flight, everything=False)
                        continue
                    if self.should_stop():
                        stopped = True
                        break
                    # Pace before claiming, so claimed rows never sit waiting on the pacer.
                    if self.pacer.wait(self.claim_limit) and self.should_stop():  # heard while pacing
                        stopped = True
                        break
                    # With a slot still free after this batch and no pacing, the next claim follows
                    # at once: it can be sent ahead.
                    ahead = len(in_flight) + 1 < concurrency and self.pacer.per_second <= 0
                    batch = self.claim_next(edition_id, region_code, after, ahead=ahead)
                    if batch is None:
                        break
                    recipients, after = batch
                    # Each exchange is in flight on its own: a batch SendGrid takes in two requests
                    # goes out in two slots side by side, not one request after the other.
                    units = exchanges(self.settings.backend, self.content, recipients)
                    self.claim_limit = claim_limit_after(self.claim_limit, units)
                    for unit in units:
                        in_flight[pool.submit(self.deliver, unit)] = _ids(unit)
            finally:
                # Whatever ended the loop (even a database error), what is in flight has
                # been handed over: wait for it and record it, so none of it turns unknown.
                try:
                    self._collect(in_flight, everything=True)
                finally:
                    self.drop_ahead()
        if self.halt is not None:
            return self.halt[0]
        return SendOutcome.STOPPED if stopped else SendOutcome.COMPLETED


def _ids(recipients: Sequence[Recipient]) -> list[int]:
    return [r.ledger_id for r in recipients if r.ledger_id is not None]
