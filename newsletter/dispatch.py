"""The send: stream an edition's subscribers in batches, claim them, hand them over, record.

The loop, for each keyset batch of up to ``batch_size`` subscribers:

1. read the next candidates (``ledger.next_candidates``), claim them in one
   transaction (``ledger.claim``): from here the ledger says "maybe sent";
2. hand the batch to a worker thread; at most ``concurrency`` batches are in
   flight, and ``rate_limit_per_second`` paces them;
3. when the worker returns, record every answer in one transaction.

Policies (one place each):

* **Retries** (in the worker): a rate limit waits as long as the provider says
  (bounded); a server error or refused connection backs off exponentially with
  jitter; after ``max_retries`` the rows are released (deleted: certainly not
  sent) and the send *pauses*. Refusals for a recipient are recorded, not retried.
* **Refused credentials** stop the whole send at once (outcome FAILED).
* **Unknown outcome**: a request that may have reached the provider is never
  sent again on our own. Its rows stay UNKNOWN (or CLAIMED, after a crash), are
  listed by :func:`edition_status`, and go out again only after an operator runs
  :func:`release_unresolved` (``newsletter release``).
* **Error threshold**: when, after at least one full batch, more than
  ``error_threshold`` of this run's recipients failed or ended unknown, the send
  *pauses* instead of burning the list. Running it again resumes.
* **Stop**: ``should_stop`` is polled between batches; the batches in flight are
  finished and recorded before returning.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa

from newsletter import ledger
from newsletter.config import Settings
from newsletter.delivery.base import Backend, MessageContent, Outcome, Recipient, SendResult
from newsletter.delivery.factory import make_backend
from newsletter.delivery.units import describe
from newsletter.edition_send import close_send, find_edition, open_send
from newsletter.errors import (
    AuthenticationError,
    EditionError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UnknownOutcomeError,
)
from newsletter.models import DeliveryState, EditionStatus
from newsletter.pacing import Pacer, RetryPolicy
from newsletter.sqltypes import utcnow
from newsletter.tokens import manage_token

log = logging.getLogger(__name__)

# Backend outcomes as ledger states (DEFERRED never reaches the ledger: it is retried or released).
_STATE_OF = {
    Outcome.SENT: DeliveryState.SENT,
    Outcome.QUEUED: DeliveryState.QUEUED,
    Outcome.FAILED: DeliveryState.FAILED,
    Outcome.UNKNOWN: DeliveryState.UNKNOWN,
}
DEFAULT_RELEASE_AGE = timedelta(minutes=15)


class SendOutcome(StrEnum):
    COMPLETED = "completed"  # every eligible subscriber has a ledger row
    PAUSED = "paused"  # error threshold or provider unavailable: run again to resume
    STOPPED = "stopped"  # asked to stop (SIGTERM): run again to resume
    FAILED = "failed"  # refused credentials: fix the settings, then run again


@dataclass
class SendReport:
    """What one run did (``this_run``) and where the edition stands (``counts``)."""

    region_code: str
    local_date: date
    edition_id: int
    outcome: SendOutcome
    counts: dict[DeliveryState, int]
    this_run: Counter[DeliveryState] = field(default_factory=Counter)
    message: str = ""

    @property
    def unresolved(self) -> int:
        return self.counts[DeliveryState.CLAIMED] + self.counts[DeliveryState.UNKNOWN]

    @property
    def completed(self) -> bool:
        return self.outcome is SendOutcome.COMPLETED

    def lines(self) -> list[str]:
        run = ", ".join(f"{state.value} {self.this_run[state]}" for state in DeliveryState if self.this_run[state])
        total = ", ".join(f"{state.value} {count}" for state, count in self.counts.items())
        lines = [
            f"edition {self.region_code} {self.local_date} (#{self.edition_id}): {self.outcome.value}",
            f"  this run: {run or 'nothing new'}",
            f"  ledger:   {total}",
        ]
        if self.message:
            lines.append(f"  {self.message}")
        return lines


@dataclass
class _BatchResult:
    results: list[SendResult]
    release: list[int]  # delivery ids certainly not handed over
    attempts: int
    halt: tuple[SendOutcome, str] | None = None


class _Dispatcher:
    """One run's moving parts; :func:`send_edition` is the public face."""

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
        self.pacer = Pacer(settings.rate_limit_per_second, sleep=sleep)
        self.tally: Counter[DeliveryState] = Counter()
        self.halt: tuple[SendOutcome, str] | None = None

    # -- worker thread ------------------------------------------------------------

    def deliver(self, batch: Sequence[Recipient]) -> _BatchResult:
        """Hand a claimed batch over, retrying what was certainly not sent."""
        final: list[SendResult] = []
        pending = list(batch)
        attempt = 0
        while pending:
            attempt += 1
            provider_wait: float | None = None
            try:
                results = self.backend.send_batch(self.content, pending)
            except AuthenticationError as exc:
                return _BatchResult(final, _ids(pending), attempt, (SendOutcome.FAILED, describe(exc)))
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
                return _BatchResult(final, [], attempt, (SendOutcome.PAUSED, f"backend error: {exc!r}"))
            else:
                final += [r for r in results if r.outcome is not Outcome.DEFERRED]
                deferred = [r for r in results if r.outcome is Outcome.DEFERRED]
                if not deferred:
                    break
                pending = [r.recipient for r in deferred]
                error = deferred[0].error or "deferred"
                waits = [r.retry_after for r in deferred if r.retry_after is not None]
                provider_wait = max(waits) if waits else None
            if attempt > self.policy.max_retries:
                why = f"provider unavailable, gave up after {self.policy.max_retries} retries: {error}"
                return _BatchResult(final, _ids(pending), attempt, (SendOutcome.PAUSED, why))
            if self.should_stop():
                return _BatchResult(final, _ids(pending), attempt)
            delay = self.policy.wait_for(attempt, provider_wait, self.rng)
            log.warning("batch retry %d in %.1fs: %s", attempt, delay, error)
            self.sleep(delay)
        return _BatchResult(final, [], attempt)

    # -- main thread: the only one that touches the database ----------------------

    def claim_next(self, edition_id: int, region_code: str, after: int) -> tuple[list[Recipient], int] | None:
        """The next batch, claimed; None when the list is exhausted."""
        try:
            return self._claim_next(edition_id, region_code, after)
        except sa.exc.OperationalError as exc:
            if self.engine.dialect.name == "sqlite":
                # SQLite has one writer: a second dispatcher waits (busy timeout), then gives up here.
                raise EditionError(
                    "the SQLite database stayed locked (another dispatcher or writer?); "
                    f"nothing is lost, run the send again: {exc.orig}"
                ) from None
            raise

    def _claim_next(self, edition_id: int, region_code: str, after: int) -> tuple[list[Recipient], int] | None:
        limit = self.settings.batch_size
        with self.engine.connect() as connection:
            while True:
                candidates = ledger.next_candidates(
                    connection, edition_id=edition_id, region_code=region_code, after=after, limit=limit
                )
                connection.commit()  # end the read before the write (SQLite locks upgrade badly)
                if not candidates:
                    return None
                after = candidates[-1].subscriber_id
                claim = ledger.claim(
                    connection, edition_id=edition_id, region_code=region_code, candidates=candidates, now=utcnow()
                )
                connection.commit()
                self.tally[DeliveryState.SUPPRESSED] += claim.suppressed
                if claim.to_send:
                    secret = self.settings.secret
                    return [
                        Recipient(c.email, manage_token(secret, c.subscriber_id, c.token_version), c.delivery_id)
                        for c in claim.to_send
                    ], after

    def record(self, batch: _BatchResult) -> None:
        groups: dict[tuple[DeliveryState, str | None, str | None], list[int]] = {}
        for result in batch.results:
            assert result.recipient.ledger_id is not None
            key = (_STATE_OF[result.outcome], result.provider_message_id, result.error)
            groups.setdefault(key, []).append(result.recipient.ledger_id)
        answers = [ledger.Answer(state, ids, message_id, error) for (state, message_id, error), ids in groups.items()]
        with self.engine.begin() as connection:
            ledger.record(connection, answers, attempts=batch.attempts, now=utcnow())
            ledger.release(connection, batch.release)
        for answer in answers:
            self.tally[answer.state] += len(answer.delivery_ids)
        if batch.halt and (self.halt is None or self.halt[0] is not SendOutcome.FAILED):
            self.halt = batch.halt
        self._check_threshold()
        if self.progress:
            self.progress(self.tally)

    def _check_threshold(self) -> None:
        handed = sum(self.tally[s] for s in (DeliveryState.SENT, DeliveryState.QUEUED, DeliveryState.FAILED, DeliveryState.UNKNOWN))
        errors = self.tally[DeliveryState.FAILED] + self.tally[DeliveryState.UNKNOWN]
        if self.halt is None and handed >= self.settings.batch_size and errors > self.settings.error_threshold * handed:
            self.halt = (
                SendOutcome.PAUSED,
                f"error threshold: {errors} of {handed} recipients failed or unknown this run "
                f"(over {self.settings.error_threshold:.0%}); check the errors, then run the send again",
            )

    def run(self, edition_id: int, region_code: str) -> SendOutcome:
        concurrency = self.settings.concurrency
        in_flight: set[Future[_BatchResult]] = set()
        after = 0
        stopped = False
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="dispatch") as pool:
            try:
                while self.halt is None:
                    if len(in_flight) >= concurrency:
                        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        for future in done:
                            self.record(future.result())
                        continue
                    if self.should_stop():
                        stopped = True
                        break
                    # Pace before claiming, so claimed rows never sit waiting on the pacer.
                    self.pacer.wait(self.settings.batch_size)
                    batch = self.claim_next(edition_id, region_code, after)
                    if batch is None:
                        break
                    recipients, after = batch
                    in_flight.add(pool.submit(self.deliver, recipients))
            finally:
                # Whatever ended the loop (even a database error), what is in flight has
                # been handed over: wait for it and record it, so none of it turns unknown.
                for future in in_flight:
                    self.record(future.result())
        if self.halt is not None:
            return self.halt[0]
        return SendOutcome.STOPPED if stopped else SendOutcome.COMPLETED


