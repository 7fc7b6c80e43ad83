"""`newsletter subscribers ...` through the real CLI, on SQLite and PostgreSQL.

Messy files, idempotent re-import, suppressions never re-activated, --strict and
--dry-run, the export round trip, remove and --erase, and the status history.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from newsletter.db.engine import make_engine, session_scope
from newsletter.subscribers import lifecycle
from tests.conftest import TEST_SECRET, run_cli, seed_engine


@pytest.fixture
def list_db(db_url: str) -> str:
    """A migrated database with the sample regions (and the sample subscribers)."""
    engine = make_engine(db_url)
    seed_engine(engine)
    engine.dispose()
    return db_url


def _cli(args: list[str], db: str, cwd: Path, **env: str) -> Any:
    return run_cli(["subscribers", *args], db, cwd, NEWSLETTER_OUTBOX_DIR=str(cwd / "outbox"), **env)


def _show(email: str, db: str, cwd: Path) -> dict[str, Any]:
    result = _cli(["show", email, "--json"], db, cwd)
    assert result.returncode == 0, result.stderr
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def _summary(stdout: str) -> str:
    return [line for line in stdout.splitlines() if " created, " in line][-1]


def _write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_a_messy_file_imports_its_good_rows_and_names_each_bad_line(list_db: str, tmp_path: Path) -> None:
    long_name = "x" * 1_100_000  # a 1 MB line
    messy = _write(
        tmp_path / "messy.csv",
        " Email ,NAME,Regions,status,extra\r\n"
        '"Ada.Lovelace@Example.COM","Lovelace, Ada","DC; lagos",,ignored\r\n'
        "\r\n"
        "not-an-address,Nobody,dc,,\r\n"
        "ada.lovelace@example.com,Again,dc,,\r\n"
        "bob@example.com,Bob,mars,,\r\n"
        f"long@example.com,{long_name},dc,,\r\n"
        '"multi@example.com","Line one\nline two",sg,,\r\n'
        "plain@example.com,,bxl;bxl,,\r\n"
        "odd@example.com,,dc,sleeping,\r\n"
        "noregion@example.com,,,,\r\n",
        bom=True,
    )
    result = _cli(["import", str(messy), "--confirmed"], list_db, tmp_path)
    assert result.returncode == 3  # PARTIAL_EXIT: imported, with bad rows
    assert result.stderr.strip() == "error: 7 bad rows (listed above); the 2 good rows were imported"
    out = result.stdout
    assert "messy.csv:4: bad: invalid address 'not-an-address'" in out
    assert "messy.csv:5: bad: duplicate of line 2" in out
    assert "messy.csv:6: bad: unknown region 'mars'" in out
    assert "messy.csv:7: bad: unreadable CSV: field larger than field limit" in out
    assert "messy.csv:8: bad: name holds control characters" in out  # a quoted line break
    assert "messy.csv:11: bad: unknown status 'sleeping'" in out
    assert "messy.csv:12: bad: no region" in out
    assert _summary(out) == "2 created, 0 updated, 0 unchanged, 0 skipped, 7 bad"

    ada = _show("ADA.LOVELACE@example.com", list_db, tmp_path)
    assert (ada["email"], ada["name"], ada["status"], ada["regions"]) == (
        "ada.lovelace@example.com",
        "Lovelace, Ada",
        "active",
        ["dc", "lagos"],
    )
    [change] = ada["history"]
    assert (change["old_status"], change["new_status"], change["cause"]) == (None, "active", "import")
    assert change["detail"].startswith("import of messy.csv at ") and "--confirmed" in change["detail"]
    assert _show("plain@example.com", list_db, tmp_path)["regions"] == ["bxl"]


def test_the_same_file_twice_and_the_export_round_trip_change_nothing(list_db: str, tmp_path: Path) -> None:
    members = _write(
        tmp_path / "members.csv",
        "email,name,regions,status\n"
        "one@example.com,One,dc,\n"
        "two@example.com,,bxl;sg,pending\n"
        "three@example.com,Three,lagos,unsubscribed\n",
    )
    first = _cli(["import", str(members), "--confirmed"], list_db, tmp_path)
    assert first.returncode == 0, first.stderr
    assert _summary(first.stdout) == "3 created, 0 updated, 0 unchanged, 0 skipped, 0 bad"
    second = _cli(["import", str(members), "--confirmed"], list_db, tmp_path)
    assert _summary(second.stdout) == "0 created, 0 updated, 3 unchanged, 0 skipped, 0 bad"
    assert _show("two@example.com", list_db, tmp_path)["status"] == "pending"  # never more than the row says

    exported = tmp_path / "export.csv"
    meta = _cli(["export", "-o", str(exported), "--json"], list_db, tmp_path)
    assert meta.returncode == 0, meta.stderr
    facts = json.loads(meta.stdout)
    with exported.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert facts["rows"] == len(rows) and facts["columns"] == ["email", "name", "status", "regions"]
    assert {"email": "two@example.com", "name": "", "status": "pending", "regions": "bxl;sg"} in rows
    again = _cli(["import", str(exported), "--confirmed"], list_db, tmp_path)
    assert again.returncode == 0, again.stderr
    assert _summary(again.stdout) == f"0 created, 0 updated, {len(rows)} unchanged, 0 skipped, 0 bad"

    only_dc = _cli(["export", "--region", "dc", "--status", "active"], list_db, tmp_path)
    dc_rows = list(csv.DictReader(only_dc.stdout.splitlines()))
    assert dc_rows and all(row["status"] == "active" and "dc" in row["regions"].split(";") for row in dc_rows)
    assert "one@example.com" in {row["email"] for row in dc_rows}


def test_an_import_never_reactivates_a_suppressed_address(list_db: str, tmp_path: Path) -> None:
    assert _cli(["add", "gone@example.com", "--region", "dc", "--confirmed"], list_db, tmp_path).returncode == 0
    removed = _cli(["remove", "gone@example.com"], list_db, tmp_path)
    assert removed.stdout.strip() == "gone@example.com: unsubscribed; kept as a suppression"
    carried = _write(tmp_path / "old.csv", "email,regions,status\nbounce@example.com,dc,bounced\n")
    assert _cli(["import", str(carried), "--confirmed"], list_db, tmp_path).returncode == 0
    comeback = _write(
        tmp_path / "comeback.csv",
        "email,regions\ngone@example.com,dc;sg\nbounce@example.com,dc\n",
    )
    result = _cli(["import", str(comeback), "--confirmed"], list_db, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "comeback.csv:2: skipped: unsubscribed: never re-activated by the list manager" in result.stdout
    assert "comeback.csv:3: skipped: bounced: never re-activated by the list manager" in result.stdout
    assert _summary(result.stdout) == "0 created, 0 updated, 0 unchanged, 2 skipped, 0 bad"
    assert _show("gone@example.com", list_db, tmp_path)["status"] == "unsubscribed"
    refused = _cli(["add", "bounce@example.com", "--region", "dc", "--confirmed"], list_db, tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: bounce@example.com: bounced: never re-activated by the list manager"
    # A stronger suppression carried over is taken; a weaker one is not.
    stronger = _write(tmp_path / "s.csv", "email,regions,status\ngone@example.com,,complained\n")
    assert _summary(_cli(["import", str(stronger), "--confirmed"], list_db, tmp_path).stdout).startswith(
        "0 created, 1 updated"
    )
    assert _show("gone@example.com", list_db, tmp_path)["status"] == "complained"


def test_strict_and_dry_run_write_nothing(list_db: str, tmp_path: Path) -> None:
    mixed = _write(tmp_path / "mixed.csv", "email,regions\ngood@example.com,dc\nbad@,dc\n")
    strict = _cli(["import", str(mixed), "--confirmed", "--strict"], list_db, tmp_path)
    assert strict.returncode == 1
    assert "(nothing written: --strict and some rows are bad)" in strict.stdout
    assert strict.stderr.strip() == "error: 1 bad rows (listed above); nothing was imported (1 good rows, --strict)"
    checked = _cli(["import", str(mixed), "--confirmed", "--dry-run"], list_db, tmp_path)
    assert checked.returncode == 3
    assert checked.stderr.strip() == "error: 1 bad rows (listed above); the 1 good rows would be imported"
    missing = _cli(["show", "good@example.com"], list_db, tmp_path)
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no subscriber has the address good@example.com"

    clean = _write(tmp_path / "clean.csv", "email,regions\ngood@example.com,dc\n")
    dry = _cli(["import", str(clean), "--confirmed", "--dry-run"], list_db, tmp_path)
    assert dry.returncode == 0, dry.stderr
    expected = "1 created, 0 updated, 0 unchanged, 0 skipped, 0 bad (nothing written: dry run)"
    assert dry.stdout.splitlines()[-1] == expected
    assert _cli(["show", "good@example.com"], list_db, tmp_path).returncode == 1


def test_unusable_files_and_options_get_one_line(list_db: str, tmp_path: Path) -> None:
    cases = {
        "noheader.csv": (
            b"name,regions\nx,dc\n",
            "error: noheader.csv: the header row needs the columns email and regions",
        ),
        "latin1.csv": (
            "email,regions,name\na@example.com,dc,Jos\xe9\n".encode("latin-1"),
            "error: latin1.csv: not UTF-8",
        ),
        "empty.csv": (b"", "error: empty.csv: no header row (the file is empty)"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        result = _cli(["import", str(tmp_path / name), "--confirmed"], list_db, tmp_path)
        assert result.returncode == 1 and result.stderr.startswith(message), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    neither = _cli(["import", str(tmp_path / "empty.csv")], list_db, tmp_path)
    assert neither.returncode == 1
    assert (
        neither.stderr.strip() == "error: choose one of --confirmed (they opted in) or --send-confirmations (ask them)"
    )
    absent = _cli(["import", str(tmp_path / "absent.csv"), "--confirmed"], list_db, tmp_path)
    assert absent.returncode == 1 and absent.stderr.startswith("error: cannot read ")
    assert _cli(["export", "--json"], list_db, tmp_path).returncode == 1
    for command in ("add", "show", "remove", "import", "export"):
        helped = _cli([command, "--help"], list_db, tmp_path)
        assert helped.returncode == 0 and "Example: newsletter subscribers " + command in helped.stdout


def test_send_confirmations_mails_each_new_address_once(list_db: str, tmp_path: Path) -> None:
    invite = _write(tmp_path / "invite.csv", "email,regions\nnew1@example.com,dc\nnew2@example.com,sg;dc\n")
    first = _cli(["import", str(invite), "--send-confirmations"], list_db, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "confirmation mails: 2 sent, 0 failed" in first.stdout
    mails = sorted((tmp_path / "outbox").rglob("*.eml"))
    assert len(mails) == 2
    assert _show("new2@example.com", list_db, tmp_path)["status"] == "pending"
    second = _cli(["import", str(invite), "--send-confirmations"], list_db, tmp_path)
    assert "confirmation mails: 0 sent, 0 failed" in second.stdout
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 2
    # The operator's statement of consent completes them: active, with the regions switched on.
    confirmed = _cli(["import", str(invite), "--confirmed"], list_db, tmp_path)
    assert _summary(confirmed.stdout) == "0 created, 2 updated, 0 unchanged, 0 skipped, 0 bad"
    shown = _show("new2@example.com", list_db, tmp_path)
    assert (shown["status"], shown["regions"]) == ("active", ["dc", "sg"])
    assert [(c["old_status"], c["new_status"], c["cause"]) for c in shown["history"]] == [
        (None, "pending", "import"),
        ("pending", "active", "import"),
    ]


def test_erasure_keeps_only_a_hash_that_every_way_in_honours(list_db: str, tmp_path: Path) -> None:
    from newsletter.events.ingest import record_events

    assert _cli(["add", "Erase.Me@example.com", "--region", "dc", "--confirmed"], list_db, tmp_path).returncode == 0
    engine = make_engine(list_db)
    bounce = {
        "event": "bounce",
        "email": "erase.me@example.com",
        "sg_event_id": "ev-e",
        "reason": "550 erase.me@example.com?",
    }
    with session_scope(engine) as session:
        assert record_events(session, [bounce], now=datetime.now(UTC)).suppressed == 1
    erased = _cli(["remove", "erase.me@example.com", "--erase"], list_db, tmp_path)
    assert erased.returncode == 0, erased.stderr
    assert "erased (its personal data was deleted)" in erased.stdout
    assert _show("erase.me@example.com", list_db, tmp_path)["erased"] is True
    traces = {
        "subscriber": "SELECT count(*) FROM subscriber WHERE email LIKE '%erase.me%'",
        "event": "SELECT count(*) FROM event WHERE email || reason || CAST(payload AS TEXT) LIKE '%erase.me%'",
        "history": "SELECT count(*) FROM status_change WHERE detail LIKE '%erase.me%'",
    }
    with engine.connect() as connection:
        left = {table: connection.execute(sa.text(query)).scalar() for table, query in traces.items()}
        kept = connection.execute(sa.text("SELECT reason FROM event WHERE provider_event_id = 'ev-e'")).scalar()
    assert left == {"subscriber": 0, "event": 0, "history": 0}
    assert kept == "550 [erased]?"
    refused = _cli(["add", "erase.me@example.com", "--region", "dc"], list_db, tmp_path)
    assert refused.returncode == 1 and "erased on request" in refused.stderr
    again = _write(tmp_path / "again.csv", "email,regions\nERASE.ME@example.com,dc\n")
    assert (
        "again.csv:2: skipped: erased on request"
        in _cli(["import", str(again), "--confirmed"], list_db, tmp_path).stdout
    )
    with session_scope(engine) as session:  # the web form's service
        assert (
            lifecycle.subscribe(
                session, "erase.me@example.com", ["dc"], secret=TEST_SECRET.encode(), now=datetime.now(UTC)
            )
            is None
        )
    engine.dispose()
    assert _show("erase.me@example.com", list_db, tmp_path) == _show("Erase.Me@example.com", list_db, tmp_path)


def test_show_lists_every_status_change_with_its_cause(list_db: str, tmp_path: Path) -> None:
    from newsletter.events.ingest import record_events

    secret = TEST_SECRET.encode()
    engine = make_engine(list_db)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        outcome = lifecycle.subscribe(session, "story@example.com", ["dc"], secret=secret, now=now)
        assert outcome is not None and outcome.confirm_token is not None
    with session_scope(engine) as session:
        lifecycle.confirm(session, outcome.confirm_token, secret=secret, now=now)
    with session_scope(engine) as session:
        event = {"event": "bounce", "email": "story@example.com", "sg_event_id": "ev-1", "reason": "550 no such user"}
        assert record_events(session, [event], now=now).suppressed == 1
    engine.dispose()
    assert _cli(["remove", "story@example.com"], list_db, tmp_path).stdout.startswith(
        "story@example.com: already bounced"
    )
    history = _show("story@example.com", list_db, tmp_path)["history"]
    assert [(c["old_status"], c["new_status"], c["cause"]) for c in history] == [
        (None, "pending", "form"),
        ("pending", "active", "form"),
        ("active", "bounced", "webhook"),
    ]
    assert history[2]["detail"] == "bounce: 550 no such user"
    shown = _cli(["show", "story@example.com"], list_db, tmp_path).stdout
    assert "active -> bounced      webhook  bounce: 550 no such user" in shown


def test_add_asks_for_confirmation_unless_told_they_opted_in(list_db: str, tmp_path: Path) -> None:
    asked = _cli(["add", "Fresh@Example.com", "--region", "dc", "--region", "lagos"], list_db, tmp_path)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.strip().startswith("fresh@example.com: pending, confirmation mail sent")
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 1
    shown = _show("fresh@example.com", list_db, tmp_path)
    assert (shown["status"], shown["regions"]) == ("pending", ["dc", "lagos"])
    assert [(c["old_status"], c["new_status"], c["cause"]) for c in shown["history"]] == [(None, "pending", "operator")]
    confirmed = _cli(["add", "fresh@example.com", "--region", "dc", "--confirmed"], list_db, tmp_path)
    assert confirmed.stdout.strip() == "fresh@example.com: updated, active in dc"
    assert _show("fresh@example.com", list_db, tmp_path)["status"] == "active"
    for args, message in [
        (["add", "x@example.com", "--region", "mars"], "error: unknown region: mars"),
        (["add", "not-an-address", "--region", "dc"], "error: An email address must have an @-sign."),
        (["remove", "nobody@example.com"], "error: no subscriber has the address nobody@example.com"),
    ]:
        refused = _cli(args, list_db, tmp_path)
        assert refused.returncode == 1 and refused.stderr.strip() == message
