"""The edition row's side of a send: may it go out, what goes out, and how it ended.

The content is the edition's one rendering (``editions.prepare_edition``: frozen
editions return what was approved), turned into the backend's
:class:`~newsletter.delivery.base.MessageContent`. The edition's status records
the send: SENDING while any of it is outstanding, SENT when every eligible
subscriber has an answer, FAILED when the provider refused our credentials; its
note says why a send paused or stopped. Counts are read from the ledger, never
kept twice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from newsletter.config import Settings
from newsletter.db.engine import session_scope
from newsletter.db.models import DeliveryState, Edition, EditionStatus
from newsletter.db.tables import table_of
from newsletter.delivery.base import MessageContent
from newsletter.editions.clip_guard import check_html_size
from newsletter.editions.lifecycle import approval_missing, is_frozen, prepare_edition
from newsletter.editions.rows import find_edition
from newsletter.errors import EditionError, NotFoundError
from newsletter.render.edition import RenderedEdition
from newsletter.send import ledger


@dataclass(frozen=True)
class SendSource:
    edition_id: int
    content: MessageContent
    already_sent: bool
    # The status to go back to when the send fails before anything went out (see close_send).
    unsent_status: EditionStatus | None = None


def message_content(settings: Settings, rendered: RenderedEdition, *, subject_prefix: str = "") -> MessageContent:
    """The backend's view of a rendered edition: the same for every recipient."""
    return MessageContent(
        subject=subject_prefix + rendered.subject,
        html=rendered.html,
        text=rendered.text,
        sender_name=rendered.from_name or settings.sender_name,
        sender_address=settings.sender_address,
        base_url=settings.base_url,
        unsubscribe_mailto=settings.unsubscribe_mailto,
        reply_to=settings.reply_to,
        edition_id=rendered.edition_id,
        region_code=rendered.region_code,
        campaign=rendered.campaign,
        language=rendered.language,
        track_opens=settings.track_opens,
        track_clicks=settings.track_clicks,
    )


def open_send(
    engine: sa.Engine,
    settings: Settings,
    region_code: str,
    local_date: date,
    *,
    now: datetime,
    send_missed: bool = False,
    allow_large_html: bool = False,
) -> SendSource:
    """Prepare the edition (assembled and rendered once), check it may go out, mark it SENDING.

    A send that has not begun is refused when the HTML is over NEWSLETTER_MAX_HTML_KB
    (:mod:`newsletter.editions.clip_guard`), unless an editor passes ``allow_large_html``.

    A MISSED edition goes out only with ``send_missed``, an editor's explicit
    decision (``newsletter send --send-missed``); the scheduler never passes it. It
    then goes out as it stood before it was missed (approved and frozen, or a draft
    assembled now); that decision is the sign-off NEWSLETTER_REQUIRE_APPROVAL asks for.

    The edition row is locked before it is read (:func:`_lock_edition`), so two
    dispatchers starting a draft edition together take turns: the first assembles
    and marks it SENDING, the second then finds it frozen and sends the same stored
    rendering. When neither row existed yet, both insert it with ON CONFLICT DO
    NOTHING (``edition_rows``): the second waits for the first's commit and then
    uses its row. A database busy past its timeout is retried once.

    A SENT edition that still owes an eligible reader a message (released by an
    operator, or by another dispatcher after a failed batch) is resumed, not
    answered "already sent".
    """
    attempt = functools.partial(
        _open_send,
        engine,
        settings,
        region_code,
        local_date,
        now=now,
        send_missed=send_missed,
        allow_large_html=allow_large_html,
    )
    try:
        return attempt()
    except (sa.exc.IntegrityError, sa.exc.OperationalError):
        return attempt()


