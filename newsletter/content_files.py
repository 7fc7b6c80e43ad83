"""Read and validate content files (seeds or imports) into plain, checked records.

Nothing here touches the database: :mod:`newsletter.content` upserts what this returns.
Every problem is a :class:`ContentError` naming the file, the field and the bad value.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from newsletter.addresses import InvalidAddress, normalise_email
from newsletter.errors import ContentError
from newsletter.models import StoryStatus, SubscriberStatus

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
REGION_CODE = r"^[a-z]{2,16}$"
# A simple BCP 47 shape (en, ar, zh-Hans, pt-BR): it goes into lang attributes and the
# Content-Language header, where anything else could break the markup or the header.
LANGUAGE_TAG = r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$"


def _web_url(value: Any) -> Any:
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
    return value


def _aware_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("not an ISO 8601 date and time such as 2026-11-29T05:30:00Z") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        raise ValueError("needs a time as well as a date, with a zone, e.g. 2026-11-29T05:30:00Z")
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("needs a time zone offset or Z, e.g. 2026-11-29T05:30:00Z")
    return value


def _plain_date(value: Any) -> Any:
    if isinstance(value, datetime):
        raise ValueError("must be a date without a time, e.g. 2026-11-29")
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("not a date such as 2026-11-29") from None
    return value


WebUrl = Annotated[str, BeforeValidator(_web_url)]
AwareDatetime = Annotated[datetime, BeforeValidator(_aware_datetime)]
PlainDate = Annotated[date, BeforeValidator(_plain_date)]
Text = Annotated[str, Field(min_length=1)]


def _no_token_placeholder(value: Any) -> Any:
    """Refuse ``%%`` anywhere in content.

    Rendered editions are personalised by replacing links.TOKEN_PLACEHOLDER
    (``%%recipient_token%%``) with each recipient's manage token. The same text in
    content (an ad's image URL ``?t=%%recipient_token%%``) would hand every
    recipient's token to that site, and a ``%%`` next to another field could
    complete one, so no content field may contain ``%%`` at all.
    """
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if isinstance(text, str) and "%%" in text:
            raise ValueError("must not contain '%%' (reserved for the per-recipient link token)")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_placeholder(cls, value: Any) -> Any:
        return _no_token_placeholder(value)


class RegionIn(_Strict):
    code: Annotated[str, Field(pattern=REGION_CODE)]
    name: Text
    short_label: Text
    timezone: Text
    send_time: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    edition_name: Text
    language: Annotated[str, Field(pattern=LANGUAGE_TAG, max_length=16)] = "en"
    # The From display name of this edition; unset: "<NEWSLETTER_SENDER_NAME> <name>".
    sender_name: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[^\r\n]*$")] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone such as Europe/Brussels") from None
        return value


class SourceIn(_Strict):
    name: Text
    url: WebUrl | None = None


class SignalIn(_Strict):
    headline: Text
    sources: Annotated[list[SourceIn], Field(min_length=1, max_length=8)]
    body: Text


class ImageIn(_Strict):
    url: WebUrl
    alt: Text
    credit: str = ""


class StoryIn(_Strict):
    slug: Annotated[str, Field(pattern=SLUG, max_length=120)]
    headline: Annotated[str, Field(min_length=1, max_length=300)]
    summary: str = ""
    regions: Annotated[list[str], Field(min_length=1)]
    byline: str = ""
    canonical_url: WebUrl
    published_at: AwareDatetime
    updated_at: AwareDatetime | None = None
    status: StoryStatus = StoryStatus.PUBLISHED
    priority: int = 0
    language: Annotated[str, Field(pattern=LANGUAGE_TAG, max_length=16)] = "en"
    image: ImageIn | None = None
    signals: list[SignalIn] = []
    body: str = ""  # the Markdown after the front matter


class AdIn(_Strict):
    slug: Annotated[str, Field(pattern=SLUG, max_length=120)]
    sponsor: Text
    headline: Text
    body: str = ""
    link: WebUrl
    image_url: WebUrl | None = None
    image_alt: str = ""
    regions: Annotated[list[str], Field(min_length=1)]
    starts_on: PlainDate
    ends_on: PlainDate | None = None
    slot: Annotated[int, Field(ge=1, le=20)] = 1
    cta: Annotated[str, Field(min_length=1, max_length=60)] | None = None  # unset: "Learn more"


class SubscriberIn(_Strict):
    email: Text
    regions: list[str] = []
    status: SubscriberStatus = SubscriberStatus.ACTIVE

    @field_validator("email")
    @classmethod
    def _valid_address(cls, value: str) -> str:
        try:
            return normalise_email(value)
        except InvalidAddress as exc:
            raise ValueError(f"invalid email address: {exc}") from None


@dataclass
class ContentSet:
    """Everything read from one content folder, validated."""

    regions: list[RegionIn] = field(default_factory=list)
    stories: list[StoryIn] = field(default_factory=list)
    ads: list[AdIn] = field(default_factory=list)
    subscribers: list[SubscriberIn] = field(default_factory=list)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError(str(path), "(file)", exc.object[exc.start : exc.end], "not UTF-8 text") from None


def _parse_yaml(path: Path, text: str, line_offset: int = 0) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 + line_offset if mark else 0
        lines = text.splitlines()
        bad = lines[mark.line] if mark and mark.line < len(lines) else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ContentError(str(path), f"(YAML line {line})", bad, f"invalid YAML: {problem}") from None


def _validate(path: Path, model: type[BaseModel], data: Any, prefix: str = "") -> Any:
    if not isinstance(data, dict):
        raise ContentError(str(path), prefix or "(document)", data, "expected a mapping of fields")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = prefix + ".".join(str(part) for part in error["loc"])
        if error["type"] == "missing":
            raise ContentError(str(path), where, None, "required field is missing") from None
        if error["type"] == "extra_forbidden":
            raise ContentError(str(path), where, error["input"], "unknown field") from None
        message = error["msg"].removeprefix("Value error, ")
        raise ContentError(str(path), where, error["input"], message) from None


def _yaml_list(path: Path) -> list[Any]:
    data = _parse_yaml(path, _read_text(path))
    if data is None:
        return []
    if not isinstance(data, list):
        raise ContentError(str(path), "(document)", type(data).__name__, "expected a list of entries")
    return data


def read_story_file(path: Path) -> StoryIn:
    """Parse one Markdown story: YAML front matter between ``---`` lines, then the body."""
    text = _read_text(path)
    match = re.match(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?\n?(.*)\Z", text, re.S | re.M)
    if not match:
        raise ContentError(str(path), "(front matter)", text[:40], "the file must start with YAML front matter between '---' lines")
    front = _parse_yaml(path, match.group(1), line_offset=1)
    if isinstance(front, dict):
        front = {**front, "body": match.group(2).strip()}
    return _validate(path, StoryIn, front)


def _check_regions(path: Path, prefix: str, codes: list[str], known: set[str]) -> None:
    for index, code in enumerate(codes):
        if code not in known:
            raise ContentError(
                str(path), f"{prefix}regions[{index}]", code, f"unknown region; known: {', '.join(sorted(known))}"
            )


def _check_unique(seen: dict[str, str], key: str, path: Path, where: str, what: str) -> None:
    if key in seen:
        raise ContentError(str(path), where, key, f"duplicate {what}, already used in {seen[key]}")
    seen[key] = f"{path} ({where})"


def read_content_dir(root: Path, known_regions: AbstractSet[str] = frozenset()) -> ContentSet:
    """Read and validate a content folder laid out as described in seeds/README.md.

    ``known_regions`` are codes already stored; codes in the folder's regions.yaml are
    added to them. Slugs, region codes and addresses must be unique across all files.
    """
    if not root.is_dir():
        raise ContentError(str(root), "(path)", str(root), "not a folder of content files")
    content = ContentSet()
    known = set(known_regions)
    seen: dict[str, str] = {}

    regions_file = root / "regions.yaml"
    if regions_file.exists():
        for index, item in enumerate(_yaml_list(regions_file)):
            region = _validate(regions_file, RegionIn, item, f"[{index}].")
            _check_unique(seen, f"region:{region.code}", regions_file, f"[{index}].code", "region code")
            content.regions.append(region)
            known.add(region.code)

    for story_file in sorted((root / "stories").rglob("*.md")):
        story = read_story_file(story_file)
        _check_regions(story_file, "", story.regions, known)
        _check_unique(seen, story.slug, story_file, "slug", "story slug")
        content.stories.append(story)

    ads_file = root / "ads.yaml"
    if ads_file.exists():
        for index, item in enumerate(_yaml_list(ads_file)):
            ad = _validate(ads_file, AdIn, item, f"[{index}].")
            _check_regions(ads_file, f"[{index}].", ad.regions, known)
            _check_unique(seen, f"ad:{ad.slug}", ads_file, f"[{index}].slug", "ad slug")
            if ad.ends_on and ad.ends_on < ad.starts_on:
                raise ContentError(str(ads_file), f"[{index}].ends_on", ad.ends_on.isoformat(), "ends before starts_on")
            if ad.image_url and not ad.image_alt:
                raise ContentError(str(ads_file), f"[{index}].image_alt", "", "required when image_url is set")
            content.ads.append(ad)

    subscribers_file = root / "subscribers.yaml"
    if subscribers_file.exists():
        for index, item in enumerate(_yaml_list(subscribers_file)):
            subscriber = _validate(subscribers_file, SubscriberIn, item, f"[{index}].")
            _check_regions(subscribers_file, f"[{index}].", subscriber.regions, known)
            _check_unique(seen, f"email:{subscriber.email}", subscribers_file, f"[{index}].email", "address")
            content.subscribers.append(subscriber)
    return content
