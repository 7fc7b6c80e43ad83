"""Subscriber life cycle: subscribe, confirm, preferences, pause, unsubscribe, suppress.

The one place that changes a subscriber's status or regions. The web app, the
event webhook and any future CLI call these functions; none of them writes
``Subscriber`` or ``Subscription`` rows on its own. Functions take a session and
never commit: the caller owns the transaction (``db.session_scope``).

Statuses, and who moves them:

    pending ──confirm──> active ──unsubscribe──> unsubscribed
                           │  └──webhook bounce/drop──> bounced
                           └─────webhook spam report──> complained

Only ``confirm`` (the double opt-in) moves ``pending`` to ``active``. A subscriber
who unsubscribed may come back by choosing regions on their own preference page,
or through the form and a fresh double opt-in. One who bounced or complained
needs a fresh double opt-in too (the mailbox may have changed hands, or its owner
told their provider they never wanted this), but a subscribe request from the
form mails them nothing: anyone can type an address there, and mailing a bounced
or complaining address on a stranger's word is how a sender's reputation is lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from newsletter.addresses import normalise_email
from newsletter.db.models import (
    Delivery,
    DeliveryState,
    Event,
    EventType,
    Region,
    StatusCause,
    Subscriber,
    SubscriberStatus,
    Subscription,
)
from newsletter.db.queries import regions_in_order
from newsletter.errors import TokenError
from newsletter.subscribers.confirm_links import make_confirm_link_token, read_confirm_link_token
from newsletter.subscribers.erased import is_erased
from newsletter.subscribers.history import record_change
from newsletter.subscribers.tokens import CONFIRM_TTL, Purpose, manage_token, read_token

# When two reasons to stop sending meet, the stronger one is kept: a complaint
# outranks a bounce, which outranks a plain unsubscribe.
_SUPPRESSION_RANK = {
    SubscriberStatus.UNSUBSCRIBED: 1,
    SubscriberStatus.BOUNCED: 2,
    SubscriberStatus.COMPLAINED: 3,
}


def outranks(status: SubscriberStatus, current: SubscriberStatus) -> bool:
    """Whether suppression ``status`` is a stronger reason to stop sending than ``current``."""
    return _SUPPRESSION_RANK[status] > _SUPPRESSION_RANK.get(current, 0)


class SubscriptionRequestError(ValueError):
    """The visitor's input cannot be accepted (no region chosen, unknown region)."""


class ReactivationRefused(SubscriptionRequestError):
    """The preference page cannot turn this subscriber back on; a double opt-in can."""

    def __init__(self, status: SubscriberStatus) -> None:
        super().__init__(f"a {status.value} subscriber needs a confirmed subscription first")
        self.status = status


# Statuses the preference page may not move to active (see the module docstring).
NEEDS_OPT_IN = frozenset({SubscriberStatus.PENDING, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED})
# Addresses a subscribe request from the form never mails (see the module docstring).
NO_MAIL_ON_REQUEST = frozenset({SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED})


class MailKind(StrEnum):
    CONFIRM = "confirm"  # new or not-yet-active address: double opt-in link
    ALREADY_ACTIVE = "already_active"  # known active address: a link to its preferences


@dataclass(frozen=True)
class SubscribeOutcome:
    """Which mail to send after a subscribe request. Never shown to the visitor."""

    kind: MailKind
    email: str
    manage_token: str  # preference link, and the mail's List-Unsubscribe header
    confirm_token: str | None  # only for MailKind.CONFIRM
    region_names: tuple[str, ...]


@dataclass(frozen=True)
class RegionChoice:
    code: str
    name: str
    chosen: bool


@dataclass(frozen=True)
class Preferences:
    email: str
    status: SubscriberStatus
    paused: bool
    regions: tuple[RegionChoice, ...]

    @property
    def suppressed(self) -> bool:
        return self.status.is_suppressed

    @property
    def needs_opt_in(self) -> bool:
        """Saving regions here cannot turn editions on; subscribing and confirming can."""
        return self.status in NEEDS_OPT_IN


def _checked_regions(session: Session, region_codes: Iterable[str]) -> list[Region]:
    wanted = list(dict.fromkeys(region_codes))
    known = {region.code: region for region in regions_in_order(session)}
    unknown = [code for code in wanted if code not in known]
    if unknown:
        raise SubscriptionRequestError(f"unknown region: {unknown[0]}")
    return [known[code] for code in wanted]


