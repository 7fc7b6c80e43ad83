"""Progress while importing a list: a live bar on a terminal, plain lines elsewhere.

On a terminal it is a rich bar over the file's bytes (read so far, rate, time left).
Anywhere else (a pipe, a log file, cron) it is one plain line every
:data:`~newsletter.cli.sending.PLAIN_EVERY_SECONDS`, as for sending.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from newsletter.cli.sending import PLAIN_EVERY_SECONDS

BytesCallback = Callable[[int], None]


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@contextmanager
def import_progress(path: Path, *, terminal: bool | None = None) -> Iterator[BytesCallback]:
    """A callback taking the bytes read since the last call; ``terminal`` defaults to stdout's."""
    if terminal is None:
        terminal = sys.stdout.isatty()
    total = path.stat().st_size if path.is_file() else None
    if not terminal:
        yield _plain_lines(path.name, total)
        return
    with Progress(
        TextColumn("importing {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    ) as progress:
        task = progress.add_task(path.name, total=total)
        yield lambda count: progress.advance(task, count)


def _plain_lines(name: str, total: int | None) -> BytesCallback:
    done = [0]
    last = [0.0]

    def line(count: int) -> None:
        done[0] += count
        if count and time.monotonic() - last[0] >= PLAIN_EVERY_SECONDS:
            last[0] = time.monotonic()
            share = f" of {_megabytes(total)} ({done[0] * 100 // total}%)" if total else ""
            typer.echo(f"  {name}: read {_megabytes(done[0])}{share}")

    return line
