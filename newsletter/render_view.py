"""Template-ready views of an edition: labels, directions, dates, links and share rows.

Everything a template would otherwise compute is done here, once, so the HTML and
text templates show the same words and links. Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

from markupsafe import Markup

from newsletter import links
from newsletter.edition_content import AdBlock, EditionContent, SourceRef, StoryBlock
from newsletter.email_style import BODY_STYLES, BODY_STYLES_RTL
from newsletter.safe_markdown import is_safe_url, render_markdown
from newsletter.share import Network, ShareLink, campaign_name, share_links

WEB_SCHEMES: Final = frozenset({"http", "https"})

# Primary language subtags written right to left.
RTL_LANGUAGES: Final = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "ks", "ps", "sd", "syr", "ug", "ur", "yi"})

_EN = {
    "the_news": "The News",
    "signals": "Signals",
    "sources": "Sources:",
    "updated": "Updated",
    "by": "By",
    "share": "Share:",
    Network.X: "Post on X",
    Network.EMAIL: "Email",
    Network.WHATSAPP: "WhatsApp",
    Network.LINKEDIN: "LinkedIn",
}
# A story block speaks its own language, so an Arabic story is labelled in Arabic.
LABELS: Final = MappingProxyType(
    {
        "en": MappingProxyType(_EN),
        "ar": MappingProxyType(
            {
                **_EN,
                "the_news": "الخبر",
                "signals": "إشارات",
                "sources": "المصادر:",
                "updated": "آخر تحديث",
                "by": "بقلم",
                "share": "شارك:",
                Network.X: "انشر على X",
                Network.EMAIL: "بريد إلكتروني",
                Network.WHATSAPP: "واتساب",
                Network.LINKEDIN: "لينكدإن",
            }
        ),
    }
)

MONTHS: Final = ("January", "February", "March", "April", "May", "June", "July",
                 "August", "September", "October", "November", "December")
WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def primary_language(tag: str) -> str:
    return (tag or "en").split("-")[0].split("_")[0].lower()


def is_rtl(language: str) -> bool:
    return primary_language(language) in RTL_LANGUAGES


def labels_for(language: str) -> MappingProxyType[str, str]:
    return LABELS.get(primary_language(language), LABELS["en"])


def long_date(day: date) -> str:
    """``Sunday 29 November 2026``, independent of the process locale."""
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"


def local_time(instant: datetime, timezone: str) -> str:
    """``29 Nov 2026, 07:15 CST`` in the region's zone."""
    local = instant.astimezone(ZoneInfo(timezone))
    return f"{local.day} {MONTHS[local.month - 1][:3]} {local.year}, {local:%H:%M} {_zone_label(local)}"


