"""The README's main job, `newsletter daily`, in a real process on the embedded defaults."""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import select

from newsletter.db.engine import make_engine, session_scope
from newsletter.db.models import Edition, EditionStatus, Region
from tests.conftest import (
    PROJECT_ROOT,
    TEST_SECRET,
    run_cli,
    seed_engine,
)

REGIONS = ("dc", "bxl", "lagos", "riyadh", "beijing", "sg")


def test_daily_seeds_an_empty_database_sends_six_editions_and_is_idempotent(seeds_copy: Path, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'var' / 'newsletter.db'}"  # the default location, made explicit
    first = run_cli(["daily"], database, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "empty database: loaded the sample content" in first.stdout
    lines = re.findall(r"^(\w+)\s+\d{4}-\d\d-\d\d\s+sent\s+(\d+) new messages", first.stdout, re.M)
    assert {region for region, _ in lines} == {"dc", "bxl", "lagos", "riyadh", "beijing", "sg"}
    files = list((tmp_path / "var" / "outbox").rglob("*.eml"))
    assert sum(int(count) for _, count in lines) == len(files) > 0
    for region, count in lines:
        assert len(list((tmp_path / "var" / "outbox").glob(f"{region}-*/*.eml"))) == int(count)

    second = run_cli(["daily"], database, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "empty database" not in second.stdout
    assert re.findall(r" (\d+) new messages", second.stdout) == ["0"] * 6
    assert len(list((tmp_path / "var" / "outbox").rglob("*.eml"))) == len(files)


def start_daily(database_url: str, cwd: Path, **env_overrides: str) -> subprocess.Popen[str]:
    """`newsletter daily` in a real process, not waited for (two are started at once)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        "NEWSLETTER_SECRET_KEY": TEST_SECRET,
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_BASE_URL": "https://news.example.com",
        **env_overrides,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "daily"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def delivered(database_url: str) -> dict[str, list[str]]:
    """Per region, the subscriber addresses the ledger records as sent."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "select e.region_code, s.email from delivery d join edition e on e.id = d.edition_id "
                    "join subscriber s on s.id = d.subscriber_id where d.state = 'sent'"
                )
            ).all()
    finally:
        engine.dispose()
    by_region: dict[str, list[str]] = {}
    for region, address in rows:
        by_region.setdefault(region, []).append(address)
    return by_region


def outbox_recipients(outbox: Path) -> dict[str, list[str]]:
    """Per region, the To address of every .eml file written."""
    by_region: dict[str, list[str]] = {}
    for path in outbox.rglob("*.eml"):
        message = email.message_from_bytes(path.read_bytes())
        by_region.setdefault(path.parent.name.split("-")[0], []).append(str(message["To"]))
    return by_region


@pytest.mark.parametrize("seeded_first", [True, False], ids=["seeded", "empty"])
def test_two_daily_runs_started_together_both_succeed_and_send_each_reader_one_message(
    db_url: str, seeds_copy: Path, tmp_path: Path, seeded_first: bool
) -> None:
    """Both race for every edition row (and, on an empty database, for the seeding): neither crashes."""
    if seeded_first:
        engine = make_engine(db_url)
        seed_engine(engine, seeds_copy)
        engine.dispose()
    runs = [start_daily(db_url, tmp_path) for _ in range(2)]
    results = [(run.communicate(timeout=300), run.returncode) for run in runs]
    for (out, err), code in results:
        assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
        assert set(re.findall(r"^(\w+)\s+\d{4}-\d\d-\d\d\s+sent\s", out, re.M)) == set(REGIONS), out

    ledger = delivered(db_url)
    files = outbox_recipients(tmp_path / "var" / "outbox")
    assert set(ledger) == set(REGIONS)
    for region in REGIONS:
        assert len(set(ledger[region])) == len(ledger[region]) > 0
        assert sorted(files[region]) == sorted(ledger[region]), region  # one file per reader, no second copy
    reported = sum(int(n) for (out, _), _ in results for n in re.findall(r" (\d+) new messages", out))
    assert reported == sum(len(addresses) for addresses in files.values())


@pytest.fixture(params=["sqlite", "postgresql"])
def never_migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database nobody has migrated: a new SQLite path, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh' / 'newsletter.db'}"
    url: str = request.getfixturevalue("empty_postgres_url")
    return url


def test_two_daily_runs_on_a_never_migrated_database_both_migrate_it_and_succeed(
    never_migrated_url: str, tmp_path: Path
) -> None:
    """Both start with the migrations: one applies them, the other waits and finds nothing to do."""
    runs = [start_daily(never_migrated_url, tmp_path) for _ in range(2)]
    results = [(run.communicate(timeout=300), run.returncode) for run in runs]
    for (out, err), code in results:
        assert code == 0, f"stdout:\n{out}\nstderr:\n{err}"
    ledger = delivered(never_migrated_url)
    files = outbox_recipients(tmp_path / "var" / "outbox")
    assert set(ledger) == set(REGIONS)
    for region in REGIONS:
        assert len(set(ledger[region])) == len(ledger[region]) > 0
        assert sorted(files[region]) == sorted(ledger[region]), region


def corrupt_frozen_editions(database_url: str, region: str) -> None:
    """An approved edition of ``region`` whose stored snapshot cannot be read: an unexpected error.

    Written for the region's local date now and in ten minutes, so the run started
    right after finds one whatever the hour (even across local midnight).
    """
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            zone = ZoneInfo(session.exec(select(Region.timezone).where(Region.code == region)).one())
            now = datetime.now(UTC)
            for day in {(now + timedelta(minutes=m)).astimezone(zone).date() for m in (0, 10)}:
                session.add(
                    Edition(
                        region_code=region,
                        local_date=day,
                        status=EditionStatus.APPROVED,
                        snapshot={"version": -1},
                        html="<p>x</p>",
                        text="x",
                    )
                )
    finally:
        engine.dispose()


def test_daily_goes_on_past_a_region_that_fails_unexpectedly_and_exits_non_zero(
    db_url: str, seeds_copy: Path, tmp_path: Path
) -> None:
    engine = make_engine(db_url)
    seed_engine(engine, seeds_copy)
    engine.dispose()
    corrupt_frozen_editions(db_url, "dc")  # dc is the first region: every other one comes after it

    result = run_cli(["daily"], db_url, tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(
        r"^dc\s+\d{4}-\d\d-\d\d\s+error\s+ValueError: unsupported edition snapshot version", result.stdout, re.M
    ), result.stdout
    sent = set(re.findall(r"^(\w+)\s+\d{4}-\d\d-\d\d\s+sent\s", result.stdout, re.M))
    assert sent == set(REGIONS) - {"dc"}
    assert "1 of 6 regions failed: dc (error)" in result.stderr
    assert set(outbox_recipients(tmp_path / "var" / "outbox")) == set(REGIONS) - {"dc"}


def test_daily_holding_unapproved_editions_is_not_a_failure(db_url: str, seeds_copy: Path, tmp_path: Path) -> None:
    """With approval required and none given, every region is held: reported, exit 0 (nothing went wrong)."""
    result = run_cli(["daily"], db_url, tmp_path, NEWSLETTER_REQUIRE_APPROVAL="1")
    assert result.returncode == 0, result.stdout + result.stderr
    held = re.findall(r"^(\w+)\s+\d{4}-\d\d-\d\d\s+held\s", result.stdout, re.M)
    assert set(held) == set(REGIONS)
    assert not (tmp_path / "var" / "outbox").exists() or not list((tmp_path / "var" / "outbox").rglob("*.eml"))