def check_request(session: Session, raw_email: str, region_codes: Iterable[str]) -> str:
    """The normalised address of a usable subscribe request; writes nothing.

    Raises InvalidAddress or SubscriptionRequestError for unusable input.
    """
    email = normalise_email(raw_email)
    if not _checked_regions(session, region_codes):
        raise SubscriptionRequestError("choose at least one region")
    return email


def subscribe(
    session: Session,
    raw_email: str,
    region_codes: Iterable[str],
    *,
    secret: bytes,
    now: datetime,
    cause: StatusCause = StatusCause.FORM,
) -> SubscribeOutcome | None:
    """Record a subscribe request and say which mail the address should get, if any.

    The caller answers the visitor the same way whatever happens here, so the page
    never reveals whether an address is known. Only the mailbox owner learns it,
    from the mail: a confirmation link, or for an active subscriber a link to the
    preference page (their regions are changed there, never by a stranger's form).
    None, with nothing written, for an address that bounced, complained or was erased.

    Raises InvalidAddress or SubscriptionRequestError for unusable input.
    """
    codes = list(region_codes)  # read twice below
    email = check_request(session, raw_email, codes)
    regions = _checked_regions(session, codes)
    subscriber = session.exec(select(Subscriber).where(Subscriber.email == email)).first()
    if subscriber is not None and subscriber.status in NO_MAIL_ON_REQUEST:
        return None
    is_new = subscriber is None
    if subscriber is None:
        if is_erased(session, email):
            return None
        subscriber = Subscriber(email=email, created_at=now, updated_at=now)
        session.add(subscriber)
        session.flush()
        record_change(session, subscriber, None, cause=cause, now=now)
    assert subscriber.id is not None
    names = tuple(region.name for region in regions)
    manage_link_token = manage_token(secret, subscriber.id, subscriber.token_version)
    if subscriber.status is SubscriberStatus.ACTIVE:
        return SubscribeOutcome(MailKind.ALREADY_ACTIVE, email, manage_link_token, None, names)
    # The requested regions travel in the confirmation link and take effect only
    # when the mailbox owner confirms. A known address's stored regions are its
    # owner's: a stranger's request must not rewrite them. A brand-new address has
    # none, so its request is stored (inactive) for the preference page to show.
    if is_new:
        session.add_all(
            Subscription(subscriber_id=subscriber.id, region_code=region.code, active=False, created_at=now)
            for region in regions
        )
    confirm_link_token = make_confirm_link_token(
        secret, subscriber.id, subscriber.token_version, [region.code for region in regions], now=now
    )
    return SubscribeOutcome(MailKind.CONFIRM, email, manage_link_token, confirm_link_token, names)


def request_confirmation(session: Session, subscriber: Subscriber, *, secret: bytes, now: datetime) -> SubscribeOutcome:
    """A fresh confirmation mail, asked for on the subscriber's own preference page.

    The way back for an address that bounced or complained, which the public form
    never mails: only the holder of the subscriber's signed link can ask, and the
    mailbox owner must still confirm. The link carries their stored regions (the
    ones they last had on, else every one they ever asked for). Writes nothing.
    Raises SubscriptionRequestError when there is nothing to confirm.
    """
    if subscriber.status not in NEEDS_OPT_IN:
        raise SubscriptionRequestError(f"a {subscriber.status.value} subscriber has nothing to confirm")
    assert subscriber.id is not None
    rows = list(session.exec(select(Subscription).where(col(Subscription.subscriber_id) == subscriber.id)))
    wanted = {row.region_code for row in rows if row.active} or {row.region_code for row in rows}
    regions = [region for region in regions_in_order(session) if region.code in wanted]
    if not regions:
        raise SubscriptionRequestError("none of your regions is offered any more; please subscribe again")
    token = make_confirm_link_token(
        secret, subscriber.id, subscriber.token_version, [region.code for region in regions], now=now
    )
    return SubscribeOutcome(
        MailKind.CONFIRM,
        subscriber.email,
        manage_token(secret, subscriber.id, subscriber.token_version),
        token,
        tuple(region.name for region in regions),
    )


def _subscriber_for(session: Session, subscriber_id: int, version: int) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        # Same words as a forged link: a deleted subscriber is no one's business.
        raise TokenError("this link is not valid")
    if version != subscriber.token_version:
        raise TokenError("this link has been replaced by a newer one")
    return subscriber


