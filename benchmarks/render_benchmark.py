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
"""

from __future__ import annotations

import argparse
import statistics
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
from newsletter.render.edition import compile_mjml, render_edition, render_mjml  # noqa: E402
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


def row(label: str, samples: list[float], per: int, unit: str) -> str:
    median, best = statistics.median(samples), min(samples)
    return f"{label:<34} {median * 1000:>9.2f} {best * 1000:>9.2f} {median * 1000 / per:>10.2f}  {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--recipients", type=int, default=20_000)
    args = parser.parse_args()

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
                session.rollback()  # keep every round a first assembly

        assembled = timed(args.rounds, assemble_and_render)

        with session_scope(engine) as session:
            rendered = [prepare_edition(session, settings, code, EDITION_DATE, now=NOW) for code in codes]
            snapshots = [session.get(Edition, r.edition_id).snapshot for r in rendered]  # type: ignore[union-attr]
        contents = [EditionContent.from_snapshot(s) for s in snapshots if s is not None]
        sources = [render_mjml(c) for c in contents]

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
        engine.dispose()

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
