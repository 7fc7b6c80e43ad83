"""Output for scripts: the shared ``--json`` option and the one way a command prints a JSON document.

Every reading command takes ``json_output: JsonOption = False`` and, when it is set, calls
``emit_json(document)`` instead of printing its table: one document on standard output,
keys as given (stable: build them from a fixed mapping or a dataclass), dates and times in
ISO 8601, enums as their values. Errors still go to standard error as one line with a
non-zero exit (cli/main.py), so a script reads either a document or a reason, never half.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated

import orjson
import typer

JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON document instead of the table")]


def _fallback(value: object) -> object:
    """What orjson does not know natively: paths and sets (sorted, so output is stable)."""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(document: object) -> str:
    """``document`` as indented JSON text.

    orjson writes dataclasses, dates, aware datetimes (ISO 8601 with offset) and enums
    (their value) itself; ``OPT_NON_STR_KEYS`` lets a ``dict[DeliveryState, int]`` keep
    its enum keys as their values.
    """
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(document, default=_fallback, option=options).decode("utf-8")


def emit_json(document: object) -> None:
    """Print ``document`` as one JSON document on standard output."""
    typer.echo(to_json(document))
