"""For runs under a faked system clock only: ``PYTHONPATH=tests/fake_clock faketime ...``.

Python 3.11's ``time.sleep`` calls ``clock_nanosleep`` with an absolute deadline,
which libfaketime (with ``DONT_FAKE_MONOTONIC=1``) answers with EINVAL. This file
is imported by every Python process started with the folder on PYTHONPATH (the
test run and each subprocess it starts, which inherit the environment), and
swaps ``time.sleep`` for a ``select()`` wait, which libfaketime leaves alone.
Normal runs never put this folder on the path, and even then nothing changes
unless the real ``time.sleep`` fails.
"""

from __future__ import annotations

import select
import time

_real_sleep = time.sleep


def _select_sleep(seconds: float) -> None:
    """``time.sleep`` by another system call; a signal does not cut it short (PEP 475)."""
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


def _sleep_is_broken() -> bool:
    try:
        _real_sleep(0)
    except OSError:
        return True
    return False


if _sleep_is_broken():
    time.sleep = _select_sleep
