"""SendGrid request bodies: a hand-written JSON splice against orjson over the built dict, next to the claim.

    python benchmarks/sendgrid_body_benchmark.py                       # 1M recipients, SQLite
    python benchmarks/sendgrid_body_benchmark.py --size 200000 --databases sqlite postgresql

One run, one process, the sample edition rendered for real. Per million recipients:

* ``orjson.dumps(to_sendgrid_request(...))``: the body the backend posts (the
  builder's dict, serialized by :func:`serialize_request`);
* the splice: the personalization's JSON cut once per request from that same
  output and filled in per recipient with string formatting: the fast path the
  backend had until this measurement decided against it (docs/SENDING.md), kept
  here, working, so the decision can be measured again. Timed against the same
  recipients, batch by batch in turn with the builder, so both see the same
  machine; each batch's splice is checked equal to the builder's text;
* the claim: the send's own claim loop (``Dispatcher.claim_next``: keyset read,
  ``INSERT ... SELECT`` into the ledger, commit, tokens) over the same number of
  subscribers; the rows are deleted afterwards.

It prints the seconds per million of each, the splice's saving, and that saving
as a share of the claim. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import operator
import random
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import orjson  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from dispatch_benchmark import API_KEY, POSTGRES_URL, REGION, SECRET, _insert_subscribers  # noqa: E402
from sqlmodel import col  # noqa: E402

from newsletter.config import load_settings  # noqa: E402
from newsletter.content.loading import SAMPLES, load_content_dir  # noqa: E402
from newsletter.db.engine import make_engine, migrate, session_scope  # noqa: E402
from newsletter.db.models import Delivery  # noqa: E402
from newsletter.delivery.base import MessageContent, Recipient  # noqa: E402
from newsletter.delivery.sendgrid import SendGridBackend  # noqa: E402
from newsletter.delivery.sendgrid_payload import plan_requests, serialize_request, to_sendgrid_request  # noqa: E402
from newsletter.editions.lifecycle import approve_edition, region_today  # noqa: E402
from newsletter.send.loop import Dispatcher  # noqa: E402
from newsletter.subscribers.tokens import ManageTokens  # noqa: E402

MILLION = 1_000_000
_EMAIL, _TOKEN, _LEDGER = "\x00email\x00", "\x00token\x00", 7_340_031_999_999_999_997


def _escaped(text: str) -> str:
    """``text`` as it appears inside a JSON string written by orjson."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text  # printable ASCII other than quote and backslash is written as it is
    return orjson.dumps(text).decode("utf-8")[1:-1]


def splice_body(content: MessageContent, recipients: Sequence[Recipient]) -> str:
    """The splice: one personalization rendered with marks, cut there, filled per recipient.

    The token appears twice: as it is (substitution, one-click URL) and percent-encoded
    (the mailto subject), so both forms are marks; every benchmark recipient has a ledger id.
    """
    probe = Recipient(_EMAIL, _TOKEN, _LEDGER)
    marks = [_escaped(_EMAIL), _escaped(_TOKEN), str(_LEDGER), quote(_TOKEN, safe="")]
    one = serialize_request(to_sendgrid_request(content, [probe]))
    head_end = one.index('"personalizations":[') + len('"personalizations":[')
    tail_start = one.index('],"from":')
    pieces = re.split("(" + "|".join(re.escape(m) for m in marks) + ")", one[head_end:tail_start])
    template = "%s".join(text.replace("%", "%%") for text in pieces[::2])
    pick: Callable[[tuple[str, ...]], Any] = operator.itemgetter(*[marks.index(m) for m in pieces[1::2]])
    parts = [
        template % pick((_escaped(r.email), _escaped(r.token), str(r.ledger_id), _escaped(quote(r.token, safe=""))))
        for r in recipients
    ]
    return f"{one[:head_end]}{','.join(parts)}{one[tail_start:]}"


