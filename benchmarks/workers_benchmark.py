"""Dispatch through the task queue: 1, 2 and 4 workers against a SendGrid stand-in answering after 300 ms.

    python benchmarks/workers_benchmark.py [--recipients 200000] [--workers 1 2 4] [--delay 0.3]

For each worker count, in a fresh PostgreSQL schema with ``--recipients`` subscribers
(COPY), it starts a private redis-server as the broker and that many ``newsletter worker``
processes (each running one task with NEWSLETTER_CONCURRENCY=4 requests in flight), queues
the edition as one task per worker (``newsletter send --no-wait``) and times until the
ledger says the edition is sent. The stand-in (tests/peers/sendgrid.py) runs in a process
of its own and waits ``--delay`` seconds before each answer, as a distant provider would.

Figures: recipients per second, the time for 1M extrapolated linearly from the run (a
run of 1M takes minutes per case on a small machine; the extrapolation is labelled as
such), the speed-up against one worker, and each worker's peak memory (VmHWM). Needs
PostgreSQL (NEWSLETTER_TEST_POSTGRES_URL) and redis-server. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import sqlalchemy as sa  # noqa: E402

from newsletter.config import load_settings  # noqa: E402
from newsletter.content.loading import SAMPLES, load_content_dir  # noqa: E402
from newsletter.db.engine import make_engine, migrate, session_scope  # noqa: E402
from newsletter.db.models import EditionStatus  # noqa: E402
from newsletter.editions.lifecycle import approve_edition, region_today  # noqa: E402
from newsletter.send.service import edition_status  # noqa: E402

REGION = "dc"
SECRET = "benchmark-secret-key-0123456789-abcdefgh"
API_KEY = "SG.test-key-for-the-local-stand-in"
MILLION = 1_000_000
POSTGRES_URL = os.environ.get("NEWSLETTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _prepared_schema(admin: sa.Engine, recipients: int, workdir: Path) -> tuple[str, str]:
    """A fresh schema: samples without subscribers, today's dc edition approved, ``recipients`` readers."""
    from dispatch_benchmark import _insert_subscribers  # the bulk loader (COPY)

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'create schema "{schema}"'))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    url_text = url.render_as_string(hide_password=False)
    engine = make_engine(url_text)
    migrate(engine)
    seeds = workdir / f"seeds-{schema}"
    shutil.copytree(SAMPLES, seeds)
    (seeds / "subscribers.yaml").unlink()
    settings = load_settings(_env_file=None, secret_key=SECRET, database_url=url_text)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        load_content_dir(session, seeds)
    with session_scope(engine) as session:
        local_date = region_today(session, REGION, now=now)
        approve_edition(session, settings, REGION, local_date, now=now)
    _insert_subscribers(engine, recipients)
    engine.dispose()
    return schema, url_text


def _peak_mb(pid: int) -> float:
    """A live process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_case(workers: int, recipients: int, host: str, workdir: Path) -> dict[str, float]:
    from tests.queue_harness import RedisBroker  # the tests' private broker: a redis-server of our own

    admin = sa.create_engine(POSTGRES_URL)
    schema, url = _prepared_schema(admin, recipients, workdir)
    executable = shutil.which("redis-server")
    assert executable is not None
    broker_dir = workdir / f"redis-{schema}"
    broker_dir.mkdir()
    broker = RedisBroker(executable, broker_dir)
    broker.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "SENDGRID_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        NEWSLETTER_SECRET_KEY=SECRET,
        NEWSLETTER_DATABASE_URL=url,
        NEWSLETTER_BASE_URL="https://news.example.com",
        NEWSLETTER_BACKEND="sendgrid",
        SENDGRID_API_KEY=API_KEY,
        SENDGRID_API_HOST=host,
        NEWSLETTER_SENDGRID_TIMEOUT="60",
        NEWSLETTER_BATCH_SIZE="1000",
        NEWSLETTER_CONCURRENCY="4",
        NEWSLETTER_QUEUE_URL=broker.url,
        NEWSLETTER_QUEUE_TASKS=str(workers),
    )
    processes, logs = [], []
    engine = make_engine(url)
    try:
        for n in range(workers):
            log = (workdir / f"worker-{schema}-{n}.log").open("wb")
            logs.append(log)
            command = [sys.executable, "-m", "newsletter", "worker", "--concurrency", "1"]
            processes.append(subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT))
        for n in range(workers):
            deadline = time.monotonic() + 60
            while b" ready." not in (workdir / f"worker-{schema}-{n}.log").read_bytes():
                if time.monotonic() > deadline or processes[n].poll() is not None:
                    raise RuntimeError(f"worker {n} did not start")
                time.sleep(0.1)
        with session_scope(engine) as session:
            local_date = region_today(session, REGION)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "newsletter", "send", REGION, "--date", str(local_date), "--yes", "--no-wait"],
            env=env,
            cwd=workdir,
            check=True,
            capture_output=True,
        )
        while edition_status(engine, REGION, local_date).status is not EditionStatus.SENT:
            if time.perf_counter() - started > 1800:
                raise RuntimeError("the send did not finish in 30 minutes")
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        peaks = [_peak_mb(p.pid) for p in processes]
        return {"seconds": seconds, "peak_mb": max(peaks), "peak_mb_min": min(peaks)}
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
        engine.dispose()
        broker.stop()
        with admin.begin() as connection:
            connection.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


def measure(recipients: int, counts: list[int], delay: float) -> list[dict[str, float]]:
    standin = subprocess.Popen(
        [sys.executable, "-m", "tests.peers.sendgrid", str(delay)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    workdir = Path(tempfile.mkdtemp(prefix="workers-bench-"))
    try:
        assert standin.stdout is not None
        host = f"http://127.0.0.1:{standin.stdout.readline().strip()}"
        return [{"workers": n, **run_case(n, recipients, host, workdir)} for n in counts]
    finally:
        standin.kill()
        standin.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def table_rows(
    quick: bool, recipients: int = 200_000, counts: tuple[int, ...] = (1, 2, 4), delay: float = 0.3
) -> list[dict[str, str]]:
    """run_all.py's rows: one per worker count, with the speed-up against one worker."""
    if shutil.which("redis-server") is None:
        return [{"figure": "dispatch through queue workers", "result": "not measured", "note": "no redis-server"}]
    if quick:
        recipients = 20_000
    results = measure(recipients, list(counts), delay)
    one = results[0]["seconds"]
    rows = []
    for r in results:
        seconds, workers = r["seconds"], int(r["workers"])
        rows.append(
            {
                "figure": f"dispatch, {workers} worker(s), stand-in answering after {delay * 1000:.0f} ms",
                "result": f"{recipients / seconds:,.0f}/s; 1M in {seconds * MILLION / recipients:.0f} s (extrapolated)",
                "ratio": f"{one / seconds:.2f}x one worker",
                "note": f"{recipients:,} recipients in {seconds:.1f} s; "
                "claims of one request's worth (up to 1,000), 4 in flight per worker; "
                f"peak memory per worker {r['peak_mb_min']:.0f}-{r['peak_mb']:.0f} MB",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=200_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--delay", type=float, default=0.3, help="seconds the stand-in waits before each answer")
    args = parser.parse_args()
    for row in table_rows(False, args.recipients, tuple(args.workers), args.delay):
        print(f"{row['figure']:<58} {row['result']:<40} {row['ratio']:<16} {row['note']}")


if __name__ == "__main__":
    main()
