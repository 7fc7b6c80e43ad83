"""Real parts for the task-queue tests: a private Redis broker, worker processes, many readers.

The broker is a ``redis-server`` of the test's own on a free port (never the shared one),
with an append-only file synced on every write, so the test may SIGKILL and restart it.
Workers are ``python -m newsletter worker`` processes logging to a file the test reads.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from newsletter.db.models import Subscriber, SubscriberStatus, Subscription
from newsletter.db.tables import table_of
from tests.conftest import unavailable

TASK_RECEIVED = "Task newsletter.send_edition["


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class RedisBroker:
    """One redis-server process; ``kill`` and ``start`` again keep its data (the append-only file)."""

    executable: str
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._answers, 20, "redis-server to accept connections")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def redis_broker(tmp_path: Path) -> Iterator[RedisBroker]:
    executable = shutil.which("redis-server")
    if executable is None:
        unavailable("redis-server not installed (Debian package redis-server): the queue tests start their own broker")
    assert executable is not None
    directory = tmp_path / "redis"
    directory.mkdir()
    broker = RedisBroker(executable, directory)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def task_ids(self, event: str) -> set[str]:
        """Ids of the send tasks this worker logged with ``event`` ("received", "succeeded")."""
        ids = set()
        for line in self.text().splitlines():
            if TASK_RECEIVED in line and f"] {event}" in line:
                ids.add(line.split(TASK_RECEIVED, 1)[1].split("]", 1)[0])
        return ids


class Workers:
    """Starts worker processes for one test and ends the ones still running afterwards."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Worker] = []

    def start(self, env: dict[str, str], *, concurrency: int = 1) -> Worker:
        log = self.tmp_path / f"worker-{len(self.started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "newsletter", "worker", "--concurrency", str(concurrency)],
                env=env,
                cwd=self.tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(process, log)
        self.started.append(worker)
        wait_until(lambda: " ready." in worker.text() or process.poll() is not None, 60, "the worker to be ready")
        assert process.poll() is None, worker.text()
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.started:
            try:
                worker.process.wait(30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def add_many_readers(engine: sa.Engine, count: int, region: str, prefix: str = "reader") -> list[str]:
    """``count`` active subscribers of ``region``, inserted in bulk; their addresses."""
    now = datetime.now(UTC)
    emails = [f"{prefix}{n:05d}@example.org" for n in range(count)]
    subscribers, subscriptions = table_of(Subscriber), table_of(Subscription)
    active = SubscriberStatus.ACTIVE
    with engine.begin() as connection:
        rows = [
            {"email": e, "status": active, "paused": False, "token_version": 1, "created_at": now, "updated_at": now}
            for e in emails
        ]
        connection.execute(sa.insert(subscribers), rows)
        ids = connection.execute(sa.select(subscribers.c.id).where(subscribers.c.email.in_(emails))).scalars()
        links = [{"subscriber_id": i, "region_code": region, "active": True, "created_at": now} for i in ids]
        connection.execute(sa.insert(subscriptions), links)
    return emails
