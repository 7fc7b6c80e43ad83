"""Read and validate content files (the shipped samples or any content folder) into plain, checked records.

Nothing here touches the database: :mod:`newsletter.content.loading` upserts what this returns.
Every problem is a :class:`ContentError` naming the file, the field and the bad value;
all of them are reported at once (:class:`ContentErrors` when there are several).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from newsletter.addresses import InvalidAddress, normalise_email
from newsletter.bidi import bidi_controls_in
from newsletter.db.models import StoryStatus, SubscriberStatus
from newsletter.errors import ContentError, ContentErrors

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


# The sizes match the columns they are stored in, so a long value is a named error, not a database one.
WebUrl = Annotated[str, BeforeValidator(_web_url), Field(max_length=500)]
AwareDatetime = Annotated[datetime, BeforeValidator(_aware_datetime)]
PlainDate = Annotated[date, BeforeValidator(_plain_date)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Headline = Annotated[str, Field(min_length=1, max_length=300)]
# A story's "The News" or an ad's copy: a few paragraphs; an edition must stay under Gmail's clip size.
Markdown = Annotated[str, Field(max_length=20_000)]


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


def _storable_text(value: Any) -> Any:
    """Refuse what no database column can hold: NUL (PostgreSQL refuses it) and lone surrogates."""
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if isinstance(text, str):
            if "\x00" in text:
                raise ValueError("must not contain the NUL character")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    # Fields that become an email's subject, preheader or a header (the From name).
    header_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _no_placeholder(cls, value: Any) -> Any:
        return _no_token_placeholder(_storable_text(value))

    @field_validator("*", mode="after")
    @classmethod
    def _no_bidi_controls(cls, value: Any, info: ValidationInfo) -> Any:
        # An invisible U+202E in a subject or From name shows readers reordered text.
        if info.field_name in cls.header_fields and isinstance(value, str):
            found = bidi_controls_in(value)
            if found:
                raise ValueError(
                    f"must not contain bidirectional control characters ({', '.join(found)}): "
                    "they reorder the subject or sender a reader sees"
                )
        return value


class RegionIn(_Strict):
    header_fields = frozenset({"name", "short_label", "edition_name", "sender_name"})

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
    name: Name
    url: WebUrl | None = None


class SignalIn(_Strict):
    headline: Headline
    sources: Annotated[list[SourceIn], Field(min_length=1, max_length=8)]
    body: Annotated[str, Field(min_length=1, max_length=5000)]


class ImageIn(_Strict):
    url: WebUrl
    alt: Text
    credit: Annotated[str, Field(max_length=500)] = ""


class StoryIn(_Strict):
    header_fields = frozenset({"headline", "summary"})

    slug: Annotated[str, Field(pattern=SLUG, max_length=120)]
    headline: Headline
    summary: Annotated[str, Field(max_length=1000)] = ""
    regions: Annotated[list[str], Field(min_length=1, max_length=16)]
    byline: Annotated[str, Field(max_length=200)] = ""
    canonical_url: WebUrl
    published_at: AwareDatetime
    updated_at: AwareDatetime | None = None
    status: StoryStatus = StoryStatus.PUBLISHED
    priority: Annotated[int, Field(ge=-1000, le=1000)] = 0  # higher goes first
    language: Annotated[str, Field(pattern=LANGUAGE_TAG, max_length=16)] = "en"
    image: ImageIn | None = None
    signals: Annotated[list[SignalIn], Field(max_length=12)] = []
    body: Markdown = ""  # the Markdown after the front matter


class AdIn(_Strict):
    slug: Annotated[str, Field(pattern=SLUG, max_length=120)]
    sponsor: Name
    headline: Headline
    body: Annotated[str, Field(max_length=5000)] = ""
    link: WebUrl
    image_url: WebUrl | None = None
    image_alt: Annotated[str, Field(max_length=2000)] = ""
    regions: Annotated[list[str], Field(min_length=1, max_length=16)]
    starts_on: PlainDate
    ends_on: PlainDate | None = None
    slot: Annotated[int, Field(ge=1, le=20)] = 1
    cta: Annotated[str, Field(min_length=1, max_length=60)] | None = None  # unset: "Learn more"
    status: StoryStatus = StoryStatus.PUBLISHED


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


class _Problems:
    """Every problem found while reading, so one run reports them all."""

    def __init__(self) -> None:
        self.found: list[ContentError] = []

    def add(self, error: ContentError) -> None:
        self.found.append(error)

    def raise_any(self) -> None:
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise ContentErrors(self.found)


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


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model at ``loc`` inside ``model`` (``signals.0.sources.0``), through lists and optionals."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue  # a list index: the same model
        if current is None or part not in current.model_fields:
            return None
        current = _nested_model(current.model_fields[part].annotation)
    return current


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _nested_model(argument)
        if found is not None:
            return found
    return None


def _unknown_field(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """'unknown field' with the nearest known name, or the known names when none is near."""
    name = str(loc[-1])
    owner = _model_at(model, loc[:-1])
    # A story's body is the Markdown after the front matter, never a front matter field.
    known = [field for field in (owner.model_fields if owner else {}) if not (owner is StoryIn and field == "body")]
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if near:
        return f"unknown field '{name}' (did you mean '{near[0]}'?)"
    return f"unknown field '{name}' (known fields: {', '.join(known)})"


def _validate(path: Path | str, model: type[BaseModel], data: Any, problems: _Problems, prefix: str = "") -> Any:
    """The validated record, or None after adding every one of its problems."""
    if not isinstance(data, dict):
        problems.add(ContentError(str(path), prefix or "(document)", data, "expected a mapping of fields"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            where = prefix + ".".join(str(part) for part in error["loc"])
            if error["type"] == "missing":
                problems.add(ContentError(str(path), where, None, "required field is missing"))
            elif error["type"] == "extra_forbidden":
                problem = _unknown_field(model, tuple(error["loc"]))
                problems.add(ContentError(str(path), where, error["input"], problem))
            else:
                message = error["msg"].removeprefix("Value error, ")
                problems.add(ContentError(str(path), where, error["input"], message))
        return None


def _yaml_list(path: Path) -> list[Any]:
    data = _parse_yaml(path, _read_text(path))
    if data is None:
        return []
    if not isinstance(data, list):
        raise ContentError(str(path), "(document)", type(data).__name__, "expected a list of entries")
    return data


def _story_front(path: Path) -> dict[str, Any] | None:
    """The front matter with the body added, or None when it is not a mapping (then it is reported)."""
    text = _read_text(path)
    match = re.match(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?\n?(.*)\Z", text, re.S | re.M)
    if not match:
        raise ContentError(
            str(path), "(front matter)", text[:40], "the file must start with YAML front matter between '---' lines"
        )
    front = _parse_yaml(path, match.group(1), line_offset=1)
    if isinstance(front, dict):
        return {**front, "body": match.group(2).strip()}
    raise ContentError(str(path), "(document)", front, "expected a mapping of fields")


def read_story_file(path: Path) -> StoryIn:
    """Parse one Markdown story: YAML front matter between ``---`` lines, then the body.

    Every problem in the file is reported at once (ContentErrors when there are several).
    """
    problems = _Problems()
    story = _validate(path, StoryIn, _story_front(path), problems)
    problems.raise_any()
    assert isinstance(story, StoryIn)
    return story


def _raw_strings(data: Any, key: str) -> list[str]:
    """``data[key]`` as stripped strings, for checks on an entry that failed validation."""
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, str):
        return [value.strip()]
    return [item.strip() for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _check_regions(
    path: Path | str, prefix: str, codes: list[str], known: AbstractSet[str], problems: _Problems
) -> None:
    for index, code in enumerate(codes):
        if code not in known:
            problems.add(
                ContentError(
                    str(path), f"{prefix}regions[{index}]", code, f"unknown region; known: {', '.join(sorted(known))}"
                )
            )


def _check_unique(seen: dict[str, str], value: str, path: Path, where: str, what: str, problems: _Problems) -> None:
    key = f"{what}:{value}"
    if key in seen:
        problems.add(ContentError(str(path), where, value, f"duplicate {what}, already used in {seen[key]}"))
        return
    seen[key] = f"{path} ({where})"


def _checked_story(source: Path | str, data: Any, known: AbstractSet[str], problems: _Problems) -> StoryIn | None:
    """The story's every rule (fields, sizes, safe URLs, region codes); None after adding its problems."""
    story = _validate(source, StoryIn, data, problems)
    _check_regions(source, "", story.regions if story else _raw_strings(data, "regions"), known, problems)
    return story if isinstance(story, StoryIn) else None


