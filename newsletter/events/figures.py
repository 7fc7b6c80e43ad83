"""The counts of an edition's report: messages per outcome, from the ledger and the provider's events.

Every figure counts messages (ledger rows), not events: a reader who opens three times is
one unique open, a message bounced twice one bounce. Rates are over delivered messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from newsletter.db.models import Delivery, DeliveryState, Event, EventType
from newsletter.events.ingest import PROVIDER
from newsletter.subscribers.lifecycle import OUR_PROVIDER, UnsubscribePath

__all__ = ["MACHINE_OPEN_FIELD", "UNSUBSCRIBE_KINDS", "Figures", "edition_figures", "of_edition"]

# Where an unsubscribe came from: our two paths (subscribers.lifecycle.unsubscribe), and SendGrid's own.
UNSUBSCRIBE_KINDS = (UnsubscribePath.ONE_CLICK.value, UnsubscribePath.PREFERENCE_PAGE.value, "provider")
MACHINE_OPEN_FIELD = "sg_machine_open"  # SendGrid: true when Apple Mail Privacy Protection made the open
_HANDED_OVER = (DeliveryState.QUEUED, DeliveryState.SENT)
_PROVIDER_UNSUBSCRIBES = (EventType.UNSUBSCRIBE, EventType.GROUP_UNSUBSCRIBE)

_delivery = Delivery.__table__  # type: ignore[attr-defined]
_event = Event.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Figures:
    """The counts every report shows, for one edition or summed over several."""

    handed_over: int = 0
    delivered: int = 0
    deferred: int = 0
    bounced_hard: int = 0
    bounced_soft: int = 0
    dropped: int = 0
    spam_reports: int = 0
    unsubscribes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(UNSUBSCRIBE_KINDS, 0))
    unique_opens: int = 0
    machine_opens: int = 0  # of those, messages with an open SendGrid flags as Apple MPP (sg_machine_open)
    unique_clicks: int = 0

    @property
    def open_rate(self) -> float | None:
        return _rate(self.unique_opens, self.delivered)

    @property
    def click_rate(self) -> float | None:
        return _rate(self.unique_clicks, self.delivered)

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.handed_over + other.handed_over,
            self.delivered + other.delivered,
            self.deferred + other.deferred,
            self.bounced_hard + other.bounced_hard,
            self.bounced_soft + other.bounced_soft,
            self.dropped + other.dropped,
            self.spam_reports + other.spam_reports,
            {kind: self.unsubscribes[kind] + other.unsubscribes[kind] for kind in UNSUBSCRIBE_KINDS},
            self.unique_opens + other.unique_opens,
            self.machine_opens + other.machine_opens,
            self.unique_clicks + other.unique_clicks,
        )

    def document(self) -> dict[str, Any]:
        return {
            "handed_over": self.handed_over,
            "delivered": self.delivered,
            "deferred": self.deferred,
            "bounced": {"hard": self.bounced_hard, "soft": self.bounced_soft},
            "dropped": self.dropped,
            "spam_reports": self.spam_reports,
            "unsubscribes": dict(self.unsubscribes),
            "unique_opens": self.unique_opens,
            "open_rate": self.open_rate,
            "machine_opens": self.machine_opens,
            "unique_clicks": self.unique_clicks,
            "click_rate": self.click_rate,
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def of_edition(edition_id: int) -> sa.ColumnElement[bool]:
    """Events of the edition's ledger rows (a WHERE clause joining event and delivery)."""
    return sa.and_(_event.c.delivery_id == _delivery.c.id, _delivery.c.edition_id == edition_id)


def edition_figures(connection: sa.Connection, edition_id: int) -> Figures:
    """Count every figure of one edition in two queries."""
    d, e = _delivery.c, _event.c
    handed_over = connection.execute(
        sa.select(sa.func.count()).where(d.edition_id == edition_id, d.state.in_(_HANDED_OVER))
    ).scalar_one()
    # Messages per kind of event: a delivery bounced twice is one bounce.
    rows = connection.execute(
        sa.select(e.provider, e.event_type, e.raw_type, e.bounce_type, sa.func.count(sa.distinct(e.delivery_id)))
        .select_from(_event.join(_delivery, e.delivery_id == d.id))
        .where(d.edition_id == edition_id)
        .group_by(e.provider, e.event_type, e.raw_type, e.bounce_type)
    ).all()
    machine_opens = connection.execute(
        sa.select(sa.func.count(sa.distinct(e.delivery_id))).where(
            of_edition(edition_id),
            e.provider == PROVIDER,
            e.event_type == EventType.OPEN,
            e.payload[MACHINE_OPEN_FIELD].as_boolean().is_(True),
        )
    ).scalar_one()
    counts: Counter[str] = Counter()
    unsubscribes = dict.fromkeys(UNSUBSCRIBE_KINDS, 0)
    for provider, kind, raw_type, bounce_type, messages in rows:
        kind = EventType(kind)
        if provider == OUR_PROVIDER:
            if kind is EventType.UNSUBSCRIBE and raw_type in unsubscribes:
                unsubscribes[raw_type] += messages
            continue
        if provider != PROVIDER:
            continue
        if kind is EventType.BOUNCE:
            # SendGrid's "blocked" is the soft bounce (the server refused this message, not the address).
            counts["bounce-soft" if bounce_type == "blocked" else "bounce-hard"] += messages
        elif kind in _PROVIDER_UNSUBSCRIBES:
            unsubscribes["provider"] += messages
        else:
            counts[kind.value] += messages
    return Figures(
        handed_over=handed_over,
        delivered=counts[EventType.DELIVERED.value],
        deferred=counts[EventType.DEFERRED.value],
        bounced_hard=counts["bounce-hard"],
        bounced_soft=counts["bounce-soft"],
        dropped=counts[EventType.DROPPED.value],
        spam_reports=counts[EventType.SPAM_REPORT.value],
        unsubscribes=unsubscribes,
        unique_opens=counts[EventType.OPEN.value],
        machine_opens=machine_opens,
        unique_clicks=counts[EventType.CLICK.value],
    )
