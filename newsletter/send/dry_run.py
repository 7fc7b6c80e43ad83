"""``send --dry-run``: everything a send does but the backend, and nothing left behind.

The edition goes through the send's own checks and preparation
(:func:`~newsletter.send.edition.open_send_in`: closed or missed, approval, clip
guard, assembly of a draft) in a transaction that is rolled back: no status
changes, nothing is frozen, no row is created. The list is then read the way the
send loop claims it (keyset pages of ``batch_size``; suppressed readers get a
row and no message), and each batch is measured by the functions that build the
backend's requests (:mod:`newsletter.delivery.sizing`). The ledger is only read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import BackendName, Settings
from newsletter.db.models import EditionStatus, SubscriberStatus
from newsletter.db.types import utcnow
from newsletter.delivery.base import Recipient
from newsletter.delivery.sizing import claim_limit_after, exchanges, request_sizes
from newsletter.editions.rows import find_edition
from newsletter.send import ledger
from newsletter.send.edition import SendSource, open_send_in
from newsletter.subscribers.tokens import ManageTokens

__all__ = ["DryRun", "PlannedBatch", "plan_send"]


@dataclass(frozen=True)
class PlannedBatch:
    """One claim's worth of readers: how many get a message, and the bytes of each request for them."""

    recipients: int
    request_bytes: tuple[int, ...]

    @property
    def total_bytes(self) -> int:
        return sum(self.request_bytes)


@dataclass(frozen=True)
class DryRun:
    region_code: str
    local_date: date
    backend: BackendName
    stored_status: EditionStatus | None  # None: no edition row yet (a send would assemble one)
    subject: str
    html_bytes: int
    already_sent: bool
    in_ledger: int  # readers with a row already: never sent again by this send
    suppressed: int  # would get a "suppressed" row and no message
    batches: list[PlannedBatch]

    @property
    def recipients(self) -> int:
        return sum(batch.recipients for batch in self.batches)

    @property
    def requests(self) -> int:
        return sum(len(batch.request_bytes) for batch in self.batches)


def plan_send(
    engine: sa.Engine,
    settings: Settings,
    region_code: str,
    local_date: date,
    *,
    now: datetime | None = None,
    send_missed: bool = False,
    allow_large_html: bool = False,
) -> DryRun:
    """What ``send`` would do now, for the configured backend; raises what ``send`` would refuse with."""
    now = now or utcnow()
    if settings.backend is BackendName.SENDGRID:
        settings.require_sendgrid_key()  # a send refuses a missing key before anything else
    with Session(engine, expire_on_commit=False) as session:
        try:
            stored = find_edition(session, region_code, local_date)
            stored_status = stored.status if stored is not None else None
            source = open_send_in(
                session,
                settings,
                region_code,
                local_date,
                now=now,
                send_missed=send_missed,
                allow_large_html=allow_large_html,
            )
        finally:
            session.rollback()  # the dry run's whole point: the edition stays as it was
    with engine.connect() as connection:
        in_ledger = sum(ledger.state_counts(connection, edition_id=source.edition_id).values())
        suppressed, batches = (0, []) if source.already_sent else _batches(connection, settings, source, region_code)
    content = source.content
    return DryRun(
        region_code,
        local_date,
        settings.backend,
        stored_status,
        content.subject,
        len(content.html.encode("utf-8")),
        source.already_sent,
        in_ledger,
        suppressed,
        batches,
    )


def _batches(
    connection: sa.Connection, settings: Settings, source: SendSource, region_code: str
) -> tuple[int, list[PlannedBatch]]:
    """The list read as the send loop claims it: ``batch_size`` readers per page (less once a page
    needs two requests, as the loop does), in subscriber order."""
    tokens = ManageTokens(settings.secret)
    # The ledger ids the claims would get are not known yet; ids past the current ones
    # have the same number of digits, so the requests measure the same to the byte (or one more).
    next_id = ledger.last_delivery_id(connection) + 1
    batches: list[PlannedBatch] = []
    suppressed = after = 0
    now = utcnow()
    limit = settings.batch_size
    while page := ledger.next_candidates(
        connection, edition_id=source.edition_id, region_code=region_code, after=after, limit=limit
    ):
        after = page[-1].subscriber_id
        recipients = []
        for offset, reader in enumerate(page):
            if reader.status == SubscriberStatus.ACTIVE:
                token = tokens(reader.subscriber_id, reader.token_version)
                recipients.append(Recipient(reader.email, token, next_id + offset))
        next_id += len(page)
        suppressed += len(page) - len(recipients)
        if recipients:
            units = exchanges(settings.backend, source.content, recipients)
            sizes = request_sizes(settings.backend, source.content, units, now=now, sandbox=settings.sendgrid_sandbox)
            batches.append(PlannedBatch(len(recipients), tuple(sizes)))
            limit = claim_limit_after(limit, units)
    return suppressed, batches
