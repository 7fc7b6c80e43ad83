"""Dispatch benchmark: synthetic subscribers through the SendGrid backend against the local stand-in.

    python benchmarks/dispatch_benchmark.py                      # 100k and 1M, SQLite and PostgreSQL
    python benchmarks/dispatch_benchmark.py --sizes 10000 --databases sqlite

Each (database, size) case runs in a fresh child process so its peak memory (max
RSS) is its own. Per case it measures, on the real code paths:

* keyset read: every eligible subscriber read in batches by ``ledger.next_candidates``
  (SQL expressions, no ORM objects), without claiming;
* payloads: SendGrid request bodies for every recipient built by
  ``plan_requests`` + ``to_sendgrid_request`` (build s), serialized by stdlib json
  (json s: what the official client uses), and by orjson for comparison (when installed);
* send: the whole ``send_edition`` (claim, build, POST to the stand-in, record),
  recipients per second.

The stand-in (tests/sendgrid_standin.py) runs in a process of its own and checks
every request as in the tests. PostgreSQL comes from NEWSLETTER_TEST_POSTGRES_URL
(default: the local trust-auth server, database ``test``); each case uses a fresh
schema, dropped afterwards. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from newsletter import ledger  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.content import load_content_dir  # noqa: E402
from newsletter.db import make_engine, migrate, session_scope  # noqa: E402
from newsletter.delivery.base import MessageContent, Recipient  # noqa: E402
from newsletter.delivery.sendgrid_payload import plan_requests, to_sendgrid_request  # noqa: E402
from newsletter.dispatch import send_edition  # noqa: E402
from newsletter.editions import region_today  # noqa: E402
from newsletter.editions import approve_edition  # noqa: E402
from newsletter.models import DeliveryState  # noqa: E402
from newsletter.tokens import manage_token  # noqa: E402

REGION = "dc"
SECRET = "benchmark-secret-key-0123456789-abcdefgh"
API_KEY = "SG.test-key-for-the-local-stand-in"  # the stand-in's key
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
            with cursor.copy("COPY subscriber (id, email, status, paused, token_version, created_at, updated_at) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for i in ids:
                    copy.write_row((i, f"bench{i}@example.org", "active", False, 1, now, now))
            with cursor.copy("COPY subscription (subscriber_id, region_code, active, created_at) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for i in ids:
                    copy.write_row((i, REGION, True, now))
            cursor.execute("select setval(pg_get_serial_sequence('subscriber', 'id'), (select max(id) from subscriber))")
            cursor.execute("analyze")
        else:
            stamp = now.isoformat(sep=" ")
            cursor.executemany(
                "insert into subscriber (id, email, status, paused, token_version, created_at, updated_at) values (?, ?, 'active', 0, 1, ?, ?)",
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
        while batch := ledger.next_candidates(connection, edition_id=edition_id, region_code=REGION, after=after, limit=1000):
            after = batch[-1].subscriber_id
            seen += len(batch)
    return time.perf_counter() - started, seen


def _time_payloads(content: MessageContent, count: int) -> tuple[float, float, float | None]:
    """Seconds to build every request body, to serialize them with stdlib json (what the
    official client does), and with orjson (None when it is not installed)."""
    try:
        import orjson
    except ImportError:
        orjson = None  # type: ignore[assignment]
    secret = SECRET.encode()
    build = stdlib = fast = 0.0
    for start in range(0, count, 1000):
        t0 = time.perf_counter()
        batch = [Recipient(f"bench{i}@example.org", manage_token(secret, i, 1), i) for i in range(start, min(count, start + 1000))]
        bodies = [to_sendgrid_request(content, chunk) for chunk in plan_requests(content, batch)]
        t1 = time.perf_counter()
        for body in bodies:
            json.dumps(body).encode("utf-8")  # exactly what python_http_client does
        t2 = time.perf_counter()
        if orjson is not None:
            for body in bodies:
                orjson.dumps(body)
        t3 = time.perf_counter()
        build, stdlib, fast = build + t1 - t0, stdlib + t2 - t1, fast + t3 - t2
    return build, stdlib, (fast if orjson is not None else None)


def run_case(database: str, size: int, host: str) -> dict[str, object]:
    """One case, in this (child) process: set up, measure, tear down."""
    workdir = Path(tempfile.mkdtemp(prefix="dispatch-bench-"))
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    if database == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as connection:
            connection.execute(sa.text(f'create schema "{schema}"'))
        url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        migrate(engine)
        settings = load_settings(
            _env_file=None, secret_key=SECRET, database_url=url, backend="sendgrid", sendgrid_api_key=API_KEY,
            sendgrid_api_host=host, sendgrid_timeout=60, batch_size=1000, concurrency=4,
        )
        seeds = workdir / "seeds"
        shutil.copytree(ROOT / "seeds", seeds)
        (seeds / "subscribers.yaml").unlink()
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            load_content_dir(session, seeds)
        with session_scope(engine) as session:
            local_date = region_today(session, REGION, now=now)
            rendered = approve_edition(session, settings, REGION, local_date, now=now)
        _insert_subscribers(engine, size)
        content = MessageContent(
            subject=rendered.subject, html=rendered.html, text=rendered.text, sender_name=settings.sender_name,
            sender_address=settings.sender_address, base_url=settings.base_url,
            unsubscribe_mailto=settings.unsubscribe_mailto, edition_id=rendered.edition_id,
            region_code=REGION, campaign=rendered.campaign,
        )
        read_s, read_n = _time_keyset_read(engine, rendered.edition_id)
        build_s, json_s, orjson_s = _time_payloads(content, size)
        rss_before_send = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        report = send_edition(engine, settings, REGION, local_date, now=now)
        send_s = time.perf_counter() - started
        queued = report.counts[DeliveryState.QUEUED]
        return {
            "database": database, "subscribers": size, "read_s": read_s, "read_n": read_n, "build_s": build_s, "json_s": json_s,
            "orjson_s": orjson_s, "send_s": send_s, "queued": queued, "rate": queued / send_s,
            "outcome": report.outcome.value, "html_bytes": len(rendered.html),
            "peak_mb_before_send": rss_before_send / 1024, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    finally:
        engine.dispose()
        if database == "postgresql":
            with admin.begin() as connection:
                connection.execute(sa.text(f'drop schema "{schema}" cascade'))
            admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated subscriber counts")
    parser.add_argument("--databases", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: "database:size:host", run in a child
    args = parser.parse_args()
    if args.case:
        database, size, host = args.case.split(":", 2)
        print(json.dumps(run_case(database, int(size), host)))
        return

    standin = subprocess.Popen(
        [sys.executable, "-m", "tests.sendgrid_standin"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert standin.stdout is not None
        host = f"http://127.0.0.1:{standin.stdout.readline().strip()}"
        print(f"{'database':<11}{'subscribers':>12}{'keyset read s':>15}{'build s':>9}{'json s':>8}{'orjson s':>10}"
              f"{'send s':>9}{'recipients/s':>14}{'peak MB':>9}  outcome")
        for database in args.databases.split(","):
            for size in (int(s) for s in args.sizes.split(",")):
                child = subprocess.run(
                    [sys.executable, __file__, "--case", f"{database}:{size}:{host}"],
                    capture_output=True, text=True, cwd=ROOT,
                )
                if child.returncode != 0:
                    print(f"{database:<11}{size:>12}  failed: {child.stderr.strip().splitlines()[-1:]}")
                    continue
                r = json.loads(child.stdout.strip().splitlines()[-1])
                orjson_s = f"{r['orjson_s']:.2f}" if r["orjson_s"] is not None else "-"
                print(f"{r['database']:<11}{r['subscribers']:>12,}{r['read_s']:>15.2f}{r['build_s']:>9.2f}{r['json_s']:>8.2f}{orjson_s:>10}"
                      f"{r['send_s']:>9.2f}{r['rate']:>14,.0f}{r['peak_mb']:>9.0f}  {r['outcome']} ({r['queued']:,} queued)")
    finally:
        standin.kill()
        standin.wait()


if __name__ == "__main__":
    main()
