"""The subscriber service layer, without HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter import subscriptions
from newsletter.addresses import InvalidAddress
from newsletter.config import Settings
from newsletter.db import session_scope
from newsletter.errors import TokenError
from newsletter.models import Subscriber, SubscriberStatus, Subscription
from newsletter.subscriptions import MailKind
from tests.web_helpers import START, add_regions, web_settings, webhook_key  # noqa: F401 - fixtures

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


def test_pending_resubmission_replaces_the_requested_regions(engine_with_regions: sa.Engine, web_settings: Settings) -> None:
    with session_scope(engine_with_regions) as session:
        subscriptions.subscribe(session, "twice@example.com", ["dc"], secret=web_settings.secret, now=START)
    with session_scope(engine_with_regions) as session:
        second = subscriptions.subscribe(session, "twice@example.com", ["lagos"], secret=web_settings.secret, now=LATER)
        assert second.kind is MailKind.CONFIRM
        assert _regions(session, _subscriber(session, "twice@example.com")) == {"lagos": False}


def test_bad_input_is_refused_before_anything_is_written(engine_with_regions: sa.Engine, web_settings: Settings) -> None:
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
        assert subscriptions.suppress(session, subscriber, SubscriberStatus.UNSUBSCRIBED, now=LATER)
        assert subscriptions.suppress(session, subscriber, SubscriberStatus.COMPLAINED, now=LATER)
        assert not subscriptions.suppress(session, subscriber, SubscriberStatus.BOUNCED, now=LATER)
        assert subscriber.status is SubscriberStatus.COMPLAINED and subscriber.unsubscribed_at == LATER
        assert _regions(session, subscriber) == {"dc": True}  # kept for a later return
        with pytest.raises(ValueError, match="not a suppression status"):
            subscriptions.suppress(session, subscriber, SubscriberStatus.ACTIVE, now=LATER)


def test_revoking_links_invalidates_the_old_manage_token(engine_with_regions: sa.Engine, web_settings: Settings) -> None:
    secret = web_settings.secret
    with session_scope(engine_with_regions) as session:
        outcome = subscriptions.subscribe(session, "r@example.com", ["dc"], secret=secret, now=START)
        subscriber = _subscriber(session, "r@example.com")
        assert subscriptions.subscriber_for_manage_token(session, outcome.manage_token, secret=secret, now=START) is subscriber
        subscriptions.revoke_links(session, subscriber, now=LATER)
        with pytest.raises(TokenError, match="replaced by a newer one"):
            subscriptions.subscriber_for_manage_token(session, outcome.manage_token, secret=secret, now=LATER)
        assert outcome.confirm_token
        with pytest.raises(TokenError):
            subscriptions.confirm(session, outcome.confirm_token, secret=secret, now=LATER)