def _lock_edition(session: Session, region_code: str, local_date: date) -> None:
    """Hold the edition row (if any) for the rest of the transaction, before reading it.

    PostgreSQL: ``SELECT ... FOR UPDATE``; a second opener waits here and then reads
    the first one's committed state. SQLite has no row locks and a deferred
    transaction that read first cannot take the write lock once another writer
    committed; so write first (a no-op update), which takes the database's write
    lock with a fresh view.
    """
    where = (col(Edition.region_code) == region_code, col(Edition.local_date) == local_date)
    if session.get_bind().dialect.name == "postgresql":
        session.exec(select(Edition.id).where(*where).with_for_update()).first()
    else:
        table = table_of(Edition)
        session.execute(sa.update(table).where(*where).values(status=table.c.status))


def _reopen_missed(session: Session, region_code: str, local_date: date, *, send_missed: bool) -> bool:
    """A MISSED edition back to what it was before (approved or draft), on an editor's decision only."""
    edition = find_edition(session, region_code, local_date)
    if edition is None or edition.status is not EditionStatus.MISSED:
        return False
    if not send_missed:
        raise EditionError(
            f"edition {region_code} {local_date} is missed (not sent on schedule) and is never sent late on its "
            f"own; to send it now, run `newsletter send {region_code} --date {local_date} --send-missed`"
        )
    edition.status = EditionStatus.APPROVED if is_frozen(edition) else EditionStatus.DRAFT
    session.flush()
    return True


def _open_send(
    engine: sa.Engine,
    settings: Settings,
    region_code: str,
    local_date: date,
    *,
    now: datetime,
    send_missed: bool,
    allow_large_html: bool = False,
) -> SendSource:
    with session_scope(engine) as session:
        return open_send_in(
            session,
            settings,
            region_code,
            local_date,
            now=now,
            send_missed=send_missed,
            allow_large_html=allow_large_html,
        )


def open_send_in(
    session: Session,
    settings: Settings,
    region_code: str,
    local_date: date,
    *,
    now: datetime,
    send_missed: bool,
    allow_large_html: bool = False,
) -> SendSource:
    """:func:`open_send`'s checks and changes in the caller's transaction.

    Every rule a send must pass is here once; a dry run calls it in a transaction it
    rolls back, so it refuses exactly what a send would and leaves nothing behind.
    """
    _lock_edition(session, region_code, local_date)
    reopened = _reopen_missed(session, region_code, local_date, send_missed=send_missed)
    rendered = prepare_edition(session, settings, region_code, local_date, now=now)
    edition = session.get(Edition, rendered.edition_id)
    if edition is None:  # pragma: no cover - prepare_edition just returned it
        raise NotFoundError(f"edition {region_code} {local_date} vanished")
    content = message_content(settings, rendered)
    if edition.status is EditionStatus.SENT:
        connection = session.connection()
        if not ledger.outstanding(
            connection,
            edition_id=rendered.edition_id,
            region_code=region_code,
            listed_before=edition.send_started_at,
        ):
            return SendSource(rendered.edition_id, content, already_sent=True)
        # Readers were released after it was marked sent: resume for them.
        edition.sent_at = None
    elif edition.status.is_closed:
        raise EditionError(f"edition {region_code} {local_date} is {edition.status.value}; it cannot be sent")
    if not reopened and approval_missing(settings, edition.status):
        raise EditionError(f"edition {region_code} {local_date} is not approved (NEWSLETTER_REQUIRE_APPROVAL is on)")
    if reopened or edition.status in (EditionStatus.DRAFT, EditionStatus.APPROVED):
        # Only a send that has not begun: one under way is finished whatever its size.
        check_html_size(rendered, settings.max_html_kb, allow_large=allow_large_html)
    if reopened:
        unsent = EditionStatus.MISSED
    elif edition.status in (EditionStatus.DRAFT, EditionStatus.APPROVED):
        unsent = edition.status
    else:  # SENDING or FAILED again: if nothing goes out this time either, it was never under way
        unsent = EditionStatus.APPROVED if edition.approved_at is not None else EditionStatus.DRAFT
    edition.status = EditionStatus.SENDING
    edition.send_started_at = edition.send_started_at or now
    return SendSource(rendered.edition_id, content, already_sent=False, unsent_status=unsent)