def time_bodies(content: MessageContent, count: int) -> dict[str, float]:
    """Seconds over ``count`` recipients for each way, batch by batch in turn."""
    tokens = ManageTokens(SECRET.encode())
    spent = {"builder": 0.0, "splice": 0.0}
    for start in range(0, count, 1000):
        batch = [Recipient(f"bench{i}@example.org", tokens(i, 1), i) for i in range(start, min(count, start + 1000))]
        for unit in plan_requests(content, batch):
            t0 = time.perf_counter()
            posted = serialize_request(to_sendgrid_request(content, unit)).encode("utf-8")
            t1 = time.perf_counter()
            spliced = splice_body(content, unit).encode("utf-8")
            t2 = time.perf_counter()
            if spliced != posted:
                raise SystemExit("the splice and the builder disagree: the comparison would be meaningless")
            spent["builder"] += t1 - t0
            spent["splice"] += t2 - t1
    return spent


def time_claims(engine: sa.Engine, content: MessageContent, edition_id: int, settings: Any) -> tuple[float, int]:
    """The send's claim loop over the whole list (no bodies, no POST); the rows are deleted afterwards."""
    backend = SendGridBackend(API_KEY, host="http://127.0.0.1:9", timeout=1)  # never called
    dispatcher = Dispatcher(
        engine,
        settings,
        backend,
        content,
        should_stop=lambda: False,
        sleep=time.sleep,
        rng=random.Random(0),
        progress=None,
    )
    started, after, claimed = time.perf_counter(), 0, 0
    while batch := dispatcher.claim_next(edition_id, REGION, after):
        recipients, after = batch
        dispatcher._subscriber_of.clear()  # nothing is recorded here; keep the map from growing
        claimed += len(recipients)
    elapsed = time.perf_counter() - started
    with engine.begin() as connection:
        connection.execute(sa.delete(Delivery).where(col(Delivery.edition_id) == edition_id))
    return elapsed, claimed


def run(database: str, size: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="sendgrid-body-bench-"))
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = None
    if database == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as connection:
            connection.execute(sa.text(f'create schema "{schema}"'))
        url = (
            sa.make_url(POSTGRES_URL)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    engine = make_engine(url)
    try:
        migrate(engine)
        settings = load_settings(_env_file=None, secret_key=SECRET, database_url=url, backend="outbox", batch_size=1000)
        content_dir = workdir / "content"
        shutil.copytree(SAMPLES, content_dir)
        (content_dir / "subscribers.yaml").unlink()
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            load_content_dir(session, content_dir)
        with session_scope(engine) as session:
            rendered = approve_edition(session, settings, REGION, region_today(session, REGION, now=now), now=now)
        content = MessageContent(
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            sender_name=settings.sender_name,
            sender_address=settings.sender_address,
            base_url=settings.base_url,
            unsubscribe_mailto=settings.unsubscribe_mailto,
            edition_id=rendered.edition_id,
            region_code=REGION,
            campaign=rendered.campaign,
        )
        _insert_subscribers(engine, size)
        bodies = time_bodies(content, size)
        claim_s, claimed = time_claims(engine, content, rendered.edition_id, settings)
    finally:
        engine.dispose()
        if admin is not None:
            with admin.begin() as connection:
                connection.execute(sa.text(f'drop schema "{schema}" cascade'))
            admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

    def per_million(seconds: float, n: int = size) -> float:
        return seconds * MILLION / n

    builder, splice = per_million(bodies["builder"]), per_million(bodies["splice"])
    claim = per_million(claim_s, claimed)
    saving = builder - splice
    print(f"\n{database}, {size:,} recipients (rendered HTML {len(content.html):,} bytes), seconds per million")
    print(f"  {'orjson.dumps(to_sendgrid_request(...))':<44}{builder:>8.2f}")
    print(f"  {'hand-written splice':<44}{splice:>8.2f}   builder / splice = {builder / splice:.2f}")
    print(f"  {'ledger claim (read + claim + commit + tokens)':<44}{claim:>8.2f}   {claimed:,} claimed")
    share = f"{saving / claim:.0%} of the claim, {saving / (claim + builder):.0%} of claim + builder"
    print(f"  the splice saves {saving:.2f} s per million: {share}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=MILLION, help="recipients (and subscribers to claim)")
    parser.add_argument("--databases", nargs="+", default=["sqlite"], help="sqlite, postgresql or both")
    args = parser.parse_args()
    for database in args.databases:
        run(database, args.size)


if __name__ == "__main__":
    main()