def _checked_ad(
    source: Path | str, data: Any, known: AbstractSet[str], problems: _Problems, prefix: str = ""
) -> AdIn | None:
    """The ad's every rule, including those across fields; None after adding its problems."""
    ad = _validate(source, AdIn, data, problems, prefix)
    _check_regions(source, prefix, ad.regions if ad else _raw_strings(data, "regions"), known, problems)
    if not isinstance(ad, AdIn):
        return None
    found = len(problems.found)
    if ad.ends_on and ad.ends_on < ad.starts_on:
        problems.add(ContentError(str(source), f"{prefix}ends_on", ad.ends_on.isoformat(), "ends before starts_on"))
    if ad.image_url and not ad.image_alt:
        problems.add(ContentError(str(source), f"{prefix}image_alt", "", "required when image_url is set"))
    return ad if len(problems.found) == found else None


def check_story(data: Any, known_regions: AbstractSet[str], *, source: str) -> StoryIn:
    """Validate one story from any source (the content API's request body) by the files' rules.

    Raises ContentError (ContentErrors when there are several) naming every bad field.
    """
    problems = _Problems()
    story = _checked_story(source, data, known_regions, problems)
    problems.raise_any()
    assert story is not None
    return story


def check_ad(data: Any, known_regions: AbstractSet[str], *, source: str) -> AdIn:
    """Validate one ad from any source by the files' rules; raises ContentError(s) like :func:`check_story`."""
    problems = _Problems()
    ad = _checked_ad(source, data, known_regions, problems)
    problems.raise_any()
    assert ad is not None
    return ad


