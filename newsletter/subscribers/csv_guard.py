"""The spreadsheet formula guard on exported CSV values, and its exact undoing on import.

A spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or
carriage return before one) as a formula, so a subscriber's name such as
``=HYPERLINK(...)`` would run on the list manager's machine. The usual guard is a
single quote in front, which the spreadsheet shows as text. Valid addresses may begin
with ``=``, ``+`` or ``-`` too, so both the email and the name columns are guarded.

The guard is reversible: a value already beginning with quotes before such a character
gets one more, and the import takes exactly one off, so export then import changes nothing.
"""

from __future__ import annotations

import re

_TRIGGERS = "=+-@\t\r"
_NEEDS_GUARD = re.compile(f"'*[{re.escape(_TRIGGERS)}]")
_GUARDED = re.compile(f"'+[{re.escape(_TRIGGERS)}]")


def guard(value: str) -> str:
    """``value`` as safe to open in a spreadsheet: a quote in front when it could be a formula."""
    return "'" + value if _NEEDS_GUARD.match(value) else value


def unguard(value: str) -> str:
    """The value :func:`guard` was given: one leading quote taken off a guarded value."""
    # startswith first: almost no value begins with a quote, and a million rows pass here.
    return value[1:] if value.startswith("'") and _GUARDED.match(value) else value
