"""What ``newsletter status`` prints beyond its first lines: failures by reason, and its JSON document."""

from __future__ import annotations

from typing import Any

from newsletter.db.models import DeliveryState
from newsletter.send.service import EditionSendStatus


def failure_lines(view: EditionSendStatus) -> list[str]:
    """The failed recipients grouped by the provider's reason: a count and a few addresses each."""
    failed = view.counts[DeliveryState.FAILED]
    if not failed:
        return []
    lines = [f"  {failed} failed, by the provider's reason:"]
    for group in view.failures:
        more = group.count - len(group.examples)
        addresses = ", ".join(group.examples) + (f" and {more} more" if more else "")
        lines.append(f"    {group.count:>6}  {group.reason or '(no reason recorded)'}: {addresses}")
    rest = failed - sum(group.count for group in view.failures)
    if rest:
        lines.append(f"    {rest:>6}  with other reasons")
    return lines


def status_document(view: EditionSendStatus) -> dict[str, Any]:
    """``status --json``: the same facts as the text, with stable keys."""
    return {
        "region": view.region_code,
        "local_date": view.local_date,
        "edition_id": view.edition_id,
        "status": view.status,
        "note": view.note,
        "ledger": view.counts,
        "failures": [
            {"reason": group.reason, "count": group.count, "examples": group.examples} for group in view.failures
        ],
        "unresolved_total": view.unresolved_total,
        "unresolved": [
            {
                "delivery_id": row.delivery_id,
                "email": row.email,
                "state": row.state,
                "claimed_at": row.claimed_at,
                "last_error": row.last_error,
            }
            for row in view.unresolved
        ],
        "events": {
            "wait_minutes": int(view.event_wait.total_seconds() // 60),
            "accepted": view.events.accepted,
            "waiting": view.events.waiting,
            "without_events": view.events.without_events,
            "resolved": view.events.resolved,
        },
    }