def subscriber_for_manage_token(session: Session, token: str, *, secret: bytes, now: datetime) -> Subscriber:
    """The subscriber a preference or unsubscribe link belongs to; TokenError otherwise."""
    claims = read_token(secret, token, Purpose.MANAGE, now=now)
    return _subscriber_for(session, claims.subscriber_id, claims.version)


def subscriber_for_confirm_token(session: Session, token: str, *, secret: bytes, now: datetime) -> Subscriber:
    """The subscriber a confirmation link belongs to, without confirming; TokenError otherwise."""
    claims = read_confirm_link_token(secret, token, now=now).claims
    return _subscriber_for(session, claims.subscriber_id, claims.version)


def _activate_regions(session: Session, subscriber: Subscriber, codes: tuple[str, ...], now: datetime) -> None:
    """Activate exactly the regions the confirmation link carries."""
    rows = {
        row.region_code: row
        for row in session.exec(select(Subscription).where(col(Subscription.subscriber_id) == subscriber.id))
    }
    # A region withdrawn since the request was made is skipped, not an error.
    offered = {region.code for region in regions_in_order(session)}
    chosen = [code for code in codes if code in offered]
    if not chosen:
        raise TokenError("the regions in this link are no longer offered; please subscribe again")
    for code, row in rows.items():
        row.active = code in chosen
    assert subscriber.id is not None  # a confirmation link names a stored subscriber
    session.add_all(
        Subscription(subscriber_id=subscriber.id, region_code=code, active=True, created_at=now)
        for code in chosen
        if code not in rows
    )


def confirm(session: Session, token: str, *, secret: bytes, now: datetime) -> Subscriber:
    """Double opt-in: activate the subscriber and the regions they asked for.

    Confirming twice is harmless. A confirmation link issued before the subscriber
    last left the list is refused, so an old mail cannot undo an unsubscribe.
    """
    link = read_confirm_link_token(secret, token, now=now)
    claims = link.claims
    subscriber = _subscriber_for(session, claims.subscriber_id, claims.version)
    if subscriber.status is SubscriberStatus.ACTIVE:
        return subscriber
    assert claims.expires_at is not None  # confirmation tokens always expire
    # Token times are whole seconds, so compare in whole seconds.
    issued_at = claims.expires_at - int(CONFIRM_TTL.total_seconds())
    left_at = subscriber.unsubscribed_at
    if left_at is not None and int(left_at.timestamp()) > issued_at:
        raise TokenError("this confirmation link is older than your last unsubscribe; please subscribe again")
    _activate_regions(session, subscriber, link.region_codes, now)
    old = subscriber.status
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.paused = False
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None
    subscriber.updated_at = now
    record_change(session, subscriber, old, cause=StatusCause.FORM, detail="confirmation link", now=now)
    return subscriber


def preferences(session: Session, subscriber: Subscriber) -> Preferences:
    """What the preference page shows: every region, with this subscriber's choice."""
    active = set(
        session.exec(
            select(Subscription.region_code).where(
                Subscription.subscriber_id == subscriber.id, col(Subscription.active).is_(True)
            )
        )
    )
    choices = tuple(RegionChoice(r.code, r.name, r.code in active) for r in regions_in_order(session))
    return Preferences(subscriber.email, subscriber.status, subscriber.paused, choices)


def update_preferences(
    session: Session, subscriber: Subscriber, region_codes: Iterable[str], *, paused: bool, now: datetime
) -> None:
    """Set exactly these regions and the pause flag.

    No region at all means "stop everything", which is an unsubscribe. Choosing
    regions on one's own preference page (reached through a signed link that only
    the mailbox owner has) is an explicit opt-in, so it ends an unsubscribe. It
    does not stand in for a double opt-in: the manage link is in the confirmation
    mail too (List-Unsubscribe), so a pending subscriber, and one who bounced or
    complained, gets ReactivationRefused and nothing changes.
    """
    regions = _checked_regions(session, region_codes)
    if not regions:
        unsubscribe(session, subscriber, UnsubscribePath.PREFERENCE_PAGE, now=now)
        return
    if subscriber.status in NEEDS_OPT_IN:
        raise ReactivationRefused(subscriber.status)
    chosen = {region.code for region in regions}
    existing = {
        row.region_code: row
        for row in session.exec(select(Subscription).where(col(Subscription.subscriber_id) == subscriber.id))
    }
    for code, row in existing.items():
        row.active = code in chosen
    assert subscriber.id is not None  # only a stored subscriber is re-activated
    session.add_all(
        Subscription(subscriber_id=subscriber.id, region_code=code, active=True, created_at=now)
        for code in chosen - existing.keys()
    )
    if subscriber.status is not SubscriberStatus.ACTIVE:
        old = subscriber.status
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.confirmed_at = subscriber.confirmed_at or now
        subscriber.unsubscribed_at = None
        record_change(session, subscriber, old, cause=StatusCause.FORM, detail="preference page", now=now)
    subscriber.paused = paused
    subscriber.updated_at = now


