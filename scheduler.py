"""Start the daily scheduler: ``python scheduler.py`` (stop with SIGTERM or Ctrl-C).

A thin alias of ``newsletter scheduler`` for checkouts; installed copies use the command.
"""

from __future__ import annotations

from newsletter.cli import main

if __name__ == "__main__":
    main(["scheduler"])