CONTENT_FILES = ("regions.yaml", "ads.yaml", "subscribers.yaml")
LAYOUT = "regions.yaml, stories/<region>/*.md, ads.yaml or subscribers.yaml (see newsletter/content/samples/README.md)"


def _entries(path: Path, problems: _Problems) -> list[Any]:
    """The entries of a YAML list file; none (and a problem added) when the file is unreadable."""
    if not path.exists():
        return []
    try:
        return _yaml_list(path)
    except ContentError as error:
        problems.add(error)
        return []


def _check_file_names(root: Path, problems: _Problems) -> None:
    """A YAML file beside the content files that is none of them (``region.yaml``) would be ignored."""
    for path in sorted(root.glob("*.y*ml")):
        if path.suffix in (".yaml", ".yml") and path.name not in CONTENT_FILES:
            near = difflib.get_close_matches(path.name, CONTENT_FILES, n=1, cutoff=0.6)
            hint = f"did you mean '{near[0]}'?" if near else f"content files are {', '.join(CONTENT_FILES)}"
            problems.add(ContentError(str(path), "(file name)", path.name, f"unknown content file ({hint})"))


def read_content_dir(root: Path, known_regions: AbstractSet[str] = frozenset()) -> ContentSet:
    """Read and validate a content folder laid out as the samples' README describes.

    ``known_regions`` are codes already stored; codes in the folder's regions.yaml are
    added to them. Slugs, region codes and addresses must be unique across all files.
    Every problem in every file is collected, then raised together (ContentErrors when
    there are several); a folder with nothing to load is an error too.
    """
    if not root.is_dir():
        raise ContentError(str(root), "(path)", str(root), "not a folder of content files")
    content = ContentSet()
    problems = _Problems()
    known = set(known_regions)
    seen: dict[str, str] = {}
    _check_file_names(root, problems)

    regions_file = root / "regions.yaml"
    raw_regions = _entries(regions_file, problems)
    for item in raw_regions:
        # Every code first, so a story's region is checked against the file, not its valid entries only.
        known.update(code for code in _raw_strings(item, "code") if re.match(REGION_CODE, code))
    for index, item in enumerate(raw_regions):
        region = _validate(regions_file, RegionIn, item, problems, f"[{index}].")
        for code in [region.code] if region else _raw_strings(item, "code"):
            _check_unique(seen, code, regions_file, f"[{index}].code", "region code", problems)
        if region:
            content.regions.append(region)

    for story_file in sorted((root / "stories").rglob("*.md")):
        try:
            front = _story_front(story_file)
        except ContentError as error:
            problems.add(error)
            continue
        story = _checked_story(story_file, front, known, problems)
        for slug in [story.slug] if story else _raw_strings(front, "slug"):
            _check_unique(seen, slug, story_file, "slug", "story slug", problems)
        if story:
            content.stories.append(story)

    ads_file = root / "ads.yaml"
    for index, item in enumerate(_entries(ads_file, problems)):
        ad = _checked_ad(ads_file, item, known, problems, f"[{index}].")
        for slug in [ad.slug] if ad else _raw_strings(item, "slug"):
            _check_unique(seen, slug, ads_file, f"[{index}].slug", "ad slug", problems)
        if ad is not None:
            content.ads.append(ad)

    subscribers_file = root / "subscribers.yaml"
    for index, item in enumerate(_entries(subscribers_file, problems)):
        subscriber = _validate(subscribers_file, SubscriberIn, item, problems, f"[{index}].")
        regions = subscriber.regions if subscriber else _raw_strings(item, "regions")
        _check_regions(subscribers_file, f"[{index}].", regions, known, problems)
        if subscriber:
            _check_unique(seen, subscriber.email, subscribers_file, f"[{index}].email", "address", problems)
            content.subscribers.append(subscriber)

    if not problems.found and not (content.regions or content.stories or content.ads or content.subscribers):
        present = ", ".join(sorted(path.name for path in root.iterdir())[:8]) or "nothing"
        problems.add(ContentError(str(root), "(folder)", present, f"no content to load: expected {LAYOUT}"))
    problems.raise_any()
    return content
