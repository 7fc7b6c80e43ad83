"""Database tables (SQLModel) and the closed vocabularies stored in them.

Content (regions, stories, signals, sources, ads) flows into editions; editions are
frozen snapshots; deliveries form the ledger that makes every send resumable and
never double; events are what the provider told us afterwards.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from newsletter.db.types import UTCDateTime, enum_type, json_type, utcnow


class StoryStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETRACTED = "retracted"


class EditionStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MISSED = "missed"

    # The groupings every module asks about, defined once (the sets are below the class).
    @property
    def is_frozen(self) -> bool:
        """Signed off or under way: what was approved or went out never changes again."""
        return self in FROZEN_EDITION_STATUSES

    @property
    def is_under_way(self) -> bool:
        """Going or gone out (a FAILED send was under way when the provider refused us)."""
        return self in UNDER_WAY_EDITION_STATUSES

    @property
    def is_closed(self) -> bool:
        """A decision was taken already (missed or cancelled): left alone, never sent on its own."""
        return self in CLOSED_EDITION_STATUSES

    @property
    def is_public(self) -> bool:
        """Shown in the public archive: it went out (or is going out)."""
        return self in PUBLIC_EDITION_STATUSES

    @property
    def is_done(self) -> bool:
        """Nothing is left to do for it: sent, or closed."""
        return self is EditionStatus.SENT or self.is_closed


# The members of each grouping, for SQL ``IN (...)`` and for sets; the properties above read them.
UNDER_WAY_EDITION_STATUSES = frozenset({EditionStatus.SENDING, EditionStatus.SENT, EditionStatus.FAILED})
FROZEN_EDITION_STATUSES = UNDER_WAY_EDITION_STATUSES | {EditionStatus.APPROVED}
CLOSED_EDITION_STATUSES = frozenset({EditionStatus.MISSED, EditionStatus.CANCELLED})
# A sending edition is public too: recipients of the first batches click "view in
# browser" while later batches are still going out.
PUBLIC_EDITION_STATUSES = frozenset({EditionStatus.SENDING, EditionStatus.SENT})


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"

    @property
    def is_suppressed(self) -> bool:
        """Left the list or stopped by a bounce or complaint: never sent to, recorded as suppressed."""
        return self in SUPPRESSED_SUBSCRIBER_STATUSES


# For SQL ``IN (...)`` and sets; the property above reads it.
SUPPRESSED_SUBSCRIBER_STATUSES = frozenset(
    {SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED}
)


class StatusCause(StrEnum):
    """Who or what changed a subscriber's status (the ``status_change`` history)."""

    FORM = "form"  # the subscribe form, its confirmation link, the subscriber's own pages
    IMPORT = "import"  # `newsletter subscribers import`
    WEBHOOK = "webhook"  # a provider event (bounce, spam report, unsubscribe)
    OPERATOR = "operator"  # `newsletter subscribers add/remove`, revoke-links


class DeliveryState(StrEnum):
    CLAIMED = "claimed"  # reserved for this send; no answer recorded yet
    QUEUED = "queued"  # the provider accepted it (a SendGrid 202); delivery comes by event
    SENT = "sent"  # handed over where acceptance means sent (SMTP, outbox)
    FAILED = "failed"  # refused for this recipient; error text in last_error
    SUPPRESSED = "suppressed"  # not sent on purpose (unsubscribed, bounced, complained)
    UNKNOWN = "unknown"  # the request may have reached the provider; an operator decides


# No answer recorded (CLAIMED) or none known (UNKNOWN): never resent on their own. A provider
# event for such a row proves the provider accepted it, and resolves it to QUEUED.
UNRESOLVED_DELIVERY_STATES = (DeliveryState.CLAIMED, DeliveryState.UNKNOWN)


class EventType(StrEnum):
    PROCESSED = "processed"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCE = "bounce"
    DROPPED = "dropped"
    SPAM_REPORT = "spamreport"
    UNSUBSCRIBE = "unsubscribe"
    GROUP_UNSUBSCRIBE = "group_unsubscribe"
    GROUP_RESUBSCRIBE = "group_resubscribe"
    OPEN = "open"
    CLICK = "click"
    UNKNOWN = "unknown"


def _timestamp(*, nullable: bool = False, **kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime(), nullable=nullable, **kwargs)


class Region(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=80)
    short_label: str = Field(max_length=16)
    timezone: str = Field(max_length=64)
    send_time: str = Field(max_length=5)  # local HH:MM
    edition_name: str = Field(max_length=120)
    language: str = Field(default="en", max_length=16)
    position: int = 0  # order in the header's region row
    sender_name: str | None = Field(default=None, max_length=120)  # From display name; None: "<publication> <name>"


