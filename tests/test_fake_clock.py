"""The faked-clock run of .ci/run works: a year ahead, and ``time.sleep`` still sleeps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import PROJECT_ROOT, skip_under_faked_clock, unavailable

FAKE_CLOCK = PROJECT_ROOT / "tests" / "fake_clock"

PROBE = """
import subprocess, sys, time
from datetime import UTC, datetime
time.sleep(0.01)
child = subprocess.run([sys.executable, "-c", "import time; time.sleep(0.01)"], timeout=60)
print(datetime.now(UTC).date().isoformat(), child.returncode)
"""


def test_a_faked_clock_run_is_a_year_ahead_and_sleeps_in_every_process(request: pytest.FixtureRequest) -> None:
    skip_under_faked_clock(request)
    faketime = shutil.which("faketime")
    if faketime is None:
        unavailable("faketime not installed (Debian package faketime)")
    env = {**os.environ, "DONT_FAKE_MONOTONIC": "1", "PYTHONPATH": str(FAKE_CLOCK)}
    before = datetime.now(UTC).date()
    result = subprocess.run(
        [faketime, "-f", "+400d", sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    faked_date, child_code = result.stdout.split()
    assert datetime.fromisoformat(faked_date).date() >= before + timedelta(days=399)
    assert child_code == "0"
