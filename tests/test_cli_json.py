"""`--json` on the reading commands, in real processes: one document on stdout, or one line on stderr."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from newsletter.db.engine import make_engine
from tests.conftest import run_cli, seed_engine


def seeded(db_url: str) -> None:
    engine = make_engine(db_url)
    seed_engine(engine)
    engine.dispose()


def read_json(args: list[str], db_url: str, cwd: Path) -> object:
    result = run_cli([*args, "--json"], db_url, cwd)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)  # the whole of stdout is one document


def test_summary_json_has_one_entry_per_region(db_url: str, tmp_path: Path) -> None:
    seeded(db_url)
    document = read_json(["summary"], db_url, tmp_path)
    assert isinstance(document, dict)
    regions = document["regions"]
    assert [r["region"] for r in regions] == ["dc", "bxl", "lagos", "riyadh", "beijing", "sg"]
    dc = regions[0]
    assert set(dc) == {"region", "name", "timezone", "send_time", "published_stories", "ads", "active_subscribers"}
    assert dc["timezone"] == "America/New_York" and dc["published_stories"] == 3
    assert isinstance(dc["active_subscribers"], int) and dc["active_subscribers"] > 0


def test_schedule_json_gives_iso_instants_that_agree(db_url: str, tmp_path: Path) -> None:
    seeded(db_url)
    before = datetime.now(UTC)
    document = read_json(["schedule"], db_url, tmp_path)
    assert isinstance(document, dict)
    for entry in document["regions"]:
        assert set(entry) == {"region", "timezone", "send_time", "next_send_local", "next_send_utc"}
        local = datetime.fromisoformat(entry["next_send_local"])
        utc = datetime.fromisoformat(entry["next_send_utc"])
        assert utc.utcoffset() is not None and utc.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert local == utc and f"{local:%H:%M}" == entry["send_time"]
        assert utc > before


def test_a_json_command_that_fails_prints_nothing_on_stdout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never-initialised.db'}"
    result = run_cli(["summary", "--json"], url, tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "newsletter init" in lines[0]


def test_status_json_for_an_edition_that_does_not_exist_is_one_error_line(db_url: str, tmp_path: Path) -> None:
    seeded(db_url)
    result = run_cli(["status", "dc", "--date", "2026-11-29", "--json"], db_url, tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == "error: no edition for dc on 2026-11-29"


def test_api_keys_list_json_never_holds_the_key(db_url: str, tmp_path: Path) -> None:
    made = run_cli(["api-keys", "create", "cms-desk", "--scope", "content:read"], db_url, tmp_path)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    result = run_cli(["api-keys", "list", "--json"], db_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout
    (key,) = json.loads(result.stdout)["keys"]
    assert key["name"] == "cms-desk" and key["scopes"] == ["content:read"] and key["revoked_at"] is None
    assert datetime.fromisoformat(key["created_at"]).utcoffset() is not None