def close_send(
    engine: sa.Engine,
    edition_id: int,
    status: EditionStatus,
    note: str,
    *,
    now: datetime,
    unsent_status: EditionStatus | None = None,
) -> EditionStatus:
    """Record how the send ended on the edition row; returns the status it now has.

    A FAILED send (refused credentials) after which the ledger holds no row but
    SUPPRESSED ones sent nothing at all, ever: the edition goes back to
    ``unsent_status`` (draft, approved or missed, as before the send), so it is
    not frozen as an edition under way and the next send starts it afresh.

    SENT is only written when, in the same transaction, nobody is left: no CLAIMED
    or UNKNOWN row and no eligible reader without a row. A run that got to the end
    of the list may still leave readers behind, released by another dispatcher
    (failed batch, stop) after this one had passed them; then the edition stays
    SENDING and the next run sends to them.
    """
    with session_scope(engine) as session:
        edition = _locked(session, edition_id)
        if edition.status is EditionStatus.SENT:
            return EditionStatus.SENT  # another dispatcher finished it; never step back
        if status is EditionStatus.FAILED and unsent_status is not None and not _handed_over(session, edition_id):
            edition.status = unsent_status
            edition.send_started_at = None
            edition.note = f"{note}; {nothing_sent(unsent_status)}" if note else nothing_sent(unsent_status)
            return unsent_status
        if status is EditionStatus.SENT and ledger.outstanding(
            session.connection(),
            edition_id=edition_id,
            region_code=edition.region_code,
            listed_before=edition.send_started_at,
        ):
            status = EditionStatus.SENDING
            note = note or LEFT_BEHIND
        _record_end(edition, status, note, now=now)
        return status


def close_resolved(engine: sa.Engine, edition_id: int, *, now: datetime) -> bool:
    """An edition whose send ended with unresolved rows becomes SENT once events resolved the last of them.

    Called after provider events moved rows of the edition to QUEUED
    (:mod:`newsletter.events.ingest`). Only a SENDING edition that owes nobody an
    answer is closed, by the rule :func:`close_send` applies (:func:`ledger.outstanding`):
    one with readers never claimed (a paused, stopped or crashed send midway) stays
    SENDING for ``resume``. Recorded as a finished send records it: status, note, sent_at.
    True when this call closed it.
    """
    with session_scope(engine) as session:
        edition = _locked(session, edition_id)
        if edition.status is not EditionStatus.SENDING or ledger.outstanding(
            session.connection(),
            edition_id=edition_id,
            region_code=edition.region_code,
            listed_before=edition.send_started_at,
        ):
            return False
        _record_end(edition, EditionStatus.SENT, RESOLVED_BY_EVENTS, now=now)
        return True


def _locked(session: Session, edition_id: int) -> Edition:
    """The edition row, held for the transaction (FOR UPDATE on PostgreSQL; SQLite's one writer elsewhere)."""
    edition = session.get(Edition, edition_id, with_for_update=session.get_bind().dialect.name == "postgresql")
    if edition is None:  # pragma: no cover
        raise NotFoundError(f"edition #{edition_id} does not exist")
    return edition


def _record_end(edition: Edition, status: EditionStatus, note: str, *, now: datetime) -> None:
    """How a send ended, on the edition row: its status, the note, and the moment it was SENT."""
    edition.status = status
    edition.note = note
    if status is EditionStatus.SENT:
        edition.sent_at = now


def nothing_sent(status: EditionStatus) -> str:
    """What a send that failed before anything went out left behind, and what to do."""
    return f"nothing was sent and the edition is {status.value} again: fix that, then run the send again"


def _handed_over(session: Session, edition_id: int) -> bool:
    """Whether any ledger row says a message was (or may have been) handed over, or is being."""
    counts = ledger.state_counts(session.connection(), edition_id=edition_id)
    return any(count for state, count in counts.items() if state is not DeliveryState.SUPPRESSED)


RESOLVED_BY_EVENTS = "completed: the provider's events resolved the last recipients without a recorded answer"
LEFT_BEHIND = "readers were released by another dispatcher after this run passed them; run the send again"
