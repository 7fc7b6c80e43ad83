"""The cyclic garbage collector's settings for a process that sends (a queue worker, an in-process ``send``).

A send makes a handful of dicts, lists and objects per recipient (its personalization,
its Recipient and SendResult), all freed by reference counting as soon as their batch is
recorded. The collector only walks them: every 700 new containers by default, and at each
full collection everything the process imported too. On an in-process send of 50,000
readers to the SendGrid stand-in that was about a quarter of the dispatcher's CPU (about
19 us per recipient with the defaults, about 14 us with these settings).
"""

from __future__ import annotations

import gc

# Collect the youngest generation after this many new containers (Python's default: 700):
# a batch's objects come and go between collections instead of being walked a few times each.
FIRST_THRESHOLD = 50_000


def spare_for_sending() -> None:
    """Set start-up's objects aside for good (``gc.freeze``) and collect the young seldom.

    For a process that does nothing but send, once it is up; process-wide, so never
    called from library code that may run inside someone else's process.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(FIRST_THRESHOLD)
