"""Render benchmark: assemble and render the six seed editions, and fill per-recipient tokens.

    python benchmarks/render_benchmark.py [--rounds N] [--recipients N]

Seeds a throwaway SQLite database, then times, in this one process:

* assemble + render: ``prepare_edition`` for all six regions (queries, Markdown,
  Jinja2, MJML), rolled back after each round so every round does the full work;
* render only: the same six editions from their stored snapshots (no database);
* MJML compile only: the engine's share of that;
* per-recipient fill: the delivery path's ``personalise`` (token substitution in
  HTML and text, plus List-Unsubscribe headers) with real signed tokens.

Target from the issue: all six editions rendered in under 25 ms in total on one core.

For ``run_all.py``, :func:`table_rows` sets the in-process render beside the baseline of
compiling each edition's MJML in a node subprocess with the reference ``mjml`` package
(benchmarks/node, installed there by npm on first use).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from sqlmodel import Session  # noqa: E402

from newsletter.config import load_settings  # noqa: E402
from newsletter.content.loading import SAMPLES, load_content_dir  # noqa: E402
from newsletter.db.engine import make_engine, migrate, session_scope  # noqa: E402
from newsletter.db.models import Edition  # noqa: E402
from newsletter.db.queries import regions_in_order  # noqa: E402
from newsletter.delivery.base import MessageContent, Recipient, personalise  # noqa: E402
from newsletter.editions.lifecycle import prepare_edition  # noqa: E402
from newsletter.render.edition import RenderedEdition, compile_mjml, render_edition, render_mjml  # noqa: E402
from newsletter.render.snapshot import EditionContent  # noqa: E402
from newsletter.subscribers.tokens import manage_token  # noqa: E402

EDITION_DATE = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SECRET = "benchmark-secret-key-0123456789-abcdefghij"


def timed(rounds: int, work: Callable[[], None]) -> list[float]:
    """Seconds per round, after one warm-up round (template compilation, caches)."""
    work()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return samples


NODE_DIR = Path(__file__).resolve().parent / "node"


def node_compiler() -> str | None:
    """Install the reference compiler (benchmarks/node) if need be; None when it is ready, else why not."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node or npm not installed"
    if not (NODE_DIR / "node_modules" / "mjml").is_dir():
        install = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, capture_output=True, text=True
        )
        if install.returncode != 0:
            return f"npm install mjml failed: {(install.stderr.strip().splitlines() or ['?'])[-1]}"
    return None


def node_compile(source: str) -> str:
    """One edition compiled the baseline's way: a node process with the reference MJML compiler."""
    done = subprocess.run(
        ["node", str(NODE_DIR / "compile_mjml.js")], input=source, capture_output=True, text=True, check=True
    )
    return done.stdout


def seeded_editions(rounds: int) -> tuple[list[float], list[RenderedEdition], list[EditionContent], list[str]]:
    """A throwaway SQLite database with the samples: assemble + render timings, the six renderings,
    their snapshots and their MJML sources."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        settings = load_settings(secret_key=SECRET, database_url=url, _env_file=None)
        engine = make_engine(url)
        migrate(engine)
        with session_scope(engine) as session:
            load_content_dir(session, SAMPLES)
            codes = [region.code for region in regions_in_order(session)]

        def assemble_and_render() -> None:
            with Session(engine) as session:
                for code in codes:
                    prepare_edition(session, settings, code, EDITION_DATE, now=NOW)
                session.rollback()

        assembled = timed(rounds, assemble_and_render)
        with session_scope(engine) as session:
            rendered = [prepare_edition(session, settings, code, EDITION_DATE, now=NOW) for code in codes]
            snapshots = [session.get(Edition, r.edition_id).snapshot for r in rendered]  # type: ignore[union-attr]
        engine.dispose()
    contents = [EditionContent.from_snapshot(s) for s in snapshots if s is not None]
    return assembled, rendered, contents, [render_mjml(c) for c in contents]


def table_rows(quick: bool) -> list[dict[str, str]]:
    """run_all.py's rows: the six editions in-process, against a node subprocess per edition."""
    rounds = 5 if quick else 30
    assembled, _, contents, sources = seeded_editions(rounds)
    in_process = statistics.median(timed(rounds, lambda: [render_edition(c, edition_id=1) for c in contents] and None))
    mjml_only = statistics.median(timed(rounds, lambda: [compile_mjml(s) for s in sources] and None))
    rows = [
        {
            "figure": "render all six editions, in-process",
            "result": f"{in_process * 1000:.1f} ms",
            "note": f"target < 25 ms; MJML compile {mjml_only * 1000:.1f} ms of it; median of {rounds}",
        },
        {
            "figure": "assemble + render all six (SQLite)",
            "result": f"{statistics.median(assembled) * 1000:.1f} ms",
            "note": "queries, Markdown, Jinja2, MJML",
        },
    ]
    problem = node_compiler()
    if problem is not None:
        rows.append({"figure": "baseline: node subprocess per edition", "result": "not measured", "note": problem})
        return rows

    def baseline() -> None:
        for content in contents:  # the same work, the compile handed to node: Jinja2 here, MJML there
            node_compile(render_mjml(content))

    node_rounds = 2 if quick else 5
    node = statistics.median(timed(node_rounds, baseline))
    rows.append(
        {
            "figure": "baseline: mjml 4.15.3 in a node subprocess per edition",
            "result": f"{node * 1000:.0f} ms",
            "ratio": f"{node / in_process:.0f}x slower",
            "note": f"Jinja2 in-process, then `node` per edition; median of {node_rounds}",
        }
    )
    return rows


