"""Render an edition once: Jinja2 -> MJML -> HTML, and the text part from the same view.

The only module that imports ``mjml`` (mjml-python, in-process: no subprocess per
edition). It never touches the database: it takes an
:class:`~newsletter.render.snapshot.EditionContent` and returns a
:class:`RenderedEdition` whose HTML and text carry :data:`links.TOKEN_PLACEHOLDER`
where each recipient's token goes, filled later by plain substitution.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from mjml import mjml2html

from newsletter import links
from newsletter.render.inline_lang import with_lang_spans
from newsletter.render.markdown import wrap_text
from newsletter.render.snapshot import AdBlock, EditionContent
from newsletter.render.style import DARK_MODE_CSS, PALETTE, PREHEADER_FILL, SANS, SERIF, STYLES
from newsletter.render.view import EditionView, edition_view

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
HTML_TEMPLATE = "edition.mjml.j2"
TEXT_TEMPLATE = "edition.txt.j2"


@dataclass(frozen=True)
class RenderedEdition:
    """One edition, rendered once for everybody; personalise with ``str.replace`` of the placeholder."""

    edition_id: int
    region_code: str
    local_date: date
    subject: str
    preheader: str
    html: str
    text: str
    language: str
    campaign: str  # e.g. "dc-2026-11-29"
    from_name: str = ""  # the From display name; "" sends as the configured sender name
    # What each top-level block of the HTML is ("header", "story 1: ...", "ad 1: ...", "footer"),
    # in order, so a size report can name the biggest; see newsletter.editions.clip_guard.
    part_labels: tuple[str, ...] = ()

    def personalised(self, token: str) -> tuple[str, str]:
        """(html, text) for one recipient: only that recipient's links."""
        return (
            self.html.replace(links.TOKEN_PLACEHOLDER, token),
            self.text.replace(links.TOKEN_PLACEHOLDER, token),
        )


def _oneline(value: Any) -> str:
    """Collapse line breaks so a field cannot fake extra lines in the text part."""
    return " ".join(str(value).split())


@cache
def _environments() -> tuple[Environment, Environment]:
    loader = FileSystemLoader(TEMPLATES_DIR)
    common: dict[str, Any] = {
        "loader": loader,
        "undefined": StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }
    # MJML is markup: everything from content is escaped. The text part is not HTML.
    html = Environment(autoescape=True, **common)
    html.filters["foreign"] = with_lang_spans
    text = Environment(autoescape=False, keep_trailing_newline=True, **common)
    text.filters["line"] = _oneline
    text.filters["wrap"] = wrap_text
    return html, text


def _html_context(view: EditionView) -> dict[str, Any]:
    # Our own constants are marked safe so quotes in font names stay literal.
    return {
        "e": view,
        "s": {name: Markup(style) for name, style in STYLES.items()},
        "c": PALETTE,
        "fonts": {"sans": Markup(SANS), "serif": Markup(SERIF)},
        "dark_css": Markup(DARK_MODE_CSS),
        "preheader_fill": PREHEADER_FILL,
    }


def compile_mjml(source: str) -> str:
    """MJML to HTML. ``fonts={}`` stops MJML linking web-font stylesheets for known font names."""
    return mjml2html(source, disable_comments=True, fonts={})


def _sources(view: EditionView) -> tuple[str, str]:
    """(MJML source, text part) of one view: both from the same data."""
    html_env, text_env = _environments()
    mjml_source = html_env.get_template(HTML_TEMPLATE).render(_html_context(view))
    text = text_env.get_template(TEXT_TEMPLATE).render(e=view).strip() + "\n"
    return mjml_source, text


def render_mjml(content: EditionContent) -> str:
    """The MJML source of an edition (useful to inspect what the compiler is given)."""
    return _sources(edition_view(content))[0]


def render_text(content: EditionContent) -> str:
    return _sources(edition_view(content))[1]


def render_edition(content: EditionContent, *, edition_id: int) -> RenderedEdition:
    """Render HTML and text once. Deterministic: the same content gives the same bytes."""
    view = edition_view(content)
    mjml_source, text = _sources(view)
    return RenderedEdition(
        edition_id=edition_id,
        region_code=content.region_code,
        local_date=content.local_date,
        # From the view: its content has had any token placeholder defused.
        subject=view.content.subject,
        preheader=view.content.preheader,
        html=compile_mjml(mjml_source),
        text=text,
        language=content.language,
        campaign=view.campaign,
        from_name=view.content.from_name,
        part_labels=part_labels(content),
    )


def part_labels(content: EditionContent) -> tuple[str, ...]:
    """A label per top-level section of the HTML: the header, each item in order, the footer."""
    labels, stories, ads = ["header"], 0, 0
    for item in content.items:
        if isinstance(item, AdBlock):
            ads += 1
            labels.append(f"ad {ads} ({item.slug})")
        else:
            stories += 1
            labels.append(f"story {stories} ({item.slug})")
    return (*labels, "footer")
