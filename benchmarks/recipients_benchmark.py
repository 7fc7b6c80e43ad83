"""Per-recipient preparation: ours (one HTML, a token per recipient) against a full HTML copy per recipient.

    python benchmarks/recipients_benchmark.py [--sizes 100000 1000000] [--naive 20000]

Ours is what a SendGrid send does for each batch of 1,000: a signed token per recipient
(``ManageTokens``), the requests planned (``plan_requests``) and each posted body written
(``to_sendgrid_request``, serialized by ``serialize_request``): the edition's HTML once per request, the token as a
substitution. The naive way fills the token into a full copy of the HTML and text for
every recipient (``personalise``) and writes one request body per recipient around it.

Each (way, size) runs in a child process of its own, so its peak memory (max RSS) is
its own: ours must stay flat from 100k to 1M (within 16 MB). Each child sets the garbage
collector up as a queue worker does (``newsletter.collector``), whichever way it measures. The naive way is timed on
``--naive`` recipients and scaled to each size (labelled so): it is linear, and a
million full copies would take minutes. Figures are printed, never asserted.

Beside them, the hand-written JSON splice the SendGrid backend once had (docs/SENDING.md,
"no hand-written JSON splice"): one personalization's JSON cut from the builder's output
and filled in per recipient by string formatting. It is timed against
``serialize_request(to_sendgrid_request(...))`` over the same recipients, batch by batch
in turn so both see the same machine, each splice checked equal to the builder's text,
so the decision can be measured again.
"""

from __future__ import annotations

import argparse
import json
import operator
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import orjson  # noqa: E402

from newsletter.collector import spare_for_sending  # noqa: E402
from newsletter.delivery.base import MessageContent, Recipient, personalise  # noqa: E402
from newsletter.delivery.sendgrid_payload import plan_requests, serialize_request, to_sendgrid_request  # noqa: E402
from newsletter.subscribers.tokens import ManageTokens  # noqa: E402

SECRET = b"benchmark-secret-key-0123456789-abcdefghij"
BATCH = 1000
MEMORY_TARGET_MB = 16.0


def _content() -> MessageContent:
    """The dc sample edition as the backend sees it."""
    from render_benchmark import seeded_editions  # the six sample editions, rendered

    _, rendered, _, _ = seeded_editions(1)
    edition = rendered[0]
    return MessageContent(
        subject=edition.subject,
        html=edition.html,
        text=edition.text,
        sender_name="The Morning Wire",
        sender_address="editions@news.example.com",
        base_url="https://news.example.com",
        unsubscribe_mailto="unsubscribe@news.example.com",
        edition_id=edition.edition_id,
        region_code=edition.region_code,
        campaign=edition.campaign,
    )


def ours(content: MessageContent, count: int) -> int:
    """Bytes of request bodies made for ``count`` recipients, batch by batch (nothing kept)."""
    tokens, made = ManageTokens(SECRET), 0
    for start in range(0, count, BATCH):
        batch = [Recipient(f"r{i}@example.org", tokens(i, 1), i) for i in range(start, min(count, start + BATCH))]
        for unit in plan_requests(content, batch):
            made += len(serialize_request(to_sendgrid_request(content, unit)).encode("utf-8"))
    return made


def naive(content: MessageContent, count: int) -> int:
    """The same recipients, each with a full personalised copy and a request body of its own."""
    tokens, made = ManageTokens(SECRET), 0
    for i in range(count):
        recipient = Recipient(f"r{i}@example.org", tokens(i, 1), i)
        copy = personalise(content, recipient)
        body = {
            "personalizations": [{"to": [{"email": recipient.email}], "headers": copy.headers}],
            "from": {"email": content.sender_address, "name": content.sender_name},
            "subject": copy.subject,
            "content": [{"type": "text/plain", "value": copy.text}, {"type": "text/html", "value": copy.html}],
        }
        made += len(orjson.dumps(body))
    return made


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


