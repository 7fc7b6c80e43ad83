"""Start the daily scheduler: ``python scheduler.py`` (stop with SIGTERM or Ctrl-C).

Thin on purpose: settings, database, signals; the rules live in newsletter/.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from newsletter.config import load_settings
from newsletter.db.engine import make_engine, migrate
from newsletter.db.errors import explained
from newsletter.errors import NewsletterError
from newsletter.schedule.runtime import run_scheduler


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        engine = make_engine(settings.database_url)
        with explained(engine.url):  # not running, missing: one line, not a traceback
            migrate(engine)
    except NewsletterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run_scheduler(engine, settings, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
