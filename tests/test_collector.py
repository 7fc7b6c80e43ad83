"""The collector's settings a queue worker applies once it is up (newsletter.collector)."""

from __future__ import annotations

import subprocess
import sys

from newsletter.collector import FIRST_THRESHOLD


def test_sending_settings_freeze_start_up_and_raise_the_first_threshold() -> None:
    # In a process of its own: the settings are process-wide, and pytest's must stay as they are.
    probe = (
        "import gc\n"
        "from newsletter.collector import spare_for_sending\n"
        "before = gc.get_threshold()[0], gc.get_freeze_count()\n"
        "spare_for_sending()\n"
        "print(*before, gc.get_threshold()[0], gc.get_freeze_count() > 0, gc.isenabled())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["700", "0", str(FIRST_THRESHOLD), "True", "True"]
