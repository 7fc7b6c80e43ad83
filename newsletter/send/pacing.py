"""How long to wait: retry backoff with jitter, and a messages-per-second pacer.

Pure arithmetic plus an injectable clock and sleep, so tests run without waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

# How soon a paused send (provider outage, error threshold) is tried again, while its
# grace window lasts: by the scheduler's one-off job, or by the task queue's retry.
PAUSED_RETRY_DELAY = timedelta(minutes=5)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: exponential backoff with full jitter, and a cap on provider-asked waits."""

    max_retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    # A 429 names when the limit resets; we wait that long, but never longer than this.
    max_rate_limit_wait: float = 120.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number ``attempt`` (1-based): uniform in [0, min(cap, base * 2**(attempt-1))].

        Full jitter spreads several dispatchers that failed together, so they do not
        all come back in the same second.
        """
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return (rng or random).uniform(0, ceiling)

    def wait_for(self, attempt: int, provider_wait: float | None, rng: random.Random | None = None) -> float:
        """The provider's wait when it gave one (bounded, plus a little jitter), else backoff."""
        if provider_wait is not None:
            return min(self.max_rate_limit_wait, provider_wait) + (rng or random).uniform(0, 0.5)
        return self.backoff(attempt, rng)


class Pacer:
    """Keeps the average rate at or under ``per_second`` messages; 0 means no limit.

    Thread-safe: each caller books its slot under a lock and sleeps outside it.
    """

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = per_second
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, messages: int) -> float:
        """Block until ``messages`` more may go out; returns the time slept."""
        if self.per_second <= 0 or messages <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + messages / self.per_second
        delay = start - now
        if delay > 0:
            self._sleep(delay)
        return delay
