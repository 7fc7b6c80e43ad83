"""Shared harness: real databases (SQLite file and PostgreSQL), settings, seeded content.

PostgreSQL tests use the server at NEWSLETTER_TEST_POSTGRES_URL (default: the local
trust-auth server, database ``test``), each test in a schema of its own so runs never
collide. Where the server is missing they skip with the reason; with
NEWSLETTER_TEST_REQUIRE_SERVICES=1 (set by .ci/run) every skip is a failure instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from newsletter.config import Settings, load_settings
from newsletter.content.loading import load_content_dir
from newsletter.db.engine import make_engine, migrate, session_scope

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEEDS = PROJECT_ROOT / "newsletter" / "content" / "samples"
TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnop"
POSTGRES_URL = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("NEWSLETTER_TEST_REQUIRE_SERVICES") == "1"

# Fixtures shared by many modules live in these plugins; test modules import only their
# plain helpers, never a fixture by name.
pytest_plugins = [
    "tests.peers.sendgrid",
    "tests.peers.smtp",
    "tests.delivery_harness",
    "tests.web_helpers",
    "tests.queue_harness",
]


def unavailable(reason: str) -> None:
    """Skip for a missing service or tool; fail instead when CI demands every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required by NEWSLETTER_TEST_REQUIRE_SERVICES=1 but unavailable: {reason}")
    pytest.skip(reason)


def clock_faked_already() -> str | None:
    """Why this process already runs under libfaketime (``faketime`` sets both), or None."""
    if os.environ.get("FAKETIME"):
        return f"FAKETIME={os.environ['FAKETIME']!r} is set"
    if "libfaketime" in os.environ.get("LD_PRELOAD", ""):
        return "libfaketime is in LD_PRELOAD"
    return None


# Tests that skipped on purpose because the whole run is under a faked clock (not a missing service).
_faked_clock_skips: set[str] = set()


def skip_under_faked_clock(request: pytest.FixtureRequest) -> None:
    """Skip a test that starts faketime itself when the clock is already faked.

    libfaketime does not nest: the inner offset applies to the outer fake, not to the
    real clock, and the outer run (``faketime -f +400d pytest``) already proves what
    such a test proves. Allowed even under NEWSLETTER_TEST_REQUIRE_SERVICES=1.
    """
    reason = clock_faked_already()
    if reason is not None:
        _faked_clock_skips.add(request.node.nodeid)
        pytest.skip(f"starts faketime itself, and the clock is already faked ({reason}): they do not nest")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    deliberate = item.nodeid in _faked_clock_skips
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail") and not deliberate:
        report.outcome = "failed"
        report.longrepr = f"skipped, but NEWSLETTER_TEST_REQUIRE_SERVICES=1 forbids skips: {report.longrepr}"


_postgres_checked: dict[str, str | None] = {}


def _postgres_problem() -> str | None:
    if POSTGRES_URL not in _postgres_checked:
        try:
            engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as connection:
                connection.execute(sa.text("select 1"))
            engine.dispose()
            _postgres_checked[POSTGRES_URL] = None
        except Exception as exc:  # any failure to reach the server means "not here"
            _postgres_checked[POSTGRES_URL] = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.__class__.__name__}"
    return _postgres_checked[POSTGRES_URL]


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A PostgreSQL schema of its own with no tables (never migrated), dropped afterwards."""
    problem = _postgres_problem()
    if problem:
        unavailable(problem)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_url(empty_postgres_url: str) -> str:
    """A migrated PostgreSQL database in a fresh schema, dropped afterwards."""
    engine = make_engine(empty_postgres_url)
    migrate(engine)
    engine.dispose()
    return empty_postgres_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite file database."""
    url = f"sqlite:///{tmp_path / 'newsletter.db.engine'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on a SQLite file and on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(fixture)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: sa.Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "secret_key": TEST_SECRET,
        "database_url": database_url,
        "outbox_dir": tmp_path / "outbox",
        "base_url": "https://news.example.com",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return make_settings(sqlite_url, tmp_path)


def cli_env(database_url: str, extra_path: list[str] | None = None, **env_overrides: str) -> dict[str, str]:
    """The environment a CLI process gets in tests: the project first on the path, the test secret and database."""
    # An inherited PYTHONPATH is kept after the project (a faked-clock run puts tests/fake_clock there).
    python_path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH"), *(extra_path or [])]))
    return {
        **os.environ,
        "PYTHONPATH": python_path,
        "NEWSLETTER_SECRET_KEY": TEST_SECRET,
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_BASE_URL": "https://news.example.com",
        **env_overrides,
    }


def run_cli(
    args: list[str],
    database_url: str,
    cwd: Path,
    *,
    input: str | None = None,
    at: datetime | None = None,
    **env_overrides: str,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m newsletter ARGS`` in a real process against a test database.

    ``input`` is what is typed at its prompts. ``at`` starts the process's clock at that
    moment (libfaketime; it runs on from there), for commands given a fixed ``--date``
    that must agree with the clock the command reads, whatever today is."""
    command = [sys.executable, "-m", "newsletter", *args]
    clock_env: dict[str, str] = {}
    fake_clock: list[str] = []
    if at is not None:
        faketime = shutil.which("faketime")
        if faketime is None:
            unavailable("faketime not installed (Debian package faketime)")
        start = at.astimezone(UTC).strftime("@%Y-%m-%d %H:%M:%S")
        command = [str(faketime), "-f", start, *command]
        # The timestamp is read in TZ; see tests/fake_clock for why sleep needs the shim.
        clock_env = {"TZ": "UTC", "DONT_FAKE_MONOTONIC": "1"}
        fake_clock = [str(PROJECT_ROOT / "tests" / "fake_clock")]
    env = cli_env(database_url, fake_clock, **{**clock_env, **env_overrides})
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=input,
    )


def seed_engine(engine: sa.Engine, root: Path = SEEDS) -> None:
    with session_scope(engine) as session:
        load_content_dir(session, root)


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped samples that a test may change."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target
