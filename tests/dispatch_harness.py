"""Shared set-up for send tests: the sample regions and stories, and subscribers made to order."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from newsletter.config import Settings
from newsletter.db.engine import session_scope
from newsletter.db.models import Delivery, DeliveryState, Subscriber, SubscriberStatus, Subscription
from newsletter.db.tables import table_of
from newsletter.editions.lifecycle import approve_edition, region_today
from tests.conftest import SEEDS, make_settings, seed_engine
from tests.peers.sendgrid import API_KEY, StandIn

REGION = "dc"
# A real-clock reading, not a fixed date: the ledger stamps claims with the real clock, and
# release-by-age compares with them. Edition dates here are derived from it (edition_date).
NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Reader:
    email: str
    status: SubscriberStatus = SubscriberStatus.ACTIVE
    paused: bool = False
    regions: tuple[str, ...] = (REGION,)
    subscription_active: bool = True


def seed_content(engine: sa.Engine, tmp_path: Path) -> None:
    """Regions, stories and ads from the shipped samples, without their subscribers."""
    root = tmp_path / "content"
    shutil.copytree(SEEDS, root)
    (root / "subscribers.yaml").unlink()
    seed_engine(engine, root)


def add_readers(engine: sa.Engine, readers: list[Reader]) -> None:
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for reader in readers:
            subscriber_id = connection.execute(
                sa.insert(table_of(Subscriber))
                .values(
                    email=reader.email,
                    status=reader.status,
                    paused=reader.paused,
                    token_version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(table_of(Subscriber).c.id)
            ).scalar_one()
            for region in reader.regions:
                connection.execute(
                    sa.insert(table_of(Subscription)).values(
                        subscriber_id=subscriber_id,
                        region_code=region,
                        active=reader.subscription_active,
                        created_at=now,
                    )
                )


def active_readers(count: int, prefix: str = "reader") -> list[Reader]:
    return [Reader(f"{prefix}{n:03d}@example.org") for n in range(count)]


def edition_date(engine: sa.Engine) -> date:
    """Today in the test region: the date its edition is for."""
    with session_scope(engine) as session:
        return region_today(session, REGION, now=NOW)


def approve(engine: sa.Engine, settings: Settings, local_date: date) -> None:
    with session_scope(engine) as session:
        approve_edition(session, settings, REGION, local_date, now=NOW)


def sendgrid_settings(db_url: str, tmp_path: Path, standin: StandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "backend": "sendgrid",
        "sendgrid_api_key": API_KEY,
        "sendgrid_api_host": standin.host,
        "sendgrid_timeout": 5.0,
        "batch_size": 5,
        "concurrency": 2,
    }
    values.update(overrides)
    return make_settings(db_url, tmp_path, **values)


def ledger_states(engine: sa.Engine) -> dict[str, DeliveryState]:
    """email -> state for every ledger row."""
    d, s = table_of(Delivery).c, table_of(Subscriber).c
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(s.email, d.state).join_from(table_of(Delivery), table_of(Subscriber), d.subscriber_id == s.id)
        )
        return {email: DeliveryState(state) for email, state in rows}
