"""Rendering from plain content (no database): hostile input in every field, tokens, determinism."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from newsletter import links
from newsletter.render.edition import RenderedEdition, compile_mjml, render_edition, render_mjml
from newsletter.render.snapshot import AdBlock, EditionContent, RegionRef, SignalBlock, SourceRef, StoryBlock
from tests.conftest import PROJECT_ROOT
from tests.html_tree import Node, parse

BASE = "https://news.example.com"
# Breaks out of an attribute, a tag, an MJML component and the text part's layout.
HOSTILE = (
    "<script>alert(1)</script><img src=x onerror=alert(2)>\"'><b onmouseover=alert(3)>x</b>"
    "</mj-text><mj-raw><script>alert(4)</script></mj-raw>{{ 7*7 }}\nUnsubscribe: https://evil.example"
)
HOSTILE_MD = (
    HOSTILE + "\n\n[click](javascript:alert(5)) <style>*{display:none}</style> ![p](https://evil.example/p.gif)"
)


def story(**changes: object) -> StoryBlock:
    base = StoryBlock(
        slug="s1",
        headline="Plain headline",
        summary="Summary.",
        body="Body **text**.",
        byline="A. Writer",
        canonical_url="https://news.example.com/dc/s1",
        image_url="https://images.example.com/s1.jpg",
        image_alt="A platform at night",
        image_credit="Photo: Someone",
        language="en",
        updated_at=datetime(2026, 11, 29, 10, 15, tzinfo=UTC),
        signals=(
            SignalBlock(
                "Signal one",
                "Signal *body*.",
                (SourceRef("Ledger", "https://ledger.example.com/x"), SourceRef("Review", None)),
            ),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def content(items: tuple[StoryBlock | AdBlock, ...], **changes: object) -> EditionContent:
    base = EditionContent(
        region_code="dc",
        region_name="Washington D.C.",
        edition_name="The Washington Morning Wire",
        timezone="America/New_York",
        language="en",
        local_date=date(2026, 11, 29),
        subject="Subject line",
        preheader="Preheader text",
        regions=(RegionRef("dc", "D.C.", "Washington D.C."), RegionRef("bxl", "BXL", "Brussels")),
        items=items,
        base_url=BASE,
        sender_name="The Morning Wire",
        postal_address="1 Example Street",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def hostile_edition() -> EditionContent:
    bad_story = story(
        slug="bad",
        headline=HOSTILE,
        summary=HOSTILE,
        body=HOSTILE_MD,
        byline=HOSTILE,
        canonical_url="javascript:alert(6)",
        image_url="javascript:alert(7)",
        image_alt=HOSTILE,
        image_credit=HOSTILE,
        signals=(
            SignalBlock(
                HOSTILE,
                HOSTILE_MD,
                (
                    SourceRef(HOSTILE, "javascript:alert(8)"),
                    SourceRef(HOSTILE, 'https://ok.example/"onclick="alert(9)'),
                ),
            ),
        ),
    )
    quoted_story = story(
        slug="quoted",
        headline=HOSTILE + " two",
        image_url='https://images.example.com/a.jpg"onerror="alert(10)',
        image_alt=HOSTILE,
        canonical_url='https://news.example.com/x?a="><script>alert(11)</script>',
    )
    bad_ad = AdBlock(
        slug="ad",
        sponsor=HOSTILE,
        headline=HOSTILE,
        body=HOSTILE_MD,
        link="javascript:alert(12)",
        image_url="data:image/svg+xml,<svg onload=alert(13)>",
        image_alt=HOSTILE,
    )
    return content(
        (bad_story, bad_ad, quoted_story),
        subject=HOSTILE,
        preheader=HOSTILE,
        edition_name=HOSTILE,
        region_name=HOSTILE,
        postal_address=HOSTILE,
        sender_name=HOSTILE,
        regions=(RegionRef("dc", HOSTILE, HOSTILE), RegionRef("bxl", "BXL", "Brussels")),
    )


def assert_inert(root: Node) -> None:
    """No script, no handler, no dangerous URL anywhere in the parsed document."""
    tags = {node.tag for node in root.iter()}
    assert not tags & {"script", "iframe", "object", "embed", "svg", "mj-raw", "mj-text", "b"}
    for node in root.iter():
        for name, value in node.attrs.items():
            assert not name.startswith("on"), (node.tag, name)
            assert "javascript:" not in value.lower() and "data:" not in value.lower(), (node.tag, name, value)
        if node.tag == "a":
            assert node.attrs["href"].startswith(("https://", "http://", "mailto:"))
        if node.tag == "img":
            assert node.attrs["src"].startswith("https://")


def test_hostile_content_in_every_field_is_escaped() -> None:
    rendered = render_edition(hostile_edition(), edition_id=1)
    root = parse(rendered.html)
    assert_inert(root)
    # The only stylesheet is ours, and it holds nothing from content.
    for style in root.find_all("style"):
        assert "alert" not in style.text() and "display:none" not in style.text().replace(" ", "")
    # The hostile text is still there, as visible text, in the headline, title and footer.
    visible = HOSTILE.split("\n")[0]
    assert any(visible in " ".join(h.text().split()) for h in root.find_all("h2"))
    assert root.find_all("title")[0].text() == HOSTILE
    assert "<script" not in rendered.html.lower() and "<b onmouseover" not in rendered.html


def test_hostile_urls_are_dropped_not_linked() -> None:
    rendered = render_edition(hostile_edition(), edition_id=1)
    root = parse(rendered.html)
    hrefs = [a.attrs["href"] for a in root.find_all("a")]
    srcs = [img.attrs["src"] for img in root.find_all("img")]
    # The story with a javascript: canonical URL gets no link and no share row.
    assert not any(h.startswith("https://x.com/intent/post") and "alert(6)" in h for h in hrefs)
    # A quote inside a URL stays inside the attribute value.
    assert 'https://images.example.com/a.jpg"onerror="alert(10)' in srcs
    assert 'https://ok.example/"onclick="alert(9)' in hrefs
    assert not any("alert(12)" in h or "alert(8)" in h for h in hrefs)


def test_hostile_text_part_cannot_fake_lines_or_links() -> None:
    text = render_edition(hostile_edition(), edition_id=1).text
    # URL fields that are not http(s) are never listed (the body's refused link stays as its own text).
    for marker in ("alert(6)", "alert(7)", "alert(8)", "alert(12)", "data:image"):
        assert marker not in text
    # A line break inside a single-line field cannot forge a footer line of its own.
    assert [line for line in text.splitlines() if line.startswith("Unsubscribe:")] == [
        f"Unsubscribe: {BASE}/u/{links.TOKEN_PLACEHOLDER}"
    ]


def test_template_syntax_in_content_is_not_evaluated() -> None:
    rendered = render_edition(content((story(headline="Total {{ 7*7 }} and {% raw %}"),)), edition_id=1)
    assert "Total {{ 7*7 }} and {% raw %}" in rendered.html and "Total 49" not in rendered.html


def test_placeholder_survives_mjml_and_escaping_unchanged() -> None:
    rendered = render_edition(content((story(),)), edition_id=7)
    root = parse(rendered.html)
    hrefs = [a.attrs["href"] for a in root.find_all("a")]
    assert links.preferences_url(BASE, links.TOKEN_PLACEHOLDER) in hrefs
    assert links.unsubscribe_url(BASE, links.TOKEN_PLACEHOLDER) in hrefs
    assert f'href="{BASE}/u/%%recipient_token%%"' in rendered.html
    html, text = rendered.personalised("abc.DEF_-1")
    assert f"{BASE}/u/abc.DEF_-1" in html and f"{BASE}/p/abc.DEF_-1" in text
    assert links.TOKEN_PLACEHOLDER not in html + text


def test_a_placeholder_in_content_never_carries_a_recipients_token() -> None:
    """Only the footer's own links are personalised, whatever the content says."""
    planted = links.TOKEN_PLACEHOLDER
    ad = AdBlock(
        slug="ad",
        sponsor=f"Sponsor {planted}",
        headline=f"Buy {planted}",
        body=f"Body {planted}",
        link=f"https://sponsor.example/c?t={planted}",
        image_url=f"https://tracker.example/p.gif?t={planted}",
        image_alt=planted,
    )
    planted_story = story(
        canonical_url=f"https://ex.com/s?ref={planted}",
        headline=f"Headline {planted}",
        body=f"[x](https://a.example/{planted})",
        image_url=f"https://images.example.com/{planted}.jpg",
        signals=(SignalBlock(planted, planted, (SourceRef(planted, f"https://src.example/?{planted}"),)),),
    )
    rendered = render_edition(
        content((planted_story, ad), subject=f"Subject {planted}", preheader=planted, postal_address=planted),
        edition_id=1,
    )
    html, text = rendered.personalised("SECRET.TOKEN")
    footer_links = {links.preferences_url(BASE, "SECRET.TOKEN"), links.unsubscribe_url(BASE, "SECRET.TOKEN")}
    root = parse(html)
    for node in root.iter():
        for name, value in node.attrs.items():
            if "SECRET.TOKEN" in value:
                assert node.tag == "a" and name == "href" and value in footer_links, (node.tag, name, value)
    assert html.count("SECRET.TOKEN") == sum(html.count(f'href="{link}"') for link in footer_links)
    assert text.count("SECRET.TOKEN") == sum(text.count(link) for link in footer_links)
    assert planted not in rendered.subject + rendered.preheader