def row(label: str, samples: list[float], per: int, unit: str) -> str:
    median, best = statistics.median(samples), min(samples)
    return f"{label:<34} {median * 1000:>9.2f} {best * 1000:>9.2f} {median * 1000 / per:>10.2f}  {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--recipients", type=int, default=20_000)
    args = parser.parse_args()

    settings = load_settings(secret_key=SECRET, database_url="sqlite://", _env_file=None)
    assembled, rendered, contents, sources = seeded_editions(args.rounds)
    codes = [r.region_code for r in rendered]
    render_only = timed(args.rounds, lambda: [render_edition(c, edition_id=1) for c in contents] and None)
    mjml_only = timed(args.rounds, lambda: [compile_mjml(s) for s in sources] and None)

    edition = rendered[0]
    message = MessageContent(
        subject=edition.subject,
        html=edition.html,
        text=edition.text,
        sender_name=settings.sender_name,
        sender_address=settings.sender_address,
        base_url=settings.base_url,
        unsubscribe_mailto=settings.unsubscribe_mailto,
        edition_id=edition.edition_id,
        campaign=edition.campaign,
    )
    recipients = [
        Recipient(f"reader{i}@example.com", manage_token(settings.secret, i, 1), ledger_id=i)
        for i in range(1, args.recipients + 1)
    ]
    start = time.perf_counter()
    total_bytes = 0
    for recipient in recipients:
        copy = personalise(message, recipient)
        total_bytes += len(copy.html) + len(copy.text)
    fill_seconds = time.perf_counter() - start

    sizes = ", ".join(f"{r.region_code} {len(r.html.encode()) / 1024:.1f}" for r in rendered)
    print(
        f"Render benchmark: {len(codes)} seed editions, {args.rounds} rounds, one process,"
        f" Python {sys.version.split()[0]}"
    )
    print(f"HTML size (KB): {sizes}")
    print()
    print(f"{'step':<34} {'median ms':>9} {'best ms':>9} {'ms/edition':>10}")
    print("-" * 70)
    print(row("assemble + render, all six", assembled, len(codes), "(SQLite, includes queries)"))
    print(row("render only, all six", render_only, len(codes), "(target: < 25 ms total)"))
    print(row("  of which MJML compile", mjml_only, len(codes), ""))
    print()
    rate = len(recipients) / fill_seconds
    print(
        f"{'per-recipient fill (personalise)':<34} {rate:>12,.0f} recipients/s  "
        f"({len(recipients):,} copies of {edition.campaign}, {fill_seconds * 1000:.0f} ms, "
        f"{total_bytes / fill_seconds / 1e6:,.0f} MB/s)"
    )
    verdict = "met" if statistics.median(render_only) < 0.025 else "NOT met"
    print(f"\nTarget all six rendered in < 25 ms: {verdict} (median {statistics.median(render_only) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
