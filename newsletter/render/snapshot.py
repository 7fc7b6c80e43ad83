"""What an edition says, as plain frozen values: the input of rendering and its snapshot.

:mod:`newsletter.editions.lifecycle` builds an :class:`EditionContent` from the database;
:mod:`newsletter.render.edition` turns it into HTML and text without touching the
database. Its JSON form is stored on the edition row, so an approved or sent
edition re-renders from what was approved, never from stories edited since.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class SourceRef:
    name: str
    url: str | None = None


@dataclass(frozen=True)
class SignalBlock:
    headline: str
    body: str
    sources: tuple[SourceRef, ...] = ()


@dataclass(frozen=True)
class StoryBlock:
    slug: str
    headline: str
    summary: str
    body: str
    byline: str
    canonical_url: str
    image_url: str | None
    image_alt: str
    image_credit: str
    language: str
    updated_at: datetime  # aware UTC; shown in the region's zone
    signals: tuple[SignalBlock, ...] = ()


@dataclass(frozen=True)
class AdBlock:
    slug: str
    sponsor: str
    headline: str
    body: str
    link: str
    image_url: str | None = None
    image_alt: str = ""
    cta: str = ""  # the call to action's words; "" shows the default (snapshots before it had none)


@dataclass(frozen=True)
class RegionRef:
    code: str
    short_label: str
    name: str


# Keys stored beside the content in a snapshot, not part of what renders:
# "assembled_at" is the instant the stories were chosen (ISO, UTC); the next
# edition's window starts there (see assembly).
SNAPSHOT_EXTRAS = frozenset({"version", "assembled_at"})


def assembled_at(data: dict[str, Any]) -> datetime | None:
    """When a snapshot's stories were chosen; None for snapshots stored before it was recorded."""
    value = data.get("assembled_at")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class EditionContent:
    """Everything one edition renders from, including the footer's sender details."""

    region_code: str
    region_name: str
    edition_name: str
    timezone: str
    language: str
    local_date: date
    subject: str
    preheader: str
    regions: tuple[RegionRef, ...]
    items: tuple[StoryBlock | AdBlock, ...]
    base_url: str
    sender_name: str
    postal_address: str
    # The edition's From display name (regions.yaml sender_name, else "<publication> <region>");
    # "" in snapshots made before it existed, which send as sender_name.
    from_name: str = ""

    @property
    def stories(self) -> list[StoryBlock]:
        return [item for item in self.items if isinstance(item, StoryBlock)]

    @property
    def ads(self) -> list[AdBlock]:
        return [item for item in self.items if isinstance(item, AdBlock)]

    def to_snapshot(self) -> dict[str, Any]:
        """A JSON-safe dict (dates as ISO text, items tagged by kind)."""
        data = asdict(self)
        data["local_date"] = self.local_date.isoformat()
        data["items"] = [_item_to_json(item) for item in self.items]
        data["version"] = SNAPSHOT_VERSION
        return data

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> EditionContent:
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported edition snapshot version {data.get('version')!r}")
        fields = {k: v for k, v in data.items() if k not in SNAPSHOT_EXTRAS}
        fields["local_date"] = date.fromisoformat(data["local_date"])
        fields["regions"] = tuple(RegionRef(**r) for r in data["regions"])
        fields["items"] = tuple(_item_from_json(item) for item in data["items"])
        return cls(**fields)


def _item_to_json(item: StoryBlock | AdBlock) -> dict[str, Any]:
    data = asdict(item)
    if isinstance(item, StoryBlock):
        data["updated_at"] = item.updated_at.isoformat()
        return {"kind": "story", **data}
    return {"kind": "ad", **data}


def _item_from_json(data: dict[str, Any]) -> StoryBlock | AdBlock:
    fields = {k: v for k, v in data.items() if k != "kind"}
    if data["kind"] == "ad":
        return AdBlock(**fields)
    fields["updated_at"] = datetime.fromisoformat(data["updated_at"])
    fields["signals"] = tuple(
        SignalBlock(s["headline"], s["body"], tuple(SourceRef(**src) for src in s["sources"])) for s in data["signals"]
    )
    return StoryBlock(**fields)
