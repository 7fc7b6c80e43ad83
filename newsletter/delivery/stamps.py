"""The ids stamped on every outgoing message, so provider events join our ledger.

A message carries its ledger row id (``Delivery.id``) and its edition id: as
``X-Newsletter-…`` headers in every backend, and for SendGrid also as
``custom_args``, which SendGrid copies into each event it posts back. The names
and the one accepted spelling of a ledger id live here, where delivery writes
them; :mod:`newsletter.events` reads them back with :func:`read_ledger_id`.
"""

from __future__ import annotations

import re
from typing import Any

LEDGER_HEADER = "X-Newsletter-Delivery-Id"
EDITION_HEADER = "X-Newsletter-Edition-Id"

# The custom_args keys the event webhook joins on: part of our interface, not SendGrid's.
LEDGER_ARG = "delivery_id"
EDITION_ARG = "edition_id"
REGION_ARG = "region"

_MAX_ID = 2**63 - 1  # BIGINT; a larger id would make the IN (...) query fail the batch
_ID_TEXT = re.compile(r"[0-9]{1,18}")  # ASCII only: str.isdigit() also accepts "²"


def ledger_stamp(ledger_id: int) -> str:
    """A ledger id as it is written in a header or custom arg."""
    return str(ledger_id)


def read_ledger_id(value: Any) -> int | None:
    """A ledger id we could have stamped, or None (treated as absent, never fatal).

    Accepts our own spelling (decimal text) and a JSON number, since a provider
    may hand the value back either way.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if _ID_TEXT.fullmatch(text) is None:
            return None
        value = int(text)
    if isinstance(value, int) and 1 <= value <= _MAX_ID:
        return value
    return None
