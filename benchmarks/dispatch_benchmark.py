"""Dispatch benchmark: synthetic subscribers through the SendGrid backend against the local stand-in.

    python benchmarks/dispatch_benchmark.py                      # 100k and 1M, SQLite and PostgreSQL
    python benchmarks/dispatch_benchmark.py --sizes 10000 --databases sqlite

Each (database, size) case runs in a fresh child process so its peak memory (max
RSS) is its own. Per case it measures, on the real code paths:

* keyset read: every eligible subscriber read in batches by ``ledger.next_candidates``
  (SQL expressions, no ORM objects), without claiming;
* payloads: SendGrid request bodies for every recipient: tokens (``ManageTokens``)
  and ``plan_requests`` + ``to_sendgrid_request`` (build), serialized by
  ``serialize_request`` (orjson: what the backend posts); stdlib json (what the
  official client would use on a dict) is timed beside it for comparison (the
  hand-written splice it was once compared with is a row of ``recipients_benchmark.py``);
* database to ready-to-send: the dispatcher's own claim loop (keyset read, claim in
  the ledger, tokens) and every request body built and serialized, without posting;
  the ledger rows are deleted afterwards so the send below starts from scratch;
* send: the whole ``send_edition`` (claim, build, POST to the stand-in, record),
  recipients per second.

Each case prints its figures against the targets of the dispatch issue (one core:
keyset read of 1M < 3 s, build + serialize 1M < 6 s, database to ready-to-send
< 8 s per million; peak memory the same at every size within 16 MB), scaled to
the case's size.

The stand-in (tests/peers/sendgrid.py) runs in a process of its own and checks
every request as in the tests. PostgreSQL comes from NEWSLETTER_TEST_POSTGRES_URL
(default: the local trust-auth server, database ``test``); each case uses a fresh
schema, dropped afterwards. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from newsletter.collector import spare_for_sending  # noqa: E402
from newsletter.config import Settings, load_settings  # noqa: E402
from newsletter.content.loading import SAMPLES, load_content_dir  # noqa: E402
from newsletter.db.engine import make_engine, migrate, session_scope  # noqa: E402
from newsletter.db.models import Delivery, DeliveryState  # noqa: E402
from newsletter.db.tables import table_of  # noqa: E402
from newsletter.delivery.base import MessageContent, Recipient  # noqa: E402
from newsletter.delivery.sendgrid import SendGridBackend  # noqa: E402
from newsletter.delivery.sendgrid_payload import plan_requests, serialize_request, to_sendgrid_request  # noqa: E402
from newsletter.editions.lifecycle import (  # noqa: E402
    approve_edition,
    region_today,
)
from newsletter.send import ledger  # noqa: E402
from newsletter.send.loop import Dispatcher  # noqa: E402
from newsletter.send.service import send_edition  # noqa: E402
from newsletter.subscribers.tokens import ManageTokens  # noqa: E402

REGION = "dc"
SECRET = "benchmark-secret-key-0123456789-abcdefgh"
API_KEY = "SG.test-key-for-the-local-stand-in"  # the stand-in's key
MILLION = 1_000_000
# The targets, in seconds per million recipients (one core).
TARGET_READ_S = 3.0
TARGET_BUILD_SERIALIZE_S = 6.0
TARGET_READY_S = 8.0
TARGET_MEMORY_SPREAD_MB = 16.0
POSTGRES_URL = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _insert_subscribers(engine: sa.Engine, count: int) -> None:
    """Bulk-load synthetic active subscribers of REGION (COPY on PostgreSQL, executemany on SQLite)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as connection:
        start = connection.execute(sa.text("select coalesce(max(id), 0) from subscriber")).scalar_one() + 1
    ids = range(start, start + count)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cursor.copy(
                "COPY subscriber (id, email, status, paused, token_version, created_at, updated_at) FROM STDIN"
            ) as copy:  # type: ignore[attr-defined]
                for i in ids:
                    copy.write_row((i, f"bench{i}@example.org", "active", False, 1, now, now))
            with cursor.copy("COPY subscription (subscriber_id, region_code, active, created_at) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for i in ids:
                    copy.write_row((i, REGION, True, now))
            cursor.execute(
                "select setval(pg_get_serial_sequence('subscriber', 'id'), (select max(id) from subscriber))"
            )
            cursor.execute("analyze")
            # The load's WAL written out now, so the checkpoint it would start is not billed
            # to the figures measured next (each still pays for the checkpoints of its own writes).
            cursor.execute("checkpoint")
        else:
            stamp = now.isoformat(sep=" ")
            cursor.executemany(
                "insert into subscriber (id, email, status, paused, token_version, created_at, updated_at)"
                " values (?, ?, 'active', 0, 1, ?, ?)",
                ((i, f"bench{i}@example.org", stamp, stamp) for i in ids),
            )
            cursor.executemany(
                "insert into subscription (subscriber_id, region_code, active, created_at) values (?, ?, 1, ?)",
                ((i, REGION, stamp) for i in ids),
            )
            cursor.execute("analyze")
        raw.commit()
    finally:
        raw.close()


def _time_keyset_read(engine: sa.Engine, edition_id: int) -> tuple[float, int]:
    started, after, seen = time.perf_counter(), 0, 0
    with engine.connect() as connection:
        while batch := ledger.next_candidates(
            connection, edition_id=edition_id, region_code=REGION, after=after, limit=1000
        ):
            after = batch[-1].subscriber_id
            seen += len(batch)
    return time.perf_counter() - started, seen


def _time_payloads(content: MessageContent, count: int) -> dict[str, float]:
    """Seconds, over every recipient, for each way of making the request bodies.

    recipients: tokens (``ManageTokens``) and ``plan_requests``, needed by every way;
    the body the backend posts: ``to_sendgrid_request`` dicts (dicts) serialized by
    orjson (orjson); for comparison, stdlib json (json, what the official client
    does with a dict).
    """
    tokens = ManageTokens(SECRET.encode())
    spent = dict.fromkeys(("recipients", "dicts", "orjson", "json"), 0.0)
    for start in range(0, count, 1000):
        t0 = time.perf_counter()
        batch = [Recipient(f"bench{i}@example.org", tokens(i, 1), i) for i in range(start, min(count, start + 1000))]
        units = list(plan_requests(content, batch))
        t1 = time.perf_counter()
        bodies = [to_sendgrid_request(content, unit) for unit in units]
        t2 = time.perf_counter()
        for body in bodies:
            serialize_request(body).encode("utf-8")  # the client encodes the str it is given
        t3 = time.perf_counter()
        for body in bodies:
            json.dumps(body).encode("utf-8")  # what python_http_client does with a dict
        t4 = time.perf_counter()
        for key, seconds in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            spent[key] += seconds
    return spent


def _build_bodies(content: MessageContent, recipients: list[Recipient]) -> int:
    """Every request body of a claimed batch, serialized as the backend posts it; the recipients in them."""
    ready = 0
    for unit in plan_requests(content, recipients):
        serialize_request(to_sendgrid_request(content, unit)).encode("utf-8")
        ready += len(unit)
    return ready


def _time_ready_to_send(
    engine: sa.Engine, settings: Settings, content: MessageContent, edition_id: int, *, overlapped: bool = False
) -> tuple[float, int, float]:
    """Database to ready-to-send: the dispatcher's claim loop and the backend's bodies, no POST.

    Not ``overlapped``: on one thread, so it is the whole cost a send's main thread
    and workers share before the network. ``overlapped``: as a send does it, claims
    on this thread and each batch's bodies built on a worker thread meanwhile (one
    batch at a time, so the claim's round trip, whose work is the database server's,
    overlaps the previous batch's bodies). Returns (seconds, recipients ready, seconds
    of them spent claiming: the keyset read and claim in one statement, and the
    tokens). The claimed rows are deleted afterwards (untimed).
    """
    backend = SendGridBackend(API_KEY, host="http://127.0.0.1:9", timeout=1)  # never called
    dispatcher = Dispatcher(
        engine,
        settings,
        backend,
        content,
        should_stop=lambda: False,
        sleep=time.sleep,
        rng=random.Random(0),
        progress=None,
    )
    started, after, ready, claiming = time.perf_counter(), 0, 0, 0.0
    with ThreadPoolExecutor(max_workers=1) as worker:
        building: Future[int] | None = None
        while True:
            claim_started = time.perf_counter()
            # As the send loop does when the next claim follows at once: on PostgreSQL the
            # server runs it while this batch's tokens and bodies are made.
            claimed = dispatcher.claim_next(edition_id, REGION, after, ahead=True)
            claiming += time.perf_counter() - claim_started
            if building is not None:
                ready += building.result()
                building = None
            if claimed is None:
                break
            recipients, after = claimed
            # A send forgets a batch's claims once its answer is recorded; nothing is recorded
            # here, so forget them now, or the map grows with the list (about 100 MB at 1M).
            dispatcher._subscriber_of.clear()
            if overlapped:
                building = worker.submit(_build_bodies, content, recipients)
            else:
                ready += _build_bodies(content, recipients)
    dispatcher.drop_ahead()
    elapsed = time.perf_counter() - started
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Not DELETE: its dead rows would sit in the ledger's indexes for the next run's
            # claims to step over (VACUUM cannot clear them while another session's old
            # transaction is open), and the next figure would pay for this one.
            connection.execute(sa.text("TRUNCATE delivery, event"))
        else:
            connection.execute(sa.delete(table_of(Delivery)).where(table_of(Delivery).c.edition_id == edition_id))
    return elapsed, ready, claiming


def run_case(database: str, size: int, host: str, *, full: bool = True) -> dict[str, object]:
    """One case, in this (child) process: set up, measure, tear down.

    Not ``full``: only the keyset read and database to ready-to-send (no payload
    comparisons, no send), for run_all.py's table.
    """
    workdir = Path(tempfile.mkdtemp(prefix="dispatch-bench-"))
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    if database == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as connection:
            connection.execute(sa.text(f'create schema "{schema}"'))
        url = (
            sa.make_url(POSTGRES_URL)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    engine = make_engine(url)
    try:
        migrate(engine)
        settings = load_settings(
            _env_file=None,
            secret_key=SECRET,
            database_url=url,
            backend="sendgrid",
            sendgrid_api_key=API_KEY,
            sendgrid_api_host=host,
            sendgrid_timeout=60,
            batch_size=1000,
            concurrency=4,
        )
        content_dir = workdir / "content"
        shutil.copytree(SAMPLES, content_dir)
        (content_dir / "subscribers.yaml").unlink()
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            load_content_dir(session, content_dir)
        with session_scope(engine) as session:
            local_date = region_today(session, REGION, now=now)
            rendered = approve_edition(session, settings, REGION, local_date, now=now)
        _insert_subscribers(engine, size)
        content = MessageContent(
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            sender_name=settings.sender_name,
            sender_address=settings.sender_address,
            base_url=settings.base_url,
            unsubscribe_mailto=settings.unsubscribe_mailto,
            edition_id=rendered.edition_id,
            region_code=REGION,
            campaign=rendered.campaign,
        )
        read_s, read_n = _time_keyset_read(engine, rendered.edition_id)
        ready_s, ready_n, claim_s = _time_ready_to_send(engine, settings, content, rendered.edition_id)
        overlapped_s, _, _ = _time_ready_to_send(engine, settings, content, rendered.edition_id, overlapped=True)
        if not full:
            return {
                "read_s": read_s,
                "ready_s": ready_s,
                "ready_n": ready_n,
                "claim_s": claim_s,
                "overlapped_s": overlapped_s,
                "cores": len(os.sched_getaffinity(0)),
            }
        payloads = _time_payloads(content, size)
        rss_before_send = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        report = send_edition(engine, settings, REGION, local_date, now=now)
        send_s = time.perf_counter() - started
        queued = report.counts[DeliveryState.QUEUED]
        return {
            "database": database,
            "subscribers": size,
            "read_s": read_s,
            "read_n": read_n,
            **{f"{key}_s": seconds for key, seconds in payloads.items()},
            "ready_s": ready_s,
            "ready_n": ready_n,
            "claim_s": claim_s,
            "overlapped_s": overlapped_s,
            "send_s": send_s,
            "queued": queued,
            "rate": queued / send_s,
            "outcome": report.outcome.value,
            "html_bytes": len(rendered.html),
            "peak_mb_before_send": rss_before_send / 1024,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    finally:
        engine.dispose()
        if database == "postgresql":
            with admin.begin() as connection:
                connection.execute(sa.text(f'drop schema "{schema}" cascade'))
            admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


def _row(name: str, seconds: float, size: int, target_per_million: float | None, note: str = "") -> str:
    """One figure: seconds, per million, and the target scaled to this size."""
    per_million = seconds * MILLION / size
    if target_per_million is None:
        return f"  {name:<36}{seconds:>9.2f}{per_million:>11.2f}{'':>12}{'':>6}  {note}"
    verdict = "ok" if per_million < target_per_million else "MISS"
    target = "< " + format(target_per_million, ".1f")
    return f"  {name:<36}{seconds:>9.2f}{per_million:>11.2f}{target:>12}{verdict:>6}  {note}"


def print_case(r: dict[str, Any]) -> None:
    size = int(r["subscribers"])
    print(f"\n{r['database']}, {size:,} subscribers (rendered HTML {int(r['html_bytes']):,} bytes)")
    print(f"  {'figure':<36}{'seconds':>9}{'s per 1M':>11}{'target/1M':>12}{'':>6}")
    print(_row("keyset read (SQL, no ORM)", r["read_s"], size, TARGET_READ_S, f"{int(r['read_n']):,} rows"))
    print(_row("tokens + recipients + plan", r["recipients_s"], size, None))
    print(
        _row(
            "bodies as posted (dicts + orjson)",
            r["dicts_s"] + r["orjson_s"],
            size,
            None,
            f"dicts {r['dicts_s']:.2f} s, orjson {r['orjson_s']:.2f} s",
        )
    )
    print(
        _row(
            "build + serialize",
            r["recipients_s"] + r["dicts_s"] + r["orjson_s"],
            size,
            TARGET_BUILD_SERIALIZE_S,
            "the two rows above",
        )
    )
    print(
        _row(
            "  compare: dicts + stdlib json",
            r["recipients_s"] + r["dicts_s"] + r["json_s"],
            size,
            None,
            f"json {r['json_s']:.2f} s (the official client's own way)",
        )
    )
    print(
        _row(
            "database to ready-to-send",
            r["ready_s"],
            size,
            TARGET_READY_S,
            f"claim + tokens {r['claim_s']:.2f} s, bodies {r['ready_s'] - r['claim_s']:.2f} s; "
            f"{int(r['ready_n']):,} ready",
        )
    )
    print(
        _row(
            "  overlapped: bodies on a thread",
            r["overlapped_s"],
            size,
            TARGET_READY_S,
            f"{r['ready_s'] / r['overlapped_s']:.2f}x the one-thread figure; claims overlap the bodies, as in a send",
        )
    )
    print(
        _row(
            "full send to the stand-in",
            r["send_s"],
            size,
            None,
            f"{r['rate']:,.0f} recipients/s, {r['outcome']}, {int(r['queued']):,} queued",
        )
    )
    print(
        f"  {'peak memory (max RSS)':<36}{r['peak_mb']:>9.0f} MB  (before the send: {r['peak_mb_before_send']:.0f} MB)"
    )


def print_memory(results: list[dict[str, Any]]) -> None:
    """Peak memory must not grow with the list: compare the sizes of each database."""
    print(f"\npeak memory across sizes (target: spread within {TARGET_MEMORY_SPREAD_MB:.0f} MB)")
    for database in dict.fromkeys(str(r["database"]) for r in results):
        peaks = {int(r["subscribers"]): float(r["peak_mb"]) for r in results if r["database"] == database}
        spread = max(peaks.values()) - min(peaks.values())
        listed = ", ".join(f"{size:,}: {mb:.0f} MB" for size, mb in sorted(peaks.items()))
        verdict = ("ok" if spread <= TARGET_MEMORY_SPREAD_MB else "MISS") if len(peaks) > 1 else "(one size)"
        print(f"  {database:<11}{listed}  spread {spread:.0f} MB  {verdict}")


def table_rows(quick: bool) -> list[dict[str, str]]:
    """run_all.py's rows: keyset read and database to ready-to-send per million, SQLite and PostgreSQL.

    Each database in a child process of its own (a fresh database, its own memory).
    """
    size = 100_000 if quick else MILLION
    rows = []
    for database in ("sqlite", "postgresql"):
        child = subprocess.run(
            [sys.executable, __file__, "--ready-case", f"{database}:{size}"], capture_output=True, text=True, cwd=ROOT
        )
        if child.returncode != 0:
            why = (child.stderr.strip().splitlines() or ["?"])[-1]
            rows.append({"figure": f"{database}: database to ready-to-send", "result": "failed", "note": why})
            continue
        r = json.loads(child.stdout.strip().splitlines()[-1])
        scale = MILLION / size
        ready, claim = r["ready_s"] * scale, r["claim_s"] * scale
        rows.append(
            {
                "figure": f"{database}: keyset read, per 1M",
                "result": f"{r['read_s'] * scale:.2f} s",
                "note": f"target < {TARGET_READ_S:.0f} s; {size:,} subscribers read in batches of 1,000, no claim",
            }
        )
        rows.append(
            {
                "figure": f"{database}: database to ready-to-send, per 1M",
                "result": f"{ready:.2f} s",
                "ratio": f"claim {claim:.2f} s ({claim / ready:.0%}) : bodies {ready - claim:.2f} s",
                "note": f"target < {TARGET_READY_S:.0f} s on one core; claim = keyset read + ledger insert + tokens",
            }
        )
        overlapped = r["overlapped_s"] * scale
        rows.append(
            {
                "figure": f"{database}: database to ready-to-send, overlapped, per 1M",
                "result": f"{overlapped:.2f} s",
                "ratio": f"{ready / overlapped:.2f}x the one-thread figure",
                "note": f"claims on one thread, each batch's bodies on another meanwhile, as a send does; "
                f"{r['cores']} cores",
            }
        )
    return rows


def _numbers(values: list[str]) -> list[str]:
    """Accept "--sizes 100000 1000000" as well as "--sizes 100000,1000000"."""
    return [part for value in values for part in value.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["100000,1000000"], help="subscriber counts (spaces or commas)")
    parser.add_argument("--databases", nargs="+", default=["sqlite,postgresql"], help="sqlite, postgresql or both")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: "database:size:host", run in a child
    parser.add_argument("--ready-case", help=argparse.SUPPRESS)  # internal: "database:size", for table_rows
    args = parser.parse_args()
    if args.case or args.ready_case:
        spare_for_sending()  # each case's child sets the collector up as a sending process does
    if args.case:
        database, size, host = args.case.split(":", 2)
        print(json.dumps(run_case(database, int(size), host)))
        return
    if args.ready_case:
        database, size = args.ready_case.split(":")
        print(json.dumps(run_case(database, int(size), "http://127.0.0.1:9", full=False)))
        return

    standin = subprocess.Popen(
        [sys.executable, "-m", "tests.peers.sendgrid"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    results: list[dict[str, Any]] = []
    try:
        assert standin.stdout is not None
        host = f"http://127.0.0.1:{standin.stdout.readline().strip()}"
        for database in _numbers(args.databases):
            for size in (int(s) for s in _numbers(args.sizes)):
                child = subprocess.run(
                    [sys.executable, __file__, "--case", f"{database}:{size}:{host}"],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                )
                if child.returncode != 0:
                    print(f"\n{database}, {size:,} subscribers: failed: {child.stderr.strip().splitlines()[-1:]}")
                    continue
                results.append(json.loads(child.stdout.strip().splitlines()[-1]))
                print_case(results[-1])
        if results:
            print_memory(results)
    finally:
        standin.kill()
        standin.wait()


if __name__ == "__main__":
    main()
