"""The send: stream an edition's subscribers in batches, claim them, hand them over, record.

The loop, for each keyset batch of up to ``batch_size`` subscribers:

1. claim the next readers past the last one (``ledger.claim_next``: one
   ``INSERT ... SELECT`` reads the list and writes their rows), committed before
   anything is handed over: from here the ledger says "maybe sent"; on PostgreSQL
   the claim after it is sent ahead when it will be asked for at once
   (``send.claims_ahead``);
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
  sent again on our own. Its rows stay UNKNOWN (or CLAIMED, after a crash) until
  a provider event resolves them to QUEUED (``events.ingest``), are listed by
  :func:`edition_status`, and go out again only after an operator runs
  :func:`release_unresolved` (``newsletter release``; ``--without-events`` frees
  only those with no event after NEWSLETTER_UNRESOLVED_EVENT_WAIT_MINUTES).
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.db.models import DeliveryState, EditionStatus
from newsletter.db.types import utcnow
from newsletter.delivery.base import Backend
from newsletter.delivery.factory import make_backend
from newsletter.editions.rows import require_edition
from newsletter.errors import EditionError
from newsletter.send import ledger
from newsletter.send.edition import LEFT_BEHIND, close_send, nothing_sent, open_send
from newsletter.send.loop import HEARTBEAT_SECONDS, Dispatcher, SendOutcome

__all__ = [
    "EditionSendStatus",
    "HeldClaims",
    "SendOutcome",
    "SendReport",
    "check_resumable",
    "edition_status",
    "held_claims",
    "release_unresolved",
    "send_edition",
    "send_finished",
]

log = logging.getLogger(__name__)

DEFAULT_RELEASE_AGE = timedelta(minutes=15)
DEFAULT_EVENT_WAIT = timedelta(minutes=30)  # NEWSLETTER_UNRESOLVED_EVENT_WAIT_MINUTES's default


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
    # The edition's status after this run: SENT only when nobody is left. A run can reach
    # the end of the list (outcome COMPLETED) and still leave it SENDING (unknown outcomes).
    edition_status: EditionStatus = EditionStatus.SENDING

    @property
    def unresolved(self) -> int:
        return self.counts[DeliveryState.CLAIMED] + self.counts[DeliveryState.UNKNOWN]

    @property
    def completed(self) -> bool:
        return self.outcome is SendOutcome.COMPLETED

    @property
    def edition_complete(self) -> bool:
        """Every eligible reader has a known answer: the edition is SENT."""
        return self.edition_status is EditionStatus.SENT

    def lines(self) -> list[str]:
        """The summary, then the message (why it stopped, or that there was nothing to do)."""
        return self.summary_lines() + ([f"  {self.message}"] if self.message else [])

    def summary_lines(self) -> list[str]:
        """Where the edition stands and what this run did, without the message."""
        run = ", ".join(f"{state.value} {self.this_run[state]}" for state in DeliveryState if self.this_run[state])
        total = ", ".join(f"{state.value} {count}" for state, count in self.counts.items())
        # "completed" is this run reaching the end of the list; the edition may still be open.
        still_open = ", edition still sending" if self.completed and not self.edition_complete else ""
        return [
            f"edition {self.region_code} {self.local_date} (#{self.edition_id}): {self.outcome.value}{still_open}",
            f"  this run: {run or 'nothing new'}",
            f"  ledger:   {total}",
        ]


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
    heartbeat: float = HEARTBEAT_SECONDS,
    send_missed: bool = False,
    allow_large_html: bool = False,
) -> SendReport:
    """Send (or resume) one region's edition for a local date. Safe to call again at any time.

    ``send_missed`` is an editor's decision to send an edition recorded as missed
    (never the scheduler's); ``allow_large_html`` an editor's to send HTML over
    NEWSLETTER_MAX_HTML_KB (see clip_guard). A send refused before anything went out (a missing
    or refused key) leaves the edition as it was, sendable again.
    ``backend`` defaults to the configured one (and is then closed here);
    ``should_stop`` is polled between batches; ``progress`` gets this run's
    running counts after each batch; ``sleep`` and ``rng`` are the retry loop's
    clock and dice, and ``heartbeat`` how often claims in flight are refreshed, for tests.
    """
    now = now or datetime.now(UTC)
    owned = backend is None
    # Built before the edition is touched: a missing key must not leave it SENDING.
    active_backend = backend or make_backend(settings)
    try:
        source = open_send(
            engine,
            settings,
            region_code,
            local_date,
            now=now,
            send_missed=send_missed,
            allow_large_html=allow_large_html,
        )
    except BaseException:
        if owned:
            active_backend.close()
        raise
    if source.already_sent:
        if owned:
            active_backend.close()
        counts = _counts(engine, source.edition_id)
        return SendReport(
            region_code,
            local_date,
            source.edition_id,
            SendOutcome.COMPLETED,
            counts,
            Counter(),
            "already sent; nothing to do",
            EditionStatus.SENT,
        )
    dispatcher = Dispatcher(
        engine,
        settings,
        active_backend,
        source.content,
        should_stop=should_stop or (lambda: False),
        sleep=sleep,
        rng=rng or random.Random(),
        progress=progress,
        heartbeat=heartbeat,
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
    closed = close_send(
        engine,
        source.edition_id,
        status,
        f"{outcome.value}: {message}" if message else "",
        now=utcnow(),
        unsent_status=source.unsent_status,
    )
    if status is EditionStatus.FAILED and closed is not EditionStatus.FAILED:
        message = f"{message}; {nothing_sent(closed)}" if message else nothing_sent(closed)
    if status is EditionStatus.SENT and closed is not EditionStatus.SENT:
        # This run reached the end of the list, but readers it passed were released
        # meanwhile (another dispatcher's failed batch or stop): not done yet.
        counts = _counts(engine, source.edition_id)
        message = LEFT_BEHIND
    log.info("edition %s %s: %s, this run %s", region_code, local_date, outcome.value, dict(dispatcher.tally))
    return SendReport(region_code, local_date, source.edition_id, outcome, counts, dispatcher.tally, message, closed)


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
    # The unresolved rows split by provider events (see ledger.EventWait), for NEWSLETTER_UNRESOLVED_EVENT_WAIT_MINUTES.
    events: ledger.EventWait
    event_wait: timedelta
    # FAILED rows grouped by the provider's reason, most frequent first.
    failures: list[ledger.FailureGroup] = field(default_factory=list)

    @property
    def unresolved_total(self) -> int:
        return self.counts[DeliveryState.CLAIMED] + self.counts[DeliveryState.UNKNOWN]


# An interrupted send: one that began (its rows are in the ledger) and did not finish.
RESUMABLE = frozenset({EditionStatus.SENDING, EditionStatus.FAILED})


def check_resumable(engine: sa.Engine, region_code: str, local_date: date) -> None:
    """Raise EditionError unless the edition has an interrupted send to continue (``resume``)."""
    status = require_edition(engine, region_code, local_date).status
    if status not in RESUMABLE:
        raise EditionError(
            f"edition {region_code} {local_date} is {status.value}: there is no interrupted send to resume "
            "(use `newsletter send` to start one)"
        )


def edition_status(
    engine: sa.Engine,
    region_code: str,
    local_date: date,
    *,
    limit: int = 50,
    event_wait: timedelta = DEFAULT_EVENT_WAIT,
    now: datetime | None = None,
) -> EditionSendStatus:
    """Where an edition's send stands; lists up to ``limit`` recipients whose outcome is unknown.

    ``event_wait`` is how long an unresolved row may go without a provider event
    before it counts as "no event" (and ``release --without-events`` may free it).
    """
    edition = require_edition(engine, region_code, local_date)
    assert edition.id is not None
    no_event_before = (now or utcnow()) - event_wait
    with engine.connect() as connection:
        counts = ledger.state_counts(connection, edition_id=edition.id)
        rows = ledger.unresolved(connection, edition_id=edition.id, limit=limit)
        events = ledger.event_wait(connection, edition_id=edition.id, no_event_before=no_event_before)
        failures = ledger.failures_by_reason(connection, edition_id=edition.id)
    return EditionSendStatus(
        region_code, local_date, edition.id, edition.status, edition.note, counts, rows, events, event_wait, failures
    )


def send_finished(engine: sa.Engine, region_code: str, local_date: date) -> bool:
    """Whether the edition says its send is over: it is SENT and owes nobody an answer.

    The rule :func:`close_send` writes SENT by (:func:`ledger.outstanding`), read again:
    a SENT edition that still owes an eligible reader a message is resumed by the next
    run (``open_send``), so its send is not over yet.
    """
    edition = require_edition(engine, region_code, local_date)
    if edition.status is not EditionStatus.SENT or edition.id is None:
        return False
    with engine.connect() as connection:
        return not ledger.outstanding(
            connection, edition_id=edition.id, region_code=region_code, listed_before=edition.send_started_at
        )


def release_unresolved(
    engine: sa.Engine,
    region_code: str,
    local_date: date,
    *,
    older_than: timedelta = DEFAULT_RELEASE_AGE,
    now: datetime | None = None,
    without_events_after: timedelta | None = None,
) -> int:
    """The operator's decision after checking the provider: send the unknown ones again.

    Deletes UNKNOWN rows, and CLAIMED rows not touched for ``older_than`` (a
    younger claim may belong to a dispatcher still waiting for its answer), so the
    next send includes those subscribers; never a row with a provider event.
    ``without_events_after`` keeps rows written less than that long ago too: they
    may still get their event. Returns how many were released.
    """
    edition = require_edition(engine, region_code, local_date)
    moment = now or utcnow()
    no_event_before = moment - without_events_after if without_events_after is not None else None
    with engine.begin() as connection:
        released = ledger.release_unresolved(
            connection,
            edition_id=edition.id or 0,
            claimed_before=moment - older_than,
            no_event_before=no_event_before,
        )
    log.warning("released %d unresolved deliveries of edition %s %s", released, region_code, local_date)
    return released


@dataclass(frozen=True)
class HeldClaims:
    """CLAIMED rows too recently touched for a release: maybe a dispatcher still waiting for its answer."""

    count: int
    first_releasable_at: datetime  # the oldest of them passes the age limit then
    all_releasable_at: datetime  # and the youngest then


def held_claims(
    engine: sa.Engine,
    region_code: str,
    local_date: date,
    *,
    older_than: timedelta = DEFAULT_RELEASE_AGE,
    now: datetime | None = None,
) -> HeldClaims | None:
    """The claims :func:`release_unresolved` keeps (touched within ``older_than``), or None.

    Right after a crash every claim in flight is this young: the operator is told
    why nothing was released and from when it will be.
    """
    edition = require_edition(engine, region_code, local_date)
    cutoff = (now or utcnow()) - older_than
    with engine.connect() as connection:
        count, oldest, newest = ledger.young_claims(connection, edition_id=edition.id or 0, touched_since=cutoff)
    if not count or oldest is None or newest is None:
        return None
    return HeldClaims(count, oldest + older_than, newest + older_than)
