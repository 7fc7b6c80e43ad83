"""The OpenAPI description's shapes. Requests are validated by the content rules themselves
(:func:`newsletter.content.files.check_story`); these models only describe them and the answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from newsletter.content.files import SLUG, AdIn, StoryIn
from newsletter.db.models import EditionStatus

Slug = Annotated[str, Field(pattern=SLUG, max_length=120)]


class StoryRecord(StoryIn):
    """A story as read; the same object can be written back (the read-only fields are ignored)."""

    modified_at: datetime = Field(description="read-only: when it last changed")
    etag: str = Field(description="read-only: its ETag, as the ETag header of a GET; send it as If-Match")


class AdRecord(AdIn):
    """An ad as read; the same object can be written back (the read-only fields are ignored)."""

    modified_at: datetime = Field(description="read-only: when it last changed")
    etag: str = Field(description="read-only: its ETag, as the ETag header of a GET; send it as If-Match")


class StoryBody(StoryIn):
    """A story to write. ``slug`` defaults to the URL's; read-only fields are ignored."""

    slug: Slug | None = None  # type: ignore[assignment]  # optional in a body: the URL names it
    modified_at: datetime | None = Field(default=None, description="read-only: ignored")
    etag: str | None = Field(default=None, description="read-only: ignored (send it as If-Match)")


class AdBody(AdIn):
    """An ad to write. ``slug`` defaults to the URL's; read-only fields are ignored."""

    slug: Slug | None = None  # type: ignore[assignment]  # optional in a body: the URL names it
    modified_at: datetime | None = Field(default=None, description="read-only: ignored")
    etag: str | None = Field(default=None, description="read-only: ignored (send it as If-Match)")


class StoryPage(BaseModel):
    items: list[StoryRecord]
    next: str | None = Field(description="the cursor of the next page; null on the last one")


class AdPage(BaseModel):
    items: list[AdRecord]
    next: str | None = Field(description="the cursor of the next page; null on the last one")


class AuditLine(BaseModel):
    at: datetime
    key_name: str = Field(description="the API key that wrote it")
    action: str = Field(description="created, updated or retracted")
    changes: dict[str, Any] = Field(description="each changed field: [before, after]")


class History(BaseModel):
    items: list[AuditLine]


class RegionRecord(BaseModel):
    code: str
    name: str
    short_label: str
    timezone: str
    send_time: str
    edition_name: str
    language: str


class RegionList(BaseModel):
    items: list[RegionRecord]


class EditionCounts(BaseModel):
    stories: int
    ads: int
    deliveries: dict[str, int] = Field(description="ledger rows by state (queued, sent, failed, ...)")


class EditionStory(BaseModel):
    slug: str
    headline: str


class EditionAd(BaseModel):
    slug: str
    sponsor: str


class EditionRecord(BaseModel):
    region: str
    date: date
    status: EditionStatus
    subject: str
    preheader: str
    approved_at: datetime | None
    sent_at: datetime | None
    note: str
    counts: EditionCounts
    stories: list[EditionStory]
    ads: list[EditionAd]


class EditionPage(BaseModel):
    items: list[EditionRecord]
    next: str | None


def partial_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with nothing required and null allowed on top: a merge patch of it."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("required", None)
    schema["title"] = f"{model.__name__}Patch"
    for name, prop in list(schema.get("properties", {}).items()):
        schema["properties"][name] = {"anyOf": [prop, {"type": "null"}], "description": "null: back to the default"}
    return schema
