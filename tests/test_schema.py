import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import Session, SQLModel, select

from newsletter.db.engine import _alembic_config, make_engine, migrate, schema_is_current
from newsletter.db.models import Ad, AdRegion, Delivery, Edition, EditionItem, Region, Subscriber, SubscriberStatus
from tests.conftest import seed_engine


def test_migrations_match_the_models(engine: sa.Engine) -> None:
    assert schema_is_current(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []


def test_migrate_twice_is_harmless(engine: sa.Engine) -> None:
    migrate(engine)
    assert schema_is_current(engine)


def test_sqlite_has_foreign_keys_and_wal(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_connection_to_a_new_file_waits_for_another_one_switching_it_to_wal(tmp_path: Path) -> None:
    """Two processes opening a new database at once: while one holds the write lock to switch
    it to WAL, SQLite fails the other's switch at once ("database is locked"), busy timeout or
    not. The other waits for the lock instead, and the file ends in WAL."""
    path = tmp_path / "new.db"
    switching = sqlite3.connect(path, isolation_level=None)
    switching.execute("BEGIN IMMEDIATE")  # the write lock a switch to WAL holds
    engine = make_engine(f"sqlite:///{path}")
    waiting = threading.Event()  # the opener waits for the lock, or has given up

    def trace(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.set_trace_callback(lambda sql: waiting.set() if sql == "BEGIN IMMEDIATE" else None)

    sa.event.listen(engine, "connect", trace, insert=True)
    outcome: list[object] = []

    def open_it() -> None:
        try:
            with engine.connect() as connection:
                outcome.append(connection.exec_driver_sql("PRAGMA journal_mode").scalar())
        except sa.exc.OperationalError as error:
            outcome.append(error)
        finally:
            waiting.set()

    opener = threading.Thread(target=open_it)
    opener.start()
    waiting.wait()
    switching.execute("COMMIT")
    opener.join()
    switching.close()
    engine.dispose()
    assert outcome == ["wal"]


def test_timestamps_come_back_aware_utc(session: Session) -> None:
    brussels_morning = datetime(2026, 11, 29, 7, 0, tzinfo=timezone(timedelta(hours=1)))
    session.add(Subscriber(email="tz@example.com", status=SubscriberStatus.ACTIVE, created_at=brussels_morning))
    session.commit()
    session.expunge_all()
    stored = session.exec(select(Subscriber).where(Subscriber.email == "tz@example.com")).one()
    assert stored.created_at == brussels_morning
    assert stored.created_at.tzinfo is not None and stored.created_at.utcoffset() == timedelta(0)
    assert stored.created_at.hour == 6


def test_naive_timestamps_are_refused(session: Session) -> None:
    session.add(Subscriber(email="naive@example.com", created_at=datetime(2026, 11, 29, 7, 0)))
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        session.commit()


def test_ledger_refuses_a_second_delivery_for_the_same_subscriber(session: Session) -> None:
    session.add(
        Region(
            code="dc",
            name="D.C.",
            short_label="D.C.",
            timezone="America/New_York",
            send_time="06:30",
            edition_name="Wire",
        )
    )
    subscriber = Subscriber(email="once@example.com", status=SubscriberStatus.ACTIVE)
    session.add(subscriber)
    session.flush()
    edition = Edition(region_code="dc", local_date=datetime.now(UTC).date())
    session.add(edition)
    session.flush()
    session.add(Delivery(edition_id=edition.id, subscriber_id=subscriber.id))
    session.flush()
    session.add(Delivery(edition_id=edition.id, subscriber_id=subscriber.id))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


def test_status_values_are_checked_by_the_database(session: Session) -> None:
    session.add(Subscriber(email="check@example.com"))
    session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        session.execute(sa.text("UPDATE subscriber SET status = 'vip'"))
        session.commit()


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(Edition(region_code="nowhere", local_date=datetime.now(UTC).date()))
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()


def test_sqlite_file_folder_is_created(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'down' / 'n.db'}"
    engine = make_engine(url)
    migrate(engine)
    assert (tmp_path / "deep" / "down" / "n.db").exists()
    engine.dispose()


def test_ledger_rows_and_their_events_survive_migration_0008_both_ways(session: Session) -> None:
    """0008 drops the ledger's foreign keys: SQLite copies the table, with events pointing at its rows."""
    from alembic import command

    from newsletter.db.engine import _alembic_config
    from newsletter.db.models import Event, EventType

    session.add(
        Region(
            code="dc",
            name="D.C.",
            short_label="D.C.",
            timezone="America/New_York",
            send_time="06:30",
            edition_name="Wire",
        )
    )
    session.flush()
    subscriber = Subscriber(email="kept@example.com", status=SubscriberStatus.ACTIVE)
    edition = Edition(region_code="dc", local_date=datetime.now(UTC).date())
    session.add_all([subscriber, edition])
    session.flush()
    delivery = Delivery(edition_id=edition.id, subscriber_id=subscriber.id)
    session.add(delivery)
    session.flush()
    session.add(Event(event_type=EventType.DELIVERED, delivery_id=delivery.id, occurred_at=datetime.now(UTC)))
    session.commit()
    engine = session.get_bind()
    assert isinstance(engine, sa.Engine)
    config = _alembic_config()

    def delivery_foreign_keys() -> list[str]:
        return sorted(fk["referred_table"] for fk in sa.inspect(engine).get_foreign_keys("delivery"))

    for revision, expected in (("0007", ["edition", "subscriber"]), ("head", [])):
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            if revision == "head":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
        assert delivery_foreign_keys() == expected
        with Session(engine) as check:
            assert check.exec(select(Delivery.subscriber_id)).all() == [subscriber.id]
            assert check.exec(select(Event.delivery_id)).all() == [delivery.id]
    with engine.connect() as connection:  # the copy kept the ledger's unique key and indexes
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []


@pytest.mark.parametrize("table", ["story", "ad"])
def test_story_and_ad_statuses_are_checked_by_the_database(engine: sa.Engine, table: str) -> None:
    seed_engine(engine)
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {table} SET status = 'retracted'"))  # a known one passes
    with pytest.raises(sa.exc.IntegrityError, match="storystatus_values"), engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {table} SET status = 'live'"))


def test_ads_keep_their_regions_and_editions_through_migration_0010_both_ways(engine: sa.Engine) -> None:
    """0010 adds the ad status CHECK: SQLite copies the ad table, whose drop would take the
    ads' regions with it (ON DELETE CASCADE) and is refused while an edition lists an ad."""
    seed_engine(engine)
    with Session(engine) as session:
        ad_ids = session.exec(select(Ad.id).order_by(Ad.id)).all()
        edition = Edition(region_code="dc", local_date=datetime.now(UTC).date())
        session.add(edition)
        session.flush()
        session.add(EditionItem(edition_id=edition.id, position=0, ad_id=ad_ids[0]))
        session.commit()
        regions = sorted(session.exec(select(AdRegion.ad_id, AdRegion.region_code)).all())
    assert ad_ids and regions
    config = _alembic_config()

    def ad_checks() -> list[str | None]:
        return [check["name"] for check in sa.inspect(engine).get_check_constraints("ad")]

    for revision, expected in (("0009", []), ("head", ["storystatus_values"])):
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            if revision == "head":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
        assert ad_checks() == expected
        with Session(engine) as check:
            assert check.exec(select(Ad.id).order_by(Ad.id)).all() == ad_ids
            assert sorted(check.exec(select(AdRegion.ad_id, AdRegion.region_code)).all()) == regions
            assert check.exec(select(EditionItem.ad_id)).all() == [ad_ids[0]]
    with engine.connect() as connection:  # the copy kept the ad table's unique slug and defaults
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
