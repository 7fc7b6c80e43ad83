"""A database that cannot be used is one line on stderr saying what to run, never a traceback.

Real processes (the ``newsletter`` command and scheduler.py) against real setups: a
SQLite file and a PostgreSQL schema never migrated, a PostgreSQL database that does
not exist, a port where nothing listens, a ``postgres://`` URL. The URL's password
must never show.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.db.engine import make_engine
from newsletter.db.errors import url_problem
from tests.conftest import POSTGRES_URL, PROJECT_ROOT, TEST_SECRET, _postgres_problem, run_cli, unavailable

PASSWORD = "pw-never-shown-7f3a"


def free_port() -> int:
    """A local port with nothing listening: bound by us, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed run (and nothing else: not on stderr, nothing on stdout)."""
    lines = result.stderr.splitlines()
    assert result.returncode != 0, result
    assert result.stdout == "", f"stdout before the error:\n{result.stdout[-3000:]}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{result.stderr[-3000:]}"
    assert PASSWORD not in result.stderr + result.stdout
    assert lines[0].startswith("error: ")
    return lines[0]


def run_scheduler(database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "NEWSLETTER_SECRET_KEY": TEST_SECRET,
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_BASE_URL": "https://news.example.com",
    }
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scheduler.py")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def with_password(url: str) -> str:
    return sa.make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


@pytest.fixture
def postgres_server() -> None:
    problem = _postgres_problem()
    if problem:
        unavailable(problem)


NOT_INITIALISED = "error: database not initialised (no table 'region'): run `newsletter init`"


@pytest.mark.parametrize("command", [["summary"], ["status", "dc"], ["schedule"], ["schedule", "--json"]])
@pytest.mark.parametrize("file", ["missing", "empty"])
def test_an_uninitialised_sqlite_database_names_the_table_and_the_fix(
    tmp_path: Path, command: list[str], file: str
) -> None:
    path = tmp_path / "never-initialised.db"
    if file == "empty":
        path.touch()  # a file there already, without a table
    assert one_error_line(run_cli(command, f"sqlite:///{path}", tmp_path)) == NOT_INITIALISED


def test_an_uninitialised_postgres_database_names_the_table_and_the_fix(
    empty_postgres_url: str, tmp_path: Path
) -> None:
    assert one_error_line(run_cli(["summary"], empty_postgres_url, tmp_path)) == NOT_INITIALISED


def test_a_schema_missing_a_column_names_it_and_the_fix(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    with engine.begin() as connection:  # as if a migration that added it had never run
        connection.execute(sa.text("ALTER TABLE region DROP COLUMN sender_name"))
    engine.dispose()
    line = one_error_line(run_cli(["summary"], db_url, tmp_path))
    assert line == "error: database schema is out of date (no column 'region.sender_name'): run `newsletter init`"


@pytest.mark.parametrize("command", [["summary"], ["seed"], ["init"]])
def test_a_postgres_database_that_does_not_exist(postgres_server: None, tmp_path: Path, command: list[str]) -> None:
    name = f"nl_missing_{uuid.uuid4().hex[:8]}"
    url = with_password(sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
    line = one_error_line(run_cli(command, url, tmp_path))
    assert f"database '{name}' does not exist" in line
    assert f"createdb {name}" in line and "newsletter init" in line


@pytest.mark.parametrize("command", [["summary"], ["seed"], ["init"], ["status", "dc"]])
def test_a_refused_port_says_the_server_is_not_running(tmp_path: Path, command: list[str]) -> None:
    port = free_port()
    url = f"postgresql+psycopg://newsletter:{PASSWORD}@127.0.0.1:{port}/newsletter"
    line = one_error_line(run_cli(command, url, tmp_path))
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port} (connection refused)" in line
    assert "is the server running?" in line


@pytest.mark.parametrize("scheme", ["postgres", "postgres+psycopg"])
def test_a_postgres_scheme_url_says_what_to_write(tmp_path: Path, scheme: str) -> None:
    url = f"{scheme}://newsletter:{PASSWORD}@127.0.0.1:5432/newsletter"
    line = one_error_line(run_cli(["summary"], url, tmp_path))
    assert f"NEWSLETTER_DATABASE_URL uses {scheme}://" in line and "postgresql+psycopg://" in line


def test_the_scheduler_reports_a_refused_port_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql+psycopg://newsletter:{PASSWORD}@127.0.0.1:{port}/newsletter"
    line = one_error_line(run_scheduler(url, tmp_path))
    assert f"127.0.0.1:{port} (connection refused)" in line


def test_the_scheduler_reports_a_missing_database_in_one_line(postgres_server: None, tmp_path: Path) -> None:
    name = f"nl_missing_{uuid.uuid4().hex[:8]}"
    url = with_password(sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))
    line = one_error_line(run_scheduler(url, tmp_path))
    assert f"database '{name}' does not exist" in line


def test_the_scheduler_reports_a_postgres_scheme_url_in_one_line(tmp_path: Path) -> None:
    line = one_error_line(run_scheduler(f"postgres://u:{PASSWORD}@127.0.0.1/db", tmp_path))
    assert "postgresql+psycopg://" in line


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u:secret@host/db", "only SQLite and PostgreSQL"),
        ("not a url", "is not a database URL"),
        ("sqlite://relative.db", "a SQLite URL has no host"),
    ],
)
def test_unusable_urls_are_named_without_their_password(url: str, fragment: str) -> None:
    problem = url_problem(url)
    assert problem is not None and fragment in problem and "secret" not in problem


@pytest.mark.parametrize(
    "url", ["sqlite:///var/x.db", "sqlite://", "postgresql+psycopg://u@h/db", "postgresql://u@h/db"]
)
def test_usable_urls_pass(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize("layout", ["empty", "unrelated file", "empty stories folder", "empty lists"])
def test_seeding_a_folder_without_content_is_an_error(sqlite_url: str, tmp_path: Path, layout: str) -> None:
    folder = tmp_path / "content"
    folder.mkdir()
    if layout == "unrelated file":
        (folder / "notes.txt").write_text("not content\n", encoding="utf-8")
    if layout == "empty stories folder":
        (folder / "stories").mkdir()
    if layout == "empty lists":
        (folder / "regions.yaml").write_text("[]\n", encoding="utf-8")
        (folder / "ads.yaml").write_text("", encoding="utf-8")
    line = one_error_line(run_cli(["seed", str(folder)], sqlite_url, tmp_path))
    assert "no content to load" in line and "regions.yaml" in line


def test_a_misnamed_content_file_is_named_with_the_right_name(
    sqlite_url: str, seeds_copy: Path, tmp_path: Path
) -> None:
    (seeds_copy / "regions.yaml").rename(seeds_copy / "region.yaml")
    result = run_cli(["seed", str(seeds_copy)], sqlite_url, tmp_path)
    assert result.returncode == 1
    assert "region.yaml" in result.stderr and "unknown content file (did you mean 'regions.yaml'?)" in result.stderr
