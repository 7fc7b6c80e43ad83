"""Every benchmark in this folder, one table: the performance record (docs/PERFORMANCE.md).

    python benchmarks/run_all.py [--quick] [--only NAME ...]

A benchmark is a module ``benchmarks/NAME_benchmark.py``. To be in the table it defines
``table_rows(quick: bool) -> list[dict[str, str]]``: one dict per figure, with the keys
``figure`` and ``result``, and optionally ``ratio`` (a comparison measured in the same run)
and ``note``. Each benchmark runs in a child process of its own, so its peak memory and
any failure stay its own; the child prints its rows as one JSON line. A module without
``table_rows``, or one that fails, gets a row saying so: nothing is left out silently.
``--quick`` asks each for a smaller run (to check the wiring, not for the record).

The table is Markdown, printed with the command, the date and the machine, ready to be
pasted into docs/PERFORMANCE.md. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SUFFIX = "_benchmark.py"
ROWS_MARK = "RUN_ALL_ROWS "


def discover() -> list[str]:
    """The benchmarks in this folder, by name (``render`` for render_benchmark.py), sorted."""
    return sorted(path.name.removesuffix(SUFFIX) for path in HERE.glob(f"*{SUFFIX}"))


def _child(name: str, quick: bool) -> None:
    """In the child: import the benchmark, print its rows as one marked JSON line."""
    sys.path.insert(0, str(HERE.parent))
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", HERE / f"{name}{SUFFIX}")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table_rows = getattr(module, "table_rows", None)
    if table_rows is None:
        rows = [{"figure": "(not in the table)", "result": "-", "note": f"{name}{SUFFIX} defines no table_rows()"}]
    else:
        rows = table_rows(quick)
    print(ROWS_MARK + json.dumps(rows), flush=True)


def run_one(name: str, quick: bool) -> tuple[list[dict[str, Any]], float]:
    started = time.monotonic()
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name] + (["--quick"] if quick else [])
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
    elapsed = time.monotonic() - started
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(ROWS_MARK):
            return json.loads(line.removeprefix(ROWS_MARK)), elapsed
    last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return [{"figure": "(failed)", "result": "-", "note": last[:200]}], elapsed


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def machine() -> str:
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = cores
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if "model name" in ln), "")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{cores} cores ({usable} usable){', ' + model if model else ''}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; load average at the start {load} (other jobs share the machine)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, to check the wiring")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these benchmarks only (e.g. render dispatch)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.quick)
        return
    names = discover()
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        parser.error(f"no such benchmark: {', '.join(unknown)} (there are: {', '.join(names)})")
    chosen = [n for n in names if not args.only or n in args.only]
    command = "python benchmarks/run_all.py" + (" --quick" if args.quick else "")
    if args.only:
        command += " --only " + " ".join(args.only)
    print(f"Command: `{command}`  ")
    print(f"Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  ")
    print(f"Machine: {machine()}")
    print()
    print("| benchmark | figure | result | side by side | note |")
    print("| --- | --- | --- | --- | --- |")
    for name in chosen:
        rows, elapsed = run_one(name, args.quick)
        for row in rows:
            cells = [name, row.get("figure", ""), row.get("result", ""), row.get("ratio", ""), row.get("note", "")]
            print("| " + " | ".join(_cell(c) for c in cells) + " |", flush=True)
        print(f"| {name} | (benchmark wall time) | {elapsed:.0f} s | | |", flush=True)


if __name__ == "__main__":
    main()
