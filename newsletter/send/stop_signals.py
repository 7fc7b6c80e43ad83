"""SIGTERM and Ctrl-C (SIGINT) during a send: the first asks it to stop, a second aborts at once.

A stop is not a crash. Killing a send outright leaves the batches in flight
``claimed``: the provider may well have accepted them, and releasing them would
send those readers a second copy. So the first signal only sets an event the send
polls (no new batches are claimed; the batches in flight finish and are recorded).
A second signal restores the signal's default action and re-raises it, which ends
the process at once, exactly like a crash: whatever was in flight stays claimed.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

ANNOUNCEMENT = (
    "stopping ({name}): no new batches; the batches in flight finish and are recorded. "
    "Send the signal again (or press Ctrl-C again) to abort at once: the batches in flight then stay claimed.\n"
)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Within the block, SIGTERM/SIGINT set the yielded event instead of ending the process.

    Must be entered on the main thread (Python delivers signals there). The previous
    handlers are restored on the way out.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            # The second signal: the operator insists. Die of the signal, as if never caught.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        stop.set()
        _announce(ANNOUNCEMENT.format(name=signal.Signals(signum).name))

    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _announce(text: str) -> None:
    """Write straight to the stderr descriptor: a signal handler may interrupt a buffered write."""
    with suppress(OSError, ValueError, AttributeError):  # no real stderr (embedded, captured): stay silent
        os.write(sys.stderr.fileno(), text.encode("utf-8", "replace"))
