"""Template-ready views of an edition: labels, directions, dates, links and share rows.

Everything a template would otherwise compute is done here, once, so the HTML and
text templates show the same words and links. Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace
from functools import cache
from types import MappingProxyType
from typing import Any, Final

from markupsafe import Markup

from newsletter import links
from newsletter.bidi import without_bidi_controls
from newsletter.render.locale import LocalTime, labels_for, local_time, long_date, primary_language
from newsletter.render.markdown import is_safe_url, render_markdown
from newsletter.render.share import ShareLink, campaign_name, share_links, with_utm
from newsletter.render.snapshot import AdBlock, EditionContent, SourceRef, StoryBlock
from newsletter.render.style import BODY_STYLES, BODY_STYLES_RTL

WEB_SCHEMES: Final = frozenset({"http", "https"})

# Primary language subtags written right to left.
RTL_LANGUAGES: Final = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "ks", "ps", "sd", "syr", "ug", "ur", "yi"})


def is_rtl(language: str) -> bool:
    return primary_language(language) in RTL_LANGUAGES


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
    updated: LocalTime  # str() for the text part; day and time apart for right-to-left markup
    body_html: Markup
    body_text: str
    signals: tuple[SignalView, ...]
    share: tuple[ShareLink, ...]
    share_text_url: str | None  # the text part's one share link: the story URL, tagged


@dataclass(frozen=True)
class AdView:
    kind: str
    ad: AdBlock
    link: str | None
    image_url: str | None
    image_alt: str
    body_html: Markup
    body_text: str
    cta: str  # the call to action's words
    labels: MappingProxyType[str, str]


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
    lang = story.language or content.language
    url = web_url(story.canonical_url)
    signals = tuple(
        SignalView(
            signal.headline,
            tuple(SourceRef(s.name, web_url(s.url)) for s in signal.sources),
            *render_markdown(signal.body, styles, width=68, language=lang),  # indented by 2 in the text part
        )
        for signal in story.signals
    )
    body_html, body_text = render_markdown(story.body, styles, language=lang)
    return StoryView(
        kind="story",
        story=story,
        lang=lang,
        rtl=rtl,
        labels=labels_for(lang),
        url=url,
        image_url=web_url(story.image_url),
        image_alt=story.image_alt or story.headline,
        updated=local_time(story.updated_at, content.timezone, lang),
        body_html=body_html,
        body_text=body_text,
        signals=signals,
        # A story without a shareable URL gets no share row rather than broken links.
        share=tuple(share_links(url, story.headline, campaign)) if url else (),
        share_text_url=with_utm(url, campaign, "share-text") if url else None,
    )


def _ad_view(ad: AdBlock, language: str) -> AdView:
    body_html, body_text = render_markdown(ad.body, BODY_STYLES, language=language)
    labels = labels_for(language)
    return AdView(
        kind="ad",
        ad=ad,
        link=web_url(ad.link),
        image_url=web_url(ad.image_url),
        image_alt=ad.image_alt or ad.sponsor,
        body_html=body_html,
        body_text=body_text,
        cta=" ".join(ad.cta.split()) or labels["learn_more"],
        labels=labels,
    )


# Breaks a "%%" with an invisible WORD JOINER: the text reads the same, but no
# content can spell links.TOKEN_PLACEHOLDER any more.
_DEFUSED_PERCENTS = "%\u2060%"


def _defused(value: Any) -> Any:
    """``value`` with every ``%%`` broken; the very same object when it has none (the usual case)."""
    if isinstance(value, str):
        return value.replace("%%", _DEFUSED_PERCENTS) if "%%" in value else value
    if isinstance(value, tuple):
        items = tuple(_defused(item) for item in value)
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    if is_dataclass(value) and not isinstance(value, type):
        changed = {}
        for name in _field_names(type(value)):
            old = getattr(value, name)
            new = _defused(old)
            if new is not old:
                changed[name] = new
        return replace(value, **changed) if changed else value
    return value


@cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind))


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
    # The subject, the inbox preview and the From name never carry a bidi control (see newsletter.bidi).
    content = replace(
        content,
        subject=without_bidi_controls(content.subject),
        preheader=without_bidi_controls(content.preheader),
        from_name=without_bidi_controls(content.from_name),
    )
    campaign = campaign_name(content.region_code, content.local_date)
    base = content.base_url
    regions = tuple(
        # The archive page, never an edition at this date: another region's may not exist yet.
        RegionLinkView(r.short_label, r.name, links.region_archive_url(base, r.code), r.code == content.region_code)
        for r in content.regions
    )
    items = tuple(
        _story_view(item, content, campaign) if isinstance(item, StoryBlock) else _ad_view(item, content.language)
        for item in content.items
    )
    return EditionView(
        content=content,
        campaign=campaign,
        long_date=long_date(content.local_date, content.language),
        rtl=is_rtl(content.language),
        regions=regions,
        items=items,
        view_url=links.edition_url(base, content.region_code, content.local_date),
        preferences_url=links.preferences_url(base, links.TOKEN_PLACEHOLDER),
        unsubscribe_url=links.unsubscribe_url(base, links.TOKEN_PLACEHOLDER),
    )
