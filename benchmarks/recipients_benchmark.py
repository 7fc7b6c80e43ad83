"""Per-recipient preparation: ours (one HTML, a token per recipient) against a full HTML copy per recipient.

    python benchmarks/recipients_benchmark.py [--sizes 100000 1000000] [--naive 20000]

Ours is what a SendGrid send does for each batch of 1,000: a signed token per recipient
(``ManageTokens``), the requests planned (``plan_requests``) and each posted body written
(``to_sendgrid_request``, serialized by ``serialize_request``): the edition's HTML once per request, the token as a
substitution. The naive way fills the token into a full copy of the HTML and text for
every recipient (``personalise``) and writes one request body per recipient around it.

Each (way, size) runs in a child process of its own, so its peak memory (max RSS) is
its own: ours must stay flat from 100k to 1M (within 16 MB). The naive way is timed on
``--naive`` recipients and scaled to each size (labelled so): it is linear, and a
million full copies would take minutes. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import orjson  # noqa: E402

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


def run_case(way: str, count: int) -> dict[str, float]:
    content = _content()
    work = ours if way == "ours" else naive
    started = time.perf_counter()
    made = work(content, count)
    return {
        "seconds": time.perf_counter() - started,
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
        rows.append(
            {
                "figure": f"per-recipient preparation, {size:,} recipients",
                "result": f"{mine['seconds']:.2f} s ({size / mine['seconds']:,.0f}/s)",
                "ratio": f"{scaled / mine['seconds']:.0f}x faster than naive "
                f"({scaled:.0f} s, scaled from {naive_count:,})",
                "note": f"tokens + planned requests + posted JSON; {mine['bytes'] / 1e6:,.0f} MB of bodies "
                f"(naive: {base['bytes'] * size / naive_count / 1e9:,.1f} GB)",
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
