"""Engine, sessions and schema migrations, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import Session

from newsletter.db import errors as db_errors
from newsletter.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """Create an engine. SQLite gets its parent folder, foreign keys, WAL and a busy timeout.

    A URL that cannot work (``postgres://``, another database, not a URL) is a
    ConfigurationError saying what to write instead, before any driver is loaded.
    """
    problem = db_errors.url_problem(url)
    if problem:
        raise ConfigurationError(problem)
    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, **kwargs)
    if sa_url.database and sa_url.database != ":memory:":
        Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
    # The driver's timeout is SQLite's busy timeout, in force from the first statement on.
    engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
        _use_wal(dbapi_connection)

    return engine


def _use_wal(connection: sqlite3.Connection) -> None:
    """Put the database file in WAL mode, which it keeps: once it is, this only reads.

    Switching reads the file's header, then takes the write lock to change it. SQLite
    does not wait out the busy timeout for a lock taken from inside a read (it could
    deadlock), so of two connections switching a new file at once, one fails at once
    with "database is locked". That one waits for the other's write lock to go, as
    any write does (``BEGIN IMMEDIATE``), and then finds the file in WAL already.
    """
    if connection.execute("PRAGMA journal_mode").fetchone() == ("wal",):
        return
    try:
        connection.execute("PRAGMA journal_mode=WAL").fetchall()
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
        connection.execute("BEGIN IMMEDIATE")  # waits up to the busy timeout for the switch under way
        connection.execute("ROLLBACK")
        connection.execute("PRAGMA journal_mode=WAL").fetchall()


@contextmanager
def session_scope(engine: sa.Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


# pg_advisory_xact_lock key for migrations: the ASCII of "newslett", fixed so that every
# process of every version of the program takes the same lock.
MIGRATION_LOCK_KEY = 0x6E6577736C657474


def migrate(engine: sa.Engine) -> None:
    """Apply every pending migration (idempotent, and safe when several processes start at once).

    Two processes migrating a new database together would both create the tables and
    one would crash. So the migration transaction first takes a lock that only one
    holder can have (PostgreSQL: an advisory lock released at commit; SQLite: the
    database's write lock, ``BEGIN IMMEDIATE``, waited for up to the busy timeout);
    the second waits, then reads the first one's revision and has nothing to do.
    """
    config = _alembic_config()
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # The driver opens no transaction before DDL itself; this one holds the write lock.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()


def schema_is_current(engine: sa.Engine) -> bool:
    """True when the database is at the newest migration."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head