class StoryRegion(SQLModel, table=True):
    __tablename__ = "story_region"
    story_id: int = Field(foreign_key="story.id", primary_key=True, ondelete="CASCADE")
    region_code: str = Field(foreign_key="region.code", primary_key=True, max_length=16)


class Story(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_story_status_published", "status", "published_at"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, max_length=120)
    headline: str = Field(max_length=300)
    summary: str = ""
    body: str = ""  # "The News": safe Markdown subset
    byline: str = Field(default="", max_length=200)
    canonical_url: str = Field(max_length=500)
    image_url: str | None = Field(default=None, max_length=500)
    image_alt: str = ""
    image_credit: str = ""
    language: str = Field(default="en", max_length=16)
    status: StoryStatus = Field(default=StoryStatus.DRAFT, sa_type=enum_type(StoryStatus), nullable=False)
    priority: int = 0
    published_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    modified_at: datetime = _timestamp(default_factory=utcnow)


class Signal(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    story_id: int | None = Field(default=None, foreign_key="story.id", index=True, ondelete="CASCADE")
    position: int = 0
    headline: str = Field(max_length=300)
    body: str = ""


class Source(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    signal_id: int = Field(foreign_key="signal.id", index=True, ondelete="CASCADE")
    position: int = 0
    name: str = Field(max_length=200)
    url: str | None = Field(default=None, max_length=500)


class AdRegion(SQLModel, table=True):
    __tablename__ = "ad_region"
    ad_id: int = Field(foreign_key="ad.id", primary_key=True, ondelete="CASCADE")
    region_code: str = Field(foreign_key="region.code", primary_key=True, max_length=16)


class Ad(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, max_length=120)
    sponsor: str = Field(max_length=200)
    headline: str = Field(max_length=300)
    body: str = ""
    link: str = Field(max_length=500)
    image_url: str | None = Field(default=None, max_length=500)
    image_alt: str = ""
    starts_on: date
    ends_on: date | None = None
    slot: int = 1  # placed after this many stories
    cta: str | None = Field(default=None, max_length=60)  # the call to action; None: "Learn more"
    # Retracted or draft ads are never placed; the seed files' ads are published.
    status: StoryStatus = Field(default=StoryStatus.PUBLISHED, sa_type=enum_type(StoryStatus), nullable=False)
    modified_at: datetime = _timestamp(default_factory=utcnow)


class Edition(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("region_code", "local_date"),)

    id: int | None = Field(default=None, primary_key=True)
    region_code: str = Field(foreign_key="region.code", max_length=16)
    local_date: date
    status: EditionStatus = Field(default=EditionStatus.DRAFT, sa_type=enum_type(EditionStatus), nullable=False)
    subject: str = Field(default="", max_length=300)
    preheader: str = Field(default="", max_length=300)
    subject_override: str | None = Field(default=None, max_length=300)
    preheader_override: str | None = Field(default=None, max_length=300)
    snapshot: dict[str, Any] | None = Field(default=None, sa_type=json_type())
    html: str | None = Field(default=None, sa_type=sa.Text())
    text: str | None = Field(default=None, sa_type=sa.Text())
    created_at: datetime = _timestamp(default_factory=utcnow)
    approved_at: datetime | None = _timestamp(nullable=True, default=None)
    send_started_at: datetime | None = _timestamp(nullable=True, default=None)
    sent_at: datetime | None = _timestamp(nullable=True, default=None)
    note: str = ""  # why it failed, was held or missed


class EditionItem(SQLModel, table=True):
    __tablename__ = "edition_item"
    __table_args__ = (sa.UniqueConstraint("edition_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    edition_id: int = Field(foreign_key="edition.id", ondelete="CASCADE")
    position: int
    story_id: int | None = Field(default=None, foreign_key="story.id")
    ad_id: int | None = Field(default=None, foreign_key="ad.id")


class Subscriber(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=320)  # normalised: see content.normalise_email
    status: SubscriberStatus = Field(
        default=SubscriberStatus.PENDING, sa_type=enum_type(SubscriberStatus), nullable=False
    )
    paused: bool = False
    token_version: int = 1  # bump to revoke every link sent so far
    created_at: datetime = _timestamp(default_factory=utcnow)
    updated_at: datetime = _timestamp(default_factory=utcnow)
    confirmed_at: datetime | None = _timestamp(nullable=True, default=None)
    unsubscribed_at: datetime | None = _timestamp(nullable=True, default=None)
    name: str | None = Field(default=None, max_length=200)
    erased_at: datetime | None = _timestamp(nullable=True, default=None)  # personal data deleted on request


class Subscription(SQLModel, table=True):
    __table_args__ = (
        # The send loop's query: active subscribers of one region, in id order.
        sa.Index("ix_subscription_region_active_subscriber", "region_code", "active", "subscriber_id"),
    )

    subscriber_id: int = Field(foreign_key="subscriber.id", primary_key=True, ondelete="CASCADE")
    region_code: str = Field(foreign_key="region.code", primary_key=True, max_length=16)
    active: bool = True
    created_at: datetime = _timestamp(default_factory=utcnow)


class StatusChange(SQLModel, table=True):
    """One change of a subscriber's status and its cause (``subscribers.history``)."""

    __tablename__ = "status_change"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True, ondelete="CASCADE")
    old_status: SubscriberStatus | None = Field(
        default=None, sa_type=enum_type(SubscriberStatus, name="old_status_values"), nullable=True
    )
    new_status: SubscriberStatus = Field(sa_type=enum_type(SubscriberStatus), nullable=False)
    cause: StatusCause = Field(sa_type=enum_type(StatusCause), nullable=False)
    detail: str = Field(default="", max_length=300)  # e.g. the import's file and time: the consent source
    at: datetime = _timestamp()


class ErasedAddress(SQLModel, table=True):
    """An address erased on request, kept only as a hash so it is never mailed again."""

    __tablename__ = "erased_address"

    address_hash: str = Field(primary_key=True, max_length=64)
    erased_at: datetime = _timestamp()


class Delivery(SQLModel, table=True):
    # No index on state (migration 0009): it cost every claim an index insert, and it kept
    # record()'s update of a row from being HOT; the fill factor leaves each page room for it.
    __table_args__ = (
        sa.UniqueConstraint("edition_id", "subscriber_id"),
        {"postgresql_with": {"fillfactor": 40}},
    )

    id: int | None = Field(default=None, primary_key=True)
    # No foreign keys on purpose (migration 0008): on PostgreSQL their per-row checks were about
    # half the claim's cost, and nothing deletes an edition or a subscriber (erasure scrubs in place).
    edition_id: int
    subscriber_id: int = Field(index=True)
    state: DeliveryState = Field(default=DeliveryState.CLAIMED, sa_type=enum_type(DeliveryState), nullable=False)
    provider_message_id: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    last_error: str | None = None
    claimed_at: datetime = _timestamp(default_factory=utcnow)
    sent_at: datetime | None = _timestamp(nullable=True, default=None)
    updated_at: datetime = _timestamp(default_factory=utcnow)
    # Set when a provider event moved an unresolved row (claimed or unknown) to QUEUED.
    resolved_at: datetime | None = _timestamp(nullable=True, default=None)


class Event(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(default="sendgrid", max_length=32)
    provider_event_id: str | None = Field(default=None, unique=True, max_length=200)
    event_type: EventType = Field(sa_type=enum_type(EventType), nullable=False)
    raw_type: str = Field(default="", max_length=64)
    delivery_id: int | None = Field(default=None, foreign_key="delivery.id", index=True)
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id", index=True)
    email: str = Field(default="", max_length=320)
    reason: str = ""
    url: str | None = Field(default=None, sa_type=sa.Text())  # a click's link, as the provider reports it
    bounce_type: str | None = Field(default=None, max_length=32)  # SendGrid's "bounce" (hard) or "blocked" (soft)
    occurred_at: datetime = _timestamp()
    received_at: datetime = _timestamp(default_factory=utcnow)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())


class RateCounter(SQLModel, table=True):
    """Hits of one limit key in one fixed window (see ``subscribe_limits``)."""

    __tablename__ = "rate_counter"

    key: str = Field(primary_key=True, max_length=64)  # scope and a keyed hash, never an address in clear
    window_start: datetime = Field(sa_type=UTCDateTime(), primary_key=True)
    hits: int = 0
    # No longer needed for any estimate after this instant; pruned then.
    expires_at: datetime = Field(sa_type=UTCDateTime(), nullable=False, index=True)


class ApiKey(SQLModel, table=True):
    """A content API key: only the SHA-256 of the key is kept, never the key itself."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    key_hash: str = Field(unique=True, max_length=64)  # hex SHA-256 of the high-entropy key
    scopes: list[str] = Field(default_factory=list, sa_type=json_type())
    created_at: datetime = _timestamp(default_factory=utcnow)
    revoked_at: datetime | None = _timestamp(nullable=True, default=None)


class ContentAudit(SQLModel, table=True):
    """One write through the content API: who, when, what, and the fields it changed."""

    __tablename__ = "content_audit"
    __table_args__ = (sa.Index("ix_content_audit_kind_slug", "kind", "slug"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _timestamp(default_factory=utcnow)
    key_name: str = Field(max_length=64)
    action: str = Field(max_length=16)  # created, updated, retracted, approved
    kind: str = Field(max_length=16)  # story, ad, edition
    slug: str = Field(max_length=120)
    # {field: [before, after]} in the API's JSON form
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
