"""The spreadsheet formula guard: export quotes what a spreadsheet would run, import takes it off."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from newsletter.db.engine import make_engine
from newsletter.subscribers.csv_guard import guard, unguard
from tests.conftest import run_cli, seed_engine


@pytest.mark.parametrize(
    ("value", "guarded"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),  # already quoted by hand: one more, so the import gives it back as it was
        ("Ada", "Ada"),
        ("'Ada", "'Ada"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_guard_quotes_formulas_and_unguard_undoes_exactly_that(value: str, guarded: str) -> None:
    assert guard(value) == guarded
    assert unguard(guarded) == value


def test_export_guards_names_and_addresses_and_reimport_changes_nothing(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    seed_engine(engine)
    engine.dispose()
    names = {
        "f1@example.com": '=HYPERLINK("http://x","y")',
        "f2@example.com": "+31 reader",
        "f3@example.com": "-minus",
        "f4@example.com": "@handle",
        "=eq@example.com": "Plain",
        "+plus@example.com": "'=quoted",  # guarded by the system it came from: stored as =quoted
    }
    stored = {email: unguard(name) for email, name in names.items()}
    source = tmp_path / "formulas.csv"
    with source.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "name", "regions"])
        writer.writerows([email, name, "dc"] for email, name in names.items())
    env = {"NEWSLETTER_OUTBOX_DIR": str(tmp_path / "outbox")}
    first = run_cli(["subscribers", "import", str(source), "--confirmed"], db_url, tmp_path, **env)
    assert first.returncode == 0, first.stdout + first.stderr

    exported = tmp_path / "export.csv"
    assert run_cli(["subscribers", "export", "-o", str(exported)], db_url, tmp_path, **env).returncode == 0
    with exported.open(encoding="utf-8", newline="") as handle:
        rows = {
            row["email"]: row["name"] for row in csv.DictReader(handle) if row["email"] in {guard(e) for e in names}
        }
    assert rows == {guard(email): guard(name) for email, name in stored.items()}
    assert all(not cell or cell[0] not in "=+-@\t\r" for pair in rows.items() for cell in pair)

    again = run_cli(["subscribers", "import", str(exported), "--confirmed"], db_url, tmp_path, **env)
    assert again.returncode == 0, again.stdout + again.stderr
    summary = [line for line in again.stdout.splitlines() if " created, " in line][-1]
    assert summary.startswith("0 created, 0 updated, ") and summary.endswith(" 0 skipped, 0 bad")
    for email, name in stored.items():
        shown = run_cli(["subscribers", "show", email, "--json"], db_url, tmp_path, **env)
        assert json.loads(shown.stdout)["name"] == name
