"""What ``send`` and ``resume`` print: progress while sending, and the plan of a dry run.

On a terminal the progress is a live bar (rich): readers done of those left, the rate,
the time left, and the counts by state. Anywhere else (a pipe, a log file, cron) a
bar would be a stream of control characters, so it is one plain line every
:data:`PLAIN_EVERY_SECONDS`, as before. A send run in-process feeds it the counts of
what it records; a send handed to the queue's workers is followed from the ledger
(:func:`answered_since`), through the same display.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from newsletter.config import BackendName
from newsletter.db.models import DeliveryState
from newsletter.send.dry_run import DryRun

ProgressCallback = Callable[[Counter[DeliveryState]], None]

PLAIN_EVERY_SECONDS = 2.0  # a line every 2 s, not one per batch


def _states(tally: Counter[DeliveryState]) -> str:
    return ", ".join(f"{state.value} {n}" for state, n in tally.items() if n)


class _RateColumn(ProgressColumn):
    """Readers per second over rich's recent window (the whole run once finished)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("- /s" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


@contextmanager
def send_progress(total: int, *, terminal: bool | None = None) -> Iterator[ProgressCallback]:
    """A progress callback for :func:`~newsletter.send.service.send_edition`; ``total``: the readers left.

    ``terminal`` defaults to whether standard output is one.
    """
    if terminal is None:
        terminal = sys.stdout.isatty()
    if not terminal:
        yield _plain_lines()
        return
    columns = (
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[states]}"),
    )
    with Progress(*columns, console=Console(file=sys.stdout, force_terminal=True)) as bar:
        task = bar.add_task("sending", total=total, states="")

        def update(tally: Counter[DeliveryState]) -> None:
            bar.update(task, completed=sum(tally.values()), states=_states(tally))

        yield update


def answered_since(before: Mapping[DeliveryState, int], now: Mapping[DeliveryState, int]) -> Counter[DeliveryState]:
    """The progress tally of a send followed from the ledger: each state's growth since ``before``.

    The same figure an in-process send counts as it records its answers (suppressed,
    sent, queued, failed, unknown); CLAIMED is left out, as a claim is in flight, not
    an answer, and so is a state that shrank (rows resolved or released meanwhile).
    """
    grown = {state: count - before.get(state, 0) for state, count in now.items() if state is not DeliveryState.CLAIMED}
    return Counter({state: n for state, n in grown.items() if n > 0})


def _plain_lines() -> ProgressCallback:
    last = [0.0]

    def line(tally: Counter[DeliveryState]) -> None:
        if time.monotonic() - last[0] >= PLAIN_EVERY_SECONDS:
            last[0] = time.monotonic()
            typer.echo("  " + _states(tally))

    return line


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KB"


def dry_run_lines(plan: DryRun) -> list[str]:
    """The plan of ``send --dry-run``: who would get it, in which batches, and what each request weighs."""
    stored = plan.stored_status.value if plan.stored_status is not None else "not stored yet"
    lines = [
        f"dry run: {plan.region_code} {plan.local_date} through {plan.backend.value}; "
        "nothing sent, nothing recorded, the edition left as it is",
        f"  edition:    {stored}; subject {plan.subject!r}; HTML {_size(plan.html_bytes)}",
    ]
    if plan.already_sent:
        return [*lines, "  already sent: a send would do nothing"]
    lines.append(
        f"  recipients: {plan.recipients} (and {plan.suppressed} suppressed, recorded without a message; "
        f"{plan.in_ledger} already in the ledger, never sent again)"
    )
    total = sum(batch.total_bytes for batch in plan.batches)
    unit = _UNIT[plan.backend]
    lines.append(f"  batches:    {len(plan.batches)}, {_count(plan.requests, unit)}, {_size(total)} in all")
    for number, batch in enumerate(plan.batches, 1):
        sizes = batch.request_bytes
        if len(sizes) <= 3:
            each = ", ".join(_size(size) for size in sizes)
        else:
            each = f"{_size(batch.total_bytes)} in all, largest {_size(max(sizes))}"
        lines.append(f"    batch {number}: {batch.recipients} recipients, {_count(len(sizes), unit)}: {each}")
    return lines


def dry_run_document(plan: DryRun) -> dict[str, Any]:
    """``send --dry-run --json``: the plan with every request's size in bytes."""
    return {
        "region": plan.region_code,
        "local_date": plan.local_date,
        "backend": plan.backend,
        "stored_status": plan.stored_status,
        "subject": plan.subject,
        "html_bytes": plan.html_bytes,
        "already_sent": plan.already_sent,
        "recipients": plan.recipients,
        "suppressed": plan.suppressed,
        "in_ledger": plan.in_ledger,
        "requests": plan.requests,
        "batches": [{"recipients": b.recipients, "request_bytes": list(b.request_bytes)} for b in plan.batches],
    }


# What one "request" is for each backend: a mail send call, an SMTP message, a file.
_UNIT = {BackendName.SENDGRID: "request", BackendName.SMTP: "message", BackendName.OUTBOX: "file"}


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
