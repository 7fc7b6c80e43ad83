"""Every command's --help carries an example, including commands registered later by any module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from newsletter.cli.main import app
from tests.conftest import run_cli


def command_paths(group: TyperGroup, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command and sub-group under ``group`` (a group's own help counts too)."""
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, TyperGroup):
            yield from command_paths(command, (*prefix, name))


ROOT = typer.main.get_command(app)
assert isinstance(ROOT, TyperGroup)
PATHS = sorted(command_paths(ROOT))


def test_the_walk_finds_the_known_commands() -> None:
    # Guards the walk itself: if it found nothing, the test below would pass vacuously.
    assert {("send",), ("status",), ("editions",), ("editions", "list"), ("editions", "show")} <= set(PATHS)


@pytest.mark.parametrize("path", [(), *PATHS], ids=lambda path: " ".join(path) or "newsletter")
def test_help_has_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Example: newsletter" in result.output


def test_help_in_a_real_process(sqlite_url: str, tmp_path: Path) -> None:
    result = run_cli(["editions", "list", "--help"], sqlite_url, tmp_path, COLUMNS="200")
    assert result.returncode == 0, result.stderr
    assert "Example: newsletter editions list" in result.stdout