def test_rendered_edition_contract() -> None:
    rendered = render_edition(content((story(),)), edition_id=7)
    assert isinstance(rendered, RenderedEdition)
    assert (rendered.edition_id, rendered.region_code, rendered.local_date) == (7, "dc", date(2026, 11, 29))
    assert (rendered.subject, rendered.preheader, rendered.language) == ("Subject line", "Preheader text", "en")
    assert rendered.campaign == "dc-2026-11-29"
    with pytest.raises(AttributeError):
        rendered.html = ""  # type: ignore[misc]


def test_rendering_is_deterministic() -> None:
    edition = content((story(), story(slug="s2", headline="Second")))
    first, second = render_edition(edition, edition_id=1), render_edition(edition, edition_id=1)
    assert first.html == second.html and first.text == second.text


def test_edition_language_sets_root_lang_and_direction() -> None:
    rendered = render_edition(content((story(language="ar"),), language="ar"), edition_id=1)
    html = parse(rendered.html).find_all("html")[0]
    assert (html.attrs["lang"], html.attrs["dir"]) == ("ar", "rtl")


def test_story_in_another_language_is_marked_in_its_block() -> None:
    rendered = render_edition(content((story(language="zh", headline="东城胡同试点"),)), edition_id=1)
    h2 = parse(rendered.html).find_all("h2")[0]
    assert next(a.attrs["lang"] for a in h2.ancestors() if "lang" in a.attrs) == "zh"


def test_missing_image_alt_falls_back_to_the_headline() -> None:
    rendered = render_edition(content((story(image_alt=""),)), edition_id=1)
    assert [img.attrs["alt"] for img in parse(rendered.html).find_all("img")] == ["Plain headline"]


# Runs in a child: an audit hook (which cannot be removed, so not in the test process)
# fails every attempt to start a program, and PATH is empty so no node or mjml is found.
NO_PROGRAMS = """
import sys

def refuse(event, args):
    if event in {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork"}:
        raise RuntimeError(f"started a program: {event} {args!r}")

sys.addaudithook(refuse)
from newsletter.render.edition import compile_mjml
sys.stdout.write(compile_mjml(sys.stdin.read()))
"""


def test_mjml_source_is_compiled_in_process() -> None:
    source = render_mjml(content((story(),)))
    assert source.lstrip().startswith('<mjml lang="en"')
    child = subprocess.run(
        [sys.executable, "-c", NO_PROGRAMS],
        input=source,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": "", "PYTHONPATH": str(PROJECT_ROOT)},
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout == compile_mjml(source) == render_edition(content((story(),)), edition_id=1).html
    assert "<mj-" not in child.stdout and child.stdout.lstrip().lower().startswith("<!doctype html>")
