"""The README's main job, `newsletter daily`, in a real process on the embedded defaults."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import run_cli


def test_daily_seeds_an_empty_database_sends_six_editions_and_is_idempotent(seeds_copy: Path, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'var' / 'newsletter.db'}"  # the default location, made explicit
    first = run_cli(["daily"], database, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "empty database: loading seeds/" in first.stdout
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
