"""Celery, the one module that imports it: the app, the send task, enqueueing, results, the worker.

The broker is NEWSLETTER_QUEUE_URL (RabbitMQ ``amqp://`` or Redis ``redis://``).
Results go to Redis itself when the broker is Redis, else back over AMQP (``rpc://``:
only the process that queued a task reads its result, which is all ``send`` needs).

Delivery guarantees come from the ledger, not from the queue: the queue is asked for
"at least once" (a message is acknowledged only after its task returned, and handed out
again when the worker holding it dies), and the ledger makes a second run harmless.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import kombu.exceptions
import sqlalchemy as sa
from celery import Celery
from celery.result import AsyncResult
from celery.signals import worker_ready, worker_shutting_down

from newsletter.collector import spare_for_sending
from newsletter.config import Settings
from newsletter.errors import ConfigurationError, QueueUnavailableError
from newsletter.queue.jobs import JobResult, SendJob, run_job

log = logging.getLogger(__name__)

TASK_NAME = "newsletter.send_edition"
QUEUE_NAME = "newsletter"
# Redis hands an unacknowledged message (its worker died) to another worker after this.
# A task still running then is handed out too: harmless (the ledger), it only adds a dispatcher.
REDIS_VISIBILITY_TIMEOUT = timedelta(hours=1)


@dataclass
class _WorkerState:
    engine: sa.Engine
    settings: Settings
    stop: threading.Event


_worker: _WorkerState | None = None  # set by run_worker: what the task body needs, in a worker process
_apps: dict[str, Any] = {}  # one Celery app per broker URL and process


def _broker_url(settings: Settings) -> str:
    url = settings.queue_url.get_secret_value()
    if not url:
        raise ConfigurationError("NEWSLETTER_QUEUE_URL is not set: sends run in-process and no worker is needed")
    return url


def _app(settings: Settings) -> Any:
    url = _broker_url(settings)
    if url not in _apps:
        _apps[url] = _build_app(url)
    return _apps[url]


def _build_app(url: str) -> Any:
    redis = url.startswith(("redis://", "rediss://"))
    app = Celery("newsletter", broker=url, backend=url if redis else "rpc://", set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE_NAME,
        # At least once: acknowledged when the task returns, re-queued if its worker is lost.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A worker reserves only what it runs: queued editions wait for a free worker, not behind a busy one.
        worker_prefetch_multiplier=1,
        # A lost broker connection leaves running sends alone: their progress is in the database.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": int(REDIS_VISIBILITY_TIMEOUT.total_seconds())},
        result_expires=timedelta(days=1),
        task_track_started=True,
        worker_hijack_root_logger=False,
    )
    app.task(name=TASK_NAME, bind=True, max_retries=None, acks_late=True)(_send_edition_task)
    return app


def _send_edition_task(task: Any, **message: Any) -> dict[str, Any]:
    """The task: one dispatcher of an edition's send (see jobs.run_job); retried as it says."""
    if _worker is None:  # pragma: no cover - tasks run only in `newsletter worker`
        raise RuntimeError("the send task runs in a `newsletter worker` process")
    job = SendJob.from_message(message)
    result = run_job(
        _worker.engine, _worker.settings, job, should_stop=_worker.stop.is_set, retries=task.request.retries
    )
    if result.retry_in is not None:
        raise task.retry(countdown=result.retry_in)
    return result.to_message()


def enqueue_send(settings: Settings, job: SendJob, *, copies: int, keep_results: bool) -> list[str]:
    """Queue ``copies`` tasks for one edition (each a dispatcher sharing it through the ledger); their ids.

    ``keep_results`` for a caller that will follow them (``send``); the scheduler does not.
    """
    app = _app(settings)
    task = app.tasks[TASK_NAME]
    try:
        return [
            str(task.apply_async(kwargs=job.to_message(), ignore_result=not keep_results).id) for _ in range(copies)
        ]
    except kombu.exceptions.OperationalError as exc:
        raise _unreachable(exc) from None
    except RuntimeError as exc:
        # Redis as the result store (kept results): Celery gives up reconnecting with a RuntimeError from the cause.
        cause = exc.__cause__
        if cause is None or not isinstance(cause, getattr(app.backend, "connection_errors", ())):
            raise
        raise _unreachable(cause) from None


def _unreachable(exc: BaseException) -> QueueUnavailableError:
    return QueueUnavailableError(f"the task queue (NEWSLETTER_QUEUE_URL) cannot be reached: {exc}")


@dataclass(frozen=True)
class Finished:
    """How the followed tasks ended: each one's result, or the error that ended it; ``missing`` had neither.

    A task's result is missing when the edition's send was over before it could be read:
    the result store lost it (a task that ended while the broker was away), or the task
    was still on its way out, with nothing left to send.
    """

    results: list[JobResult]
    errors: list[str]
    missing: int


def wait_for(
    settings: Settings, task_ids: list[str], *, follow: Callable[[], bool], poll_seconds: float = 1.0
) -> Finished:
    """Wait until every task has finished (a retried task is still running), calling ``follow`` on the way.

    ``follow`` reads the send's progress in the database and says whether the send is
    over there (the edition is sent): then the wait ends, whatever results are missing.
    A broker or result store that goes away meanwhile is waited for, with one warning:
    the send goes on in the workers, and its progress is in the database. A task whose
    result was lost with the broker would otherwise be waited for until its message is
    handed out again (REDIS_VISIBILITY_TIMEOUT).
    """
    app = _app(settings)
    handles = [AsyncResult(task_id, app=app) for task_id in task_ids]
    warned = False
    while True:
        try:
            if all(handle.ready() for handle in handles):
                break
        except Exception as exc:  # the result store is down or restarting: keep following the ledger
            if not warned:
                log.warning("task results unavailable for now (%s); still following the ledger", exc)
                warned = True
        if follow():
            break
        time.sleep(poll_seconds)
    results, errors, missing = [], [], 0
    for handle in handles:
        try:
            ready = handle.ready()
        except Exception:  # the result store is still away: as good as a result never stored
            ready = False
        if not ready:
            missing += 1
        elif handle.successful():
            results.append(JobResult.from_message(handle.result))
        else:
            errors.append(f"{type(handle.result).__name__}: {handle.result}")
    return Finished(results, errors, missing)


def _ready_to_send(**_: Any) -> None:
    """Once the worker is up (its imports done): the collector's settings for sending."""
    spare_for_sending()


def run_worker(engine: sa.Engine, settings: Settings, *, concurrency: int) -> None:
    """Run a worker until SIGTERM or Ctrl-C: ``concurrency`` sends at once, each its own dispatcher.

    The first SIGTERM stops every send after its batches in flight (they are recorded) and
    puts it back on the queue for another worker; a second one stops at once (Celery's cold
    shutdown), leaving the claims in flight for ``status`` and ``release``.
    """
    global _worker
    _worker = _WorkerState(engine, settings, threading.Event())
    state = _worker

    def on_shutting_down(**_: Any) -> None:
        state.stop.set()

    worker_shutting_down.connect(on_shutting_down, weak=False)
    worker_ready.connect(_ready_to_send, weak=False)
    _app(settings).worker_main(
        argv=[
            "worker",
            "--pool=threads",  # sends wait on the network; one process, so a SIGKILL ends all of it
            f"--concurrency={concurrency}",
            f"--queues={QUEUE_NAME}",
            f"--hostname=newsletter-{os.getpid()}@%h",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )
