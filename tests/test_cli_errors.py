"""Every error of the CLI is one line on stderr with a non-zero exit: usage errors (2) and bugs included.

Real processes (``run_cli``): the one-line form is made by the console entry point,
which Typer's test runner bypasses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from typer.core import TyperGroup

from newsletter.cli.main import app
from newsletter.db.engine import session_scope
from newsletter.db.models import Edition, EditionStatus
from tests.conftest import run_cli, seed_engine


def _paths(group: TyperGroup, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, TyperGroup):
            yield from _paths(command, (*prefix, name))


ROOT = typer.main.get_command(app)
assert isinstance(ROOT, TyperGroup)
PATHS = sorted(_paths(ROOT))
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "╭" not in lines[0] and "Traceback" not in lines[0]
    assert "Value error" not in lines[0]  # pydantic's wording, under Typer's checks of values
    return lines[0]


def test_the_walk_finds_every_audience() -> None:
    assert {("send",), ("status",), ("editions", "list"), ("subscribers", "import"), ("report",)} <= set(PATHS)


@pytest.mark.parametrize("path", [(), *PATHS], ids=lambda path: " ".join(path) or "newsletter")
def test_an_unknown_option_is_one_line_and_exit_2(path: tuple[str, ...], sqlite_url: str, tmp_path: Path) -> None:
    result = run_cli([*path, "--frobnicate"], sqlite_url, tmp_path)
    assert result.returncode == 2, result.stderr
    command = " ".join(("newsletter", *path))
    line = one_line(result.stderr)
    # Click may add a suggestion between the two ("Possible options: --strict").
    assert line.startswith(f"{command}: no such option: --frobnicate"), line
    assert line.endswith(f" (see {command} --help)"), line
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["send"], "newsletter send: missing argument 'region' (see newsletter send --help)"),
        (["nosuch"], "newsletter: no such command 'nosuch' (see newsletter --help)"),
        (["editions", "list", "--since", "soon"], "newsletter editions list: invalid value: 'soon' is neither"),
        (
            ["preview", "dc", "--date", "29/11/2026"],
            "newsletter preview: invalid value for '--date': '29/11/2026' does not match the formats '%Y-%m-%d'",
        ),
        (["worker", "--concurrency", "0"], "newsletter worker: invalid value for '--concurrency'"),
        (["send", "dc", "--json"], "newsletter send: invalid value for --json: --json goes with --dry-run"),
        (["report"], "newsletter report: invalid value for REGION: name a REGION"),
    ],
)
def test_missing_arguments_and_bad_values_are_one_line(
    args: list[str], reason: str, sqlite_url: str, tmp_path: Path
) -> None:
    result = run_cli(args, sqlite_url, tmp_path)
    assert result.returncode == 2, result.stderr
    assert re.match(re.escape(reason), one_line(result.stderr)), result.stderr


def test_a_group_without_a_command_still_shows_its_help(sqlite_url: str, tmp_path: Path) -> None:
    result = run_cli(["editions"], sqlite_url, tmp_path, COLUMNS="200")
    assert result.returncode == 2
    assert "Example: newsletter editions list" in result.stdout + result.stderr


def test_answering_no_is_one_line_and_sends_nothing(sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path) -> None:
    seed_engine(sqlite_engine)
    outbox = tmp_path / "outbox"
    result = run_cli(
        ["send", "dc", "--date", "2026-11-29"],
        sqlite_url,
        tmp_path,
        input="n\n",
        at=NOW,
        NEWSLETTER_OUTBOX_DIR=str(outbox),
    )
    assert result.returncode == 1
    assert one_line(result.stderr) == "newsletter: aborted, nothing was done"
    assert not outbox.exists()


def test_errors_of_ours_and_of_the_database_are_one_line(
    sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path
) -> None:
    unknown = run_cli(["preview", "paris"], sqlite_url, tmp_path)
    assert unknown.returncode == 1
    assert one_line(unknown.stderr).startswith("error: unknown region 'paris'")
    never_initialised = run_cli(["status", "dc", "--date", "2026-11-29"], f"sqlite:///{tmp_path / 'none.db'}", tmp_path)
    assert never_initialised.returncode == 1
    assert one_line(never_initialised.stderr).startswith("error: database not initialised")


def test_an_unexpected_error_is_one_line_naming_it_and_the_traceback_is_on_request(
    sqlite_engine: sa.Engine, sqlite_url: str, tmp_path: Path
) -> None:
    seed_engine(sqlite_engine)
    with session_scope(sqlite_engine) as session:  # a stored snapshot this version cannot read
        session.add(
            Edition(
                region_code="dc",
                local_date=date(2026, 11, 29),
                status=EditionStatus.APPROVED,
                snapshot={"version": -1},
                html="<p>x</p>",
                text="x",
            )
        )
    expected = "error: unexpected ValueError: unsupported edition snapshot version -1"
    for args in (["preview", "dc"], ["send", "dc", "--dry-run", "--json"]):
        result = run_cli([*args, "--date", "2026-11-29"], sqlite_url, tmp_path)
        assert result.returncode == 1, result.stderr
        assert one_line(result.stderr) == f"{expected} (NEWSLETTER_TRACEBACK=1 shows the traceback)"
        assert result.stdout == ""  # with --json too: no document, only the line
    shown = run_cli(["preview", "dc", "--date", "2026-11-29"], sqlite_url, tmp_path, NEWSLETTER_TRACEBACK="1")
    assert shown.returncode == 1
    assert "Traceback" in shown.stderr and "unsupported edition snapshot version -1" in shown.stderr