# Our own unsubscribes are stored as events of this provider, beside SendGrid's, for the report.
OUR_PROVIDER = "newsletter"
_HANDED_OVER = (DeliveryState.QUEUED, DeliveryState.SENT)


class UnsubscribePath(StrEnum):
    """How a reader left through our own links: the history's detail and the event's ``raw_type``."""

    ONE_CLICK = "one_click"  # the List-Unsubscribe-Post request a mailbox provider makes
    PREFERENCE_PAGE = "preference_page"  # a reader on our pages: the unsubscribe button, or no region left


def unsubscribe(session: Session, subscriber: Subscriber, path: UnsubscribePath, *, now: datetime) -> bool:
    """The subscriber leaves every list at once, through ``path``. Idempotent; True if anything changed.

    The one unsubscribe of our pages (one-click, the unsubscribe page, a preference page
    saved with no region): the status history records it (cause form, the path), and an
    ``unsubscribe`` event of :data:`OUR_PROVIDER` joined to the reader's latest delivery
    lets the report count it per edition (SendGrid reports only the ones it handles; the
    links carry the subscriber's token, not the edition, and the latest mail they got is
    the one they most likely acted on).
    """
    if not suppress(
        session, subscriber, SubscriberStatus.UNSUBSCRIBED, now=now, cause=StatusCause.FORM, detail=path.value
    ):
        return False
    latest = session.exec(
        select(Delivery.id)
        .where(Delivery.subscriber_id == subscriber.id, col(Delivery.state).in_(_HANDED_OVER))
        .order_by(col(Delivery.id).desc())
        .limit(1)
    ).first()
    session.add(
        Event(
            provider=OUR_PROVIDER,
            event_type=EventType.UNSUBSCRIBE,
            raw_type=path.value,
            delivery_id=latest,
            subscriber_id=subscriber.id,
            email=subscriber.email,
            occurred_at=now,
            received_at=now,
            payload={"path": path.value},
        )
    )
    return True


def suppress(
    session: Session,
    subscriber: Subscriber,
    status: SubscriberStatus,
    *,
    now: datetime,
    cause: StatusCause,
    detail: str = "",
) -> bool:
    """Stop all sending to this subscriber for ``status``'s reason. True if anything changed.

    Only the status changes. The region choices stay as they were: the send loop
    reads the status (and records a SUPPRESSED ledger row for each region list
    the subscriber is still on), and a subscriber who comes back from the
    preference page finds their old regions ready to tick again.
    """
    if not status.is_suppressed:
        raise ValueError(f"{status.value!r} is not a suppression status")
    if not outranks(status, subscriber.status):
        return False
    old = subscriber.status
    subscriber.status = status
    subscriber.unsubscribed_at = subscriber.unsubscribed_at or now
    subscriber.updated_at = now
    record_change(session, subscriber, old, cause=cause, detail=detail, now=now)
    return True


def revoke_links(session: Session, subscriber: Subscriber, *, now: datetime) -> None:
    """Invalidate every link sent to this subscriber so far (e.g. a forwarded mail); the operator's act."""
    subscriber.token_version += 1
    subscriber.updated_at = now
    record_change(session, subscriber, subscriber.status, cause=StatusCause.OPERATOR, detail="links revoked", now=now)


def revoke_links_for_address(session: Session, raw_email: str, *, now: datetime) -> Subscriber | None:
    """The operator's path: revoke by address. None when no subscriber has it.

    Raises InvalidAddress for text that is not an address at all.
    """
    subscriber = session.exec(select(Subscriber).where(Subscriber.email == normalise_email(raw_email))).first()
    if subscriber is not None:
        revoke_links(session, subscriber, now=now)
    return subscriber