def _ids(recipients: Sequence[Recipient]) -> list[int]:
    return [r.ledger_id for r in recipients if r.ledger_id is not None]


def send_edition(
    engine: sa.Engine,
    settings: Settings,
    region_code: str,
    local_date: date,
    *,
    backend: Backend | None = None,
    should_stop: Callable[[], bool] | None = None,
    now: datetime | None = None,
    progress: Callable[[Counter[DeliveryState]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> SendReport:
    """Send (or resume) one region's edition for a local date. Safe to call again at any time.

    ``backend`` defaults to the configured one (and is then closed here);
    ``should_stop`` is polled between batches; ``progress`` gets this run's
    running counts after each batch; ``sleep`` and ``rng`` are the retry loop's
    clock and dice, for tests.
    """
    now = now or datetime.now(UTC)
    source = open_send(engine, settings, region_code, local_date, now=now)
    if source.already_sent:
        counts = _counts(engine, source.edition_id)
        return SendReport(region_code, local_date, source.edition_id, SendOutcome.COMPLETED, counts, Counter(), "already sent; nothing to do")
    owned = backend is None
    active_backend = backend or make_backend(settings)
    dispatcher = _Dispatcher(
        engine,
        settings,
        active_backend,
        source.content,
        should_stop=should_stop or (lambda: False),
        sleep=sleep,
        rng=rng or random.Random(),
        progress=progress,
    )
    log.info("sending edition %s %s (#%d) via %s", region_code, local_date, source.edition_id, active_backend.name)
    try:
        outcome = dispatcher.run(source.edition_id, region_code)
    finally:
        if owned:
            active_backend.close()
    counts = _counts(engine, source.edition_id)
    message = dispatcher.halt[1] if dispatcher.halt else ""
    unresolved = counts[DeliveryState.CLAIMED] + counts[DeliveryState.UNKNOWN]
    if outcome is SendOutcome.STOPPED:
        message = "stopped on request; run the send again to resume"
    elif outcome is SendOutcome.COMPLETED and unresolved:
        message = (
            f"{unresolved} recipients have no recorded answer (still in flight elsewhere, or unknown after a "
            "timeout or crash); they are not resent on their own: see `newsletter status`, then `newsletter release`"
        )
    status = EditionStatus.SENDING
    if outcome is SendOutcome.COMPLETED and not unresolved:
        status = EditionStatus.SENT
    elif outcome is SendOutcome.FAILED:
        status = EditionStatus.FAILED
    close_send(engine, source.edition_id, status, f"{outcome.value}: {message}" if message else "", now=utcnow())
    log.info("edition %s %s: %s, this run %s", region_code, local_date, outcome.value, dict(dispatcher.tally))
    return SendReport(region_code, local_date, source.edition_id, outcome, counts, dispatcher.tally, message)


def _counts(engine: sa.Engine, edition_id: int) -> dict[DeliveryState, int]:
    with engine.connect() as connection:
        return ledger.state_counts(connection, edition_id=edition_id)


@dataclass(frozen=True)
class EditionSendStatus:
    """The ``status`` command's view: the edition's state, ledger counts, and who has no answer."""

    region_code: str
    local_date: date
    edition_id: int
    status: EditionStatus
    note: str
    counts: dict[DeliveryState, int]
    unresolved: list[ledger.Unresolved]

    @property
    def unresolved_total(self) -> int:
        return self.counts[DeliveryState.CLAIMED] + self.counts[DeliveryState.UNKNOWN]


def edition_status(engine: sa.Engine, region_code: str, local_date: date, *, limit: int = 50) -> EditionSendStatus:
    """Where an edition's send stands; lists up to ``limit`` recipients whose outcome is unknown."""
    edition = find_edition(engine, region_code, local_date)
    assert edition.id is not None
    with engine.connect() as connection:
        counts = ledger.state_counts(connection, edition_id=edition.id)
        rows = ledger.unresolved(connection, edition_id=edition.id, limit=limit)
    return EditionSendStatus(region_code, local_date, edition.id, edition.status, edition.note, counts, rows)


def release_unresolved(
    engine: sa.Engine,
    region_code: str,
    local_date: date,
    *,
    older_than: timedelta = DEFAULT_RELEASE_AGE,
    now: datetime | None = None,
) -> int:
    """The operator's decision after checking the provider: send the unknown ones again.

    Deletes UNKNOWN rows, and CLAIMED rows not touched for ``older_than`` (a
    younger claim may belong to a dispatcher still waiting for its answer), so the
    next send includes those subscribers. Returns how many were released.
    """
    edition = find_edition(engine, region_code, local_date)
    cutoff = (now or utcnow()) - older_than
    with engine.begin() as connection:
        released = ledger.release_unresolved(connection, edition_id=edition.id or 0, claimed_before=cutoff)
    log.warning("released %d unresolved deliveries of edition %s %s", released, region_code, local_date)
    return released