def bodies(content: MessageContent, count: int) -> dict[str, float]:
    """Seconds spent writing request bodies for ``count`` recipients, the builder and the splice in turn."""
    tokens = ManageTokens(SECRET)
    spent = {"builder": 0.0, "splice": 0.0}
    for start in range(0, count, BATCH):
        batch = [Recipient(f"r{i}@example.org", tokens(i, 1), i) for i in range(start, min(count, start + BATCH))]
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


def run_case(way: str, count: int) -> dict[str, float]:
    content = _content()
    spare_for_sending()  # the collector's settings of a queue worker, whichever way is measured
    if way == "bodies":
        return bodies(content, count)
    work = ours if way == "ours" else naive
    started, cpu_started = time.perf_counter(), time.process_time()
    made = work(content, count)
    return {
        "seconds": time.perf_counter() - started,
        # The two ways run one after the other, so other work on a shared machine can slow
        # one and not the other; CPU time is much less swayed by it, and is given beside.
        "cpu_seconds": time.process_time() - cpu_started,
        "bytes": made,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(way: str, count: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--case", f"{way}:{count}"], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def table_rows(
    quick: bool, sizes: tuple[int, ...] = (100_000, 1_000_000), naive_count: int = 20_000
) -> list[dict[str, str]]:
    """run_all.py's rows: ours at each size, the naive way scaled to it, the ratio, and peak memory."""
    if quick:
        sizes, naive_count = (10_000, 100_000), 2_000
    base = _child("naive", naive_count)
    rows, peaks = [], {}
    for size in sizes:
        mine = _child("ours", size)
        peaks[size] = mine["peak_mb"]
        scaled = base["seconds"] * size / naive_count
        scaled_cpu = base["cpu_seconds"] * size / naive_count
        rows.append(
            {
                "figure": f"per-recipient preparation, {size:,} recipients",
                "result": f"{mine['seconds']:.2f} s ({size / mine['seconds']:,.0f}/s)",
                "ratio": f"{scaled / mine['seconds']:.0f}x faster than naive "
                f"({scaled:.0f} s, scaled from {naive_count:,}); by CPU time "
                f"{scaled_cpu / mine['cpu_seconds']:.1f}x",
                "note": f"tokens + planned requests + posted JSON; {mine['bytes'] / 1e6:,.0f} MB of bodies "
                f"(naive: {base['bytes'] * size / naive_count / 1e9:,.1f} GB)",
            }
        )
    splice_count = 10_000 if quick else 200_000
    spent = _child("bodies", splice_count)
    per_million = 1_000_000 / splice_count
    rows.append(
        {
            "figure": "request bodies: builder vs hand-written splice, per 1M",
            "result": f"builder {spent['builder'] * per_million:.2f} s",
            "ratio": f"splice {spent['splice'] * per_million:.2f} s; "
            f"builder / splice = {spent['builder'] / spent['splice']:.2f}",
            "note": f"{splice_count:,} recipients, in turn batch by batch, each splice checked equal to the "
            "builder's JSON; the backend posts the builder's (docs/SENDING.md)",
        }
    )
    spread = max(peaks.values()) - min(peaks.values())
    rows.append(
        {
            "figure": "peak memory (max RSS), ours",
            "result": ", ".join(f"{size:,}: {mb:.0f} MB" for size, mb in peaks.items()),
            "ratio": f"spread {spread:.0f} MB",
            "note": f"target: flat within {MEMORY_TARGET_MB:.0f} MB; {'ok' if spread <= MEMORY_TARGET_MB else 'MISS'}",
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--naive", type=int, default=20_000, help="recipients the naive way is timed on")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: "way:count", run in a child
    args = parser.parse_args()
    if args.case:
        way, count = args.case.split(":")
        print(json.dumps(run_case(way, int(count))))
        return
    for row in table_rows(False, tuple(args.sizes), args.naive):
        print(f"{row['figure']:<44} {row['result']:<28} {row.get('ratio', ''):<52} {row['note']}")


if __name__ == "__main__":
    main()
