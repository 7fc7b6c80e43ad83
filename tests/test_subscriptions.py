"""The subscriber service layer, without HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.addresses import InvalidAddress
from newsletter.config import Settings
from newsletter.db.engine import session_scope
from newsletter.db.models import StatusCause, Subscriber, SubscriberStatus, Subscription
from newsletter.errors import TokenError
from newsletter.subscribers import lifecycle as subscriptions
from newsletter.subscribers.lifecycle import MailKind
from tests.web_helpers import START, add_regions

LATER = START + timedelta(hours=1)


@pytest.fixture
def engine_with_regions(engine: sa.Engine) -> sa.Engine:
    add_regions(engine)
    return engine


def _subscriber(session: Session, address: str) -> Subscriber:
    return session.exec(select(Subscriber).where(Subscriber.email == address)).one()


def _regions(session: Session, subscriber: Subscriber) -> dict[str, bool]:
    rows = session.exec(select(Subscription).where(Subscription.subscriber_id == subscriber.id))
    return {row.region_code: row.active for row in rows}


def test_subscribe_then_confirm(engine_with_regions: sa.Engine, web_settings: Settings) -> None:
    secret = web_settings.secret
    with session_scope(engine_with_regions) as session:
        outcome = subscriptions.subscribe(session, "New@Example.com", ["dc", "bxl", "dc"], secret=secret, now=START)
    assert outcome.kind is MailKind.CONFIRM and outcome.email == "new@example.com"
    assert outcome.region_names == ("Washington D.C.", "Brussels")
    with session_scope(engine_with_regions) as session:
        subscriber = _subscriber(session, "new@example.com")
        assert subscriber.status is SubscriberStatus.PENDING
        assert _regions(session, subscriber) == {"dc": False, "bxl": False}
        assert outcome.confirm_token is not None
        subscriptions.confirm(session, outcome.confirm_token, secret=secret, now=LATER)
    with session_scope(engine_with_regions) as session:
        subscriber = _subscriber(session, "new@example.com")
        assert subscriber.status is SubscriberStatus.ACTIVE and subscriber.confirmed_at == LATER
        assert _regions(session, subscriber) == {"dc": True, "bxl": True}


def test_a_second_request_changes_nothing_until_its_own_link_is_confirmed(
    engine_with_regions: sa.Engine, web_settings: Settings
) -> None:
    secret = web_settings.secret
    with session_scope(engine_with_regions) as session:
        first = subscriptions.subscribe(session, "twice@example.com", ["dc"], secret=secret, now=START)
    with session_scope(engine_with_regions) as session:
        # Anyone can type this address into the form: the stored request stays as it was.
        second = subscriptions.subscribe(session, "twice@example.com", ["bxl", "lagos"], secret=secret, now=LATER)
        assert second.kind is MailKind.CONFIRM and second.confirm_token is not None
        assert _regions(session, _subscriber(session, "twice@example.com")) == {"dc": False}
    with session_scope(engine_with_regions) as session:
        assert first.confirm_token is not None
        subscriptions.confirm(session, first.confirm_token, secret=secret, now=LATER)
        assert _regions(session, _subscriber(session, "twice@example.com")) == {"dc": True}


def test_each_confirmation_link_confirms_the_regions_it_was_sent_for(
    engine_with_regions: sa.Engine, web_settings: Settings
) -> None:
    secret = web_settings.secret
    with session_scope(engine_with_regions) as session:
        subscriptions.subscribe(session, "later@example.com", ["dc"], secret=secret, now=START)
        second = subscriptions.subscribe(session, "later@example.com", ["lagos"], secret=secret, now=START)
    with session_scope(engine_with_regions) as session:
        assert second.confirm_token is not None
        subscriptions.confirm(session, second.confirm_token, secret=secret, now=LATER)
        assert _regions(session, _subscriber(session, "later@example.com")) == {"dc": False, "lagos": True}


def test_regions_in_a_confirmation_link_cannot_be_edited(
    engine_with_regions: sa.Engine, web_settings: Settings
) -> None:
    secret = web_settings.secret
    with session_scope(engine_with_regions) as session:
        outcome = subscriptions.subscribe(session, "bound@example.com", ["dc"], secret=secret, now=START)
    assert outcome.confirm_token is not None
    payload, signature, regions, mac = outcome.confirm_token.split(".")
    assert regions == "dc"
    with session_scope(engine_with_regions) as session:
        for forged in (
            f"{payload}.{signature}.lagos.{mac}",
            f"{payload}.{signature}.dc-lagos.{mac}",
            f"{payload}.{signature}.dc",
            f"{payload}.{signature}.DC.{mac}",
            # Truncated, as a mail client that wraps or cuts a long link delivers it.
            outcome.confirm_token[:-1],
            f"{payload}.{signature}.{regions}.{mac[: len(mac) // 2]}",
            f"{payload}.{signature}.{regions}.",
            f"{payload}.{signature}",
            f"{payload}.{signature[:-3]}",
        ):
            with pytest.raises(TokenError):
                subscriptions.confirm(session, forged, secret=secret, now=LATER)
        assert _subscriber(session, "bound@example.com").status is SubscriberStatus.PENDING


def test_only_confirm_activates_a_pending_subscriber(engine_with_regions: sa.Engine, web_settings: Settings) -> None:
    with session_scope(engine_with_regions) as session:
        subscriptions.subscribe(session, "p@example.com", ["dc"], secret=web_settings.secret, now=START)
    with session_scope(engine_with_regions) as session:
        subscriber = _subscriber(session, "p@example.com")
        with pytest.raises(subscriptions.ReactivationRefused):
            subscriptions.update_preferences(session, subscriber, ["dc"], paused=False, now=LATER)
        assert subscriber.status is SubscriberStatus.PENDING


@pytest.mark.parametrize("status", [SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED])
def test_bounced_or_complained_need_a_fresh_opt_in(
    engine_with_regions: sa.Engine, web_settings: Settings, status: SubscriberStatus
) -> None:
    secret = web_settings.secret
    with session_scope(engine_with_regions) as session:
        outcome = subscriptions.subscribe(session, "b@example.com", ["dc"], secret=secret, now=START)
        assert outcome.confirm_token is not None
        subscriber = subscriptions.confirm(session, outcome.confirm_token, secret=secret, now=START)
        subscriptions.suppress(session, subscriber, status, now=LATER, cause=StatusCause.OPERATOR)
        with pytest.raises(subscriptions.ReactivationRefused):
            subscriptions.update_preferences(session, subscriber, ["dc"], paused=False, now=LATER)
        assert subscriber.status is status
        # A stranger's form request mails them nothing and changes nothing.
        assert subscriptions.subscribe(session, "b@example.com", ["bxl"], secret=secret, now=LATER) is None
        assert _regions(session, subscriber) == {"dc": True}
        # The owner's own page can ask for a new double opt-in, which brings them back.
        again = subscriptions.request_confirmation(session, subscriber, secret=secret, now=LATER)
        assert again.kind is MailKind.CONFIRM and again.confirm_token is not None
        subscriptions.confirm(session, again.confirm_token, secret=secret, now=LATER + timedelta(seconds=1))
        assert subscriber.status is SubscriberStatus.ACTIVE
        assert _regions(session, subscriber) == {"dc": True}
        with pytest.raises(subscriptions.SubscriptionRequestError, match="nothing to confirm"):
            subscriptions.request_confirmation(session, subscriber, secret=secret, now=LATER)


def test_revoking_links_by_address(engine_with_regions: sa.Engine, web_settings: Settings) -> None:
    secret = web_settings.secret
    with session_scope(engine_with_regions) as session:
        outcome = subscriptions.subscribe(session, "rv@example.com", ["dc"], secret=secret, now=START)
        revoked = subscriptions.revoke_links_for_address(session, " RV@example.com ", now=LATER)
        assert revoked is not None and revoked.token_version == 2
        with pytest.raises(TokenError, match="replaced by a newer one"):
            subscriptions.subscriber_for_manage_token(session, outcome.manage_token, secret=secret, now=LATER)
        assert subscriptions.revoke_links_for_address(session, "nobody@example.com", now=LATER) is None


def test_bad_input_is_refused_before_anything_is_written(
    engine_with_regions: sa.Engine, web_settings: Settings
) -> None:
    with session_scope(engine_with_regions) as session:
        with pytest.raises(InvalidAddress):
            subscriptions.subscribe(session, "no-at-sign", ["dc"], secret=web_settings.secret, now=START)
        with pytest.raises(subscriptions.SubscriptionRequestError, match="at least one"):
            subscriptions.subscribe(session, "a@example.com", [], secret=web_settings.secret, now=START)
        with pytest.raises(subscriptions.SubscriptionRequestError, match="unknown region: mars"):
            subscriptions.subscribe(session, "a@example.com", ["dc", "mars"], secret=web_settings.secret, now=START)
        assert session.exec(select(Subscriber)).first() is None


def test_suppression_keeps_the_strongest_reason(engine_with_regions: sa.Engine, web_settings: Settings) -> None:
    with session_scope(engine_with_regions) as session:
        outcome = subscriptions.subscribe(session, "s@example.com", ["dc"], secret=web_settings.secret, now=START)
        assert outcome.confirm_token
        subscriber = subscriptions.confirm(session, outcome.confirm_token, secret=web_settings.secret, now=START)
        assert subscriptions.suppress(
            session, subscriber, SubscriberStatus.UNSUBSCRIBED, now=LATER, cause=StatusCause.OPERATOR
        )
        assert subscriptions.suppress(
            session, subscriber, SubscriberStatus.COMPLAINED, now=LATER, cause=StatusCause.OPERATOR
        )
        assert not subscriptions.suppress(
            session, subscriber, SubscriberStatus.BOUNCED, now=LATER, cause=StatusCause.OPERATOR
        )
        assert subscriber.status is SubscriberStatus.COMPLAINED and subscriber.unsubscribed_at == LATER
        assert _regions(session, subscriber) == {"dc": True}  # kept for a later return
        with pytest.raises(ValueError, match="not a suppression status"):
            subscriptions.suppress(session, subscriber, SubscriberStatus.ACTIVE, now=LATER, cause=StatusCause.OPERATOR)


def test_revoking_links_invalidates_the_old_manage_token(
    engine_with_regions: sa.Engine, web_settings: Settings
) -> None:
    secret = web_settings.secret
    with session_scope(engine_with_regions) as session:
        outcome = subscriptions.subscribe(session, "r@example.com", ["dc"], secret=secret, now=START)
        subscriber = _subscriber(session, "r@example.com")
        assert (
            subscriptions.subscriber_for_manage_token(session, outcome.manage_token, secret=secret, now=START)
            is subscriber
        )
        subscriptions.revoke_links(session, subscriber, now=LATER)
        with pytest.raises(TokenError, match="replaced by a newer one"):
            subscriptions.subscriber_for_manage_token(session, outcome.manage_token, secret=secret, now=LATER)
        assert outcome.confirm_token
        with pytest.raises(TokenError):
            subscriptions.confirm(session, outcome.confirm_token, secret=secret, now=LATER)