def _zone_label(local: datetime) -> str:
    """The zone's abbreviation; zones that have none (tzdata writes "+03") as ``UTC+3``."""
    name = local.strftime("%Z")
    if name[:1] not in "+-":
        return name
    minutes = int(local.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes >= 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")


def web_url(url: str | None) -> str | None:
    """The URL when it is safe to show as a link or image, else None."""
    return url if is_safe_url(url, schemes=WEB_SCHEMES) else None


@dataclass(frozen=True)
class SignalView:
    headline: str
    sources: tuple[SourceRef, ...]  # url is None unless safe
    body_html: Markup
    body_text: str


@dataclass(frozen=True)
class StoryView:
    kind: str
    story: StoryBlock
    lang: str
    rtl: bool
    labels: MappingProxyType[str, str]
    url: str | None
    image_url: str | None
    image_alt: str
    updated: str
    body_html: Markup
    body_text: str
    signals: tuple[SignalView, ...]
    share: tuple[ShareLink, ...]


@dataclass(frozen=True)
class AdView:
    kind: str
    ad: AdBlock
    link: str | None
    image_url: str | None
    image_alt: str
    body_html: Markup
    body_text: str


@dataclass(frozen=True)
class RegionLinkView:
    label: str
    name: str
    url: str
    current: bool


@dataclass(frozen=True)
class EditionView:
    content: EditionContent
    campaign: str
    long_date: str
    rtl: bool
    regions: tuple[RegionLinkView, ...]
    items: tuple[StoryView | AdView, ...]
    view_url: str
    preferences_url: str  # holds links.TOKEN_PLACEHOLDER
    unsubscribe_url: str  # holds links.TOKEN_PLACEHOLDER


def _story_view(story: StoryBlock, content: EditionContent, campaign: str) -> StoryView:
    rtl = is_rtl(story.language)
    styles = BODY_STYLES_RTL if rtl else BODY_STYLES
    url = web_url(story.canonical_url)
    signals = tuple(
        SignalView(
            signal.headline,
            tuple(SourceRef(s.name, web_url(s.url)) for s in signal.sources),
            *render_markdown(signal.body, styles, width=68),  # indented by 2 in the text part
        )
        for signal in story.signals
    )
    body_html, body_text = render_markdown(story.body, styles)
    return StoryView(
        kind="story",
        story=story,
        lang=story.language or content.language,
        rtl=rtl,
        labels=labels_for(story.language),
        url=url,
        image_url=web_url(story.image_url),
        image_alt=story.image_alt or story.headline,
        updated=local_time(story.updated_at, content.timezone),
        body_html=body_html,
        body_text=body_text,
        signals=signals,
        # A story without a shareable URL gets no share row rather than broken links.
        share=tuple(share_links(url, story.headline, campaign)) if url else (),
    )


def _ad_view(ad: AdBlock) -> AdView:
    body_html, body_text = render_markdown(ad.body, BODY_STYLES)
    return AdView(
        kind="ad",
        ad=ad,
        link=web_url(ad.link),
        image_url=web_url(ad.image_url),
        image_alt=ad.image_alt or ad.sponsor,
        body_html=body_html,
        body_text=body_text,
    )


# Breaks a "%%" with an invisible WORD JOINER: the text reads the same, but no
# content can spell links.TOKEN_PLACEHOLDER any more.
_DEFUSED_PERCENTS = "%\u2060%"


def _defused(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("%%", _DEFUSED_PERCENTS) if "%%" in value else value
    if isinstance(value, tuple):
        return tuple(_defused(item) for item in value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _defused(getattr(value, f.name)) for f in fields(value)})  # type: ignore[type-var]
    return value


def without_token_placeholder(content: EditionContent) -> EditionContent:
    """The content with every ``%%`` broken, so only our own footer links carry the token.

    content_files refuses ``%%`` in content, but an edition also renders from stored
    snapshots, editors' subject overrides and rows written by other tools: personalising
    a placeholder that came from content would give every recipient's token to whatever
    site the content links to. The base URL is configuration, not content, and is kept.
    """
    defused: EditionContent = _defused(content)
    return replace(defused, base_url=content.base_url)


def edition_view(content: EditionContent) -> EditionView:
    """Build the view both templates render from."""
    content = without_token_placeholder(content)
    campaign = campaign_name(content.region_code, content.local_date)
    base = content.base_url
    regions = tuple(
        # The archive page, never an edition at this date: another region's may not exist yet.
        RegionLinkView(r.short_label, r.name, links.region_archive_url(base, r.code), r.code == content.region_code)
        for r in content.regions
    )
    items = tuple(
        _story_view(item, content, campaign) if isinstance(item, StoryBlock) else _ad_view(item)
        for item in content.items
    )
    return EditionView(
        content=content,
        campaign=campaign,
        long_date=long_date(content.local_date),
        rtl=is_rtl(content.language),
        regions=regions,
        items=items,
        view_url=links.edition_url(base, content.region_code, content.local_date),
        preferences_url=links.preferences_url(base, links.TOKEN_PLACEHOLDER),
        unsubscribe_url=links.unsubscribe_url(base, links.TOKEN_PLACEHOLDER),
    )
