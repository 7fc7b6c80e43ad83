"""Read a subscriber CSV as a stream of validated rows and bad rows, never all at once.

The file: UTF-8 with or without a byte-order mark, a header row naming at least
``email`` and ``regions`` (region codes separated by ``;``), optionally ``name``
and ``status``; other columns are ignored. Quoted fields may hold commas and line
breaks. Blank lines are skipped. Each row is checked on its own (the address's
syntax and normal form, known regions, a usable status and name); the export's
spreadsheet guard on emails and names (``csv_guard``) is taken off first. Duplicates
across the file are the importer's job, since finding them needs more than one row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from newsletter.addresses import InvalidAddress, normalise_email
from newsletter.db.models import SubscriberStatus
from newsletter.errors import ListError
from newsletter.subscribers.bulk import WantedRow
from newsletter.subscribers.csv_guard import unguard

REQUIRED_COLUMNS = ("email", "regions")
OPTIONAL_COLUMNS = ("name", "status")
REGION_SEPARATOR = ";"
NAME_CHARS = 200

# The `status` column: empty, or one of these (case-insensitive). `active` and
# `pending` both mean "subscribe", as far as the import's mode allows: see importing.
_STATUSES = {status.value: status for status in SubscriberStatus}


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


def duplicate_of(line: int, first: int) -> BadRow:
    """A row whose address was already on line ``first`` (which is the one imported)."""
    return BadRow(line, f"duplicate of line {first}")


class _CountingReader(io.RawIOBase):
    """A binary file that reports how many bytes were read (for the progress bar)."""

    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._on_bytes(len(data))
        return len(data)


def _header(row: Sequence[str], file: str) -> dict[str, int]:
    names = [name.strip().lower() for name in row]
    columns: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in columns and name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            raise ListError(f"{file}: the header names the column {name!r} twice")
        columns.setdefault(name, index)
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        found = ", ".join(repr(name) for name in names) or "nothing"
        raise ListError(f"{file}: the header row needs the columns email and regions (it has {found})")
    return columns


class RowChecker:
    """Turns one CSV record into a WantedRow or a BadRow."""

    def __init__(self, columns: dict[str, int], known_regions: set[str], subscribe_as: SubscriberStatus) -> None:
        self._email = columns["email"]
        self._regions = columns["regions"]
        self._name = columns.get("name")
        self._status = columns.get("status")
        self._width = len(columns)
        self._known = known_regions
        self._subscribe_as = subscribe_as

    @staticmethod
    def _field(record: Sequence[str], index: int | None) -> str:
        return record[index].strip() if index is not None and index < len(record) else ""

    def check(self, line: int, record: Sequence[str]) -> WantedRow | BadRow:
        if len(record) > self._width and any(value.strip() for value in record[self._width :]):
            return BadRow(line, f"{len(record)} fields, the header has {self._width} (an unquoted comma?)")
        raw_email = unguard(self._field(record, self._email))
        if not raw_email:
            return BadRow(line, "no email address")
        try:
            email = normalise_email(raw_email)
        except InvalidAddress as exc:
            return BadRow(line, f"invalid address {raw_email[:80]!r}: {exc}")
        status_text = self._field(record, self._status).lower()
        if status_text and status_text not in _STATUSES:
            return BadRow(line, f"unknown status {status_text[:40]!r} (use {', '.join(_STATUSES)})")
        status = self._wanted_status(_STATUSES.get(status_text))
        codes = self._codes(self._field(record, self._regions))
        if isinstance(codes, BadRow):
            return BadRow(line, codes.reason)
        if not codes and status in (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING):
            return BadRow(line, "no region")
        name = unguard(self._field(record, self._name))
        if len(name) > NAME_CHARS:
            return BadRow(line, f"name longer than {NAME_CHARS} characters")
        if not name.isprintable():
            return BadRow(line, "name holds control characters")
        return WantedRow(line, email, name or None, status, codes)

    def _codes(self, text: str) -> tuple[str, ...] | BadRow:
        """The distinct region codes of a `regions` field, in their order, or why not."""
        codes = tuple(dict.fromkeys(code.strip().lower() for code in text.split(REGION_SEPARATOR) if code.strip()))
        for code in codes:
            if code not in self._known:
                return BadRow(0, f"unknown region {code[:40]!r}")
        return codes

    def _wanted_status(self, given: SubscriberStatus | None) -> SubscriberStatus:
        """A suppression as given; otherwise the import's mode, never more than the row says."""
        if given is None or given is SubscriberStatus.ACTIVE:
            return self._subscribe_as
        return given  # PENDING, or a suppression carried over from another system


def read_rows(
    path: Path,
    *,
    known_regions: set[str],
    subscribe_as: SubscriberStatus,
    on_bytes: Callable[[int], None] = lambda _: None,
) -> Iterator[WantedRow | BadRow]:
    """Every data row of the file, checked, in order. ListError when the file itself is unusable."""
    file = path.name
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ListError(f"cannot read {path}: {exc.strerror or exc}") from None
    with raw, io.TextIOWrapper(io.BufferedReader(_CountingReader(raw, on_bytes)), "utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        checker: RowChecker | None = None
        last_line = 0
        try:
            while True:
                try:
                    record = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    yield BadRow(last_line + 1, f"unreadable CSV: {exc}")
                    last_line = reader.line_num
                    continue
                line, last_line = last_line + 1, reader.line_num
                if not any(value.strip() for value in record):
                    continue
                if checker is None:
                    checker = RowChecker(_header(record, file), known_regions, subscribe_as)
                    continue
                yield checker.check(line, record)
        except UnicodeDecodeError as exc:
            raise ListError(f"{file}: not UTF-8 text (near line {last_line + 1}: {exc.reason})") from None
    if checker is None:
        raise ListError(f"{file}: no header row (the file is empty)")
