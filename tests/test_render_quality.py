"""Every seed edition, rendered through the real service: structure, links and email quality."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from newsletter import links
from newsletter.content.files import ContentSet, StoryIn, read_content_dir
from newsletter.delivery.base import MessageContent, Recipient, personalise
from newsletter.render.markdown import plain_text
from tests.conftest import SEEDS
from tests.html_tree import Node, parse
from tests.seed_editions import EDITION_DATE, SeedEdition, render_seed_editions

REGIONS = ["dc", "bxl", "lagos", "riyadh", "beijing", "sg"]
BASE = "https://news.example.com"
MAX_HTML_BYTES = 80 * 1024
SHARE_HOSTS = {
    "x": ("x.com", "/intent/post"),
    "email": ("", ""),
    "whatsapp": ("wa.me", "/"),
    "linkedin": ("www.linkedin.com", "/sharing/share-offsite/"),
}


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SeedEdition]:
    _, editions = render_seed_editions(tmp_path_factory.mktemp("seed"))
    return editions


@pytest.fixture(scope="module")
def content() -> ContentSet:
    return read_content_dir(SEEDS)


def expected_stories(content: ContentSet, code: str) -> list[StoryIn]:
    """The seed stories of a region in edition order: priority, then most recent."""
    stories = [s for s in content.stories if code in s.regions and s.status == "published"]
    return sorted(stories, key=lambda s: (-s.priority, -s.published_at.timestamp()))


def tree(edition: SeedEdition) -> Node:
    return parse(edition.rendered.html)


def body_text(root: Node) -> str:
    return " ".join(root.find_all("body")[0].text().split())


def test_all_six_seed_regions_render(seed: dict[str, SeedEdition], content: ContentSet) -> None:
    assert sorted(seed) == sorted(REGIONS)
    for code in REGIONS:
        assert len(expected_stories(content, code)) >= 3, f"seed region {code} should have stories"


# --- document basics ---------------------------------------------------------------


@pytest.mark.parametrize("code", REGIONS)
def test_lang_title_charset(seed: dict[str, SeedEdition], code: str) -> None:
    edition = seed[code]
    root = tree(edition)
    html = root.find_all("html")[0]
    assert html.attrs["lang"] == edition.region.language != "und"
    assert root.find_all("title")[0].text() == edition.rendered.subject
    metas = root.find_all("meta")
    assert any("charset=utf-8" in m.attrs.get("content", "").lower() or m.attrs.get("charset") for m in metas)
    assert any(m.attrs.get("name") == "viewport" for m in metas)


@pytest.mark.parametrize("code", REGIONS)
def test_right_to_left_stories_carry_dir_in_their_own_block(
    seed: dict[str, SeedEdition], content: ContentSet, code: str
) -> None:
    root = tree(seed[code])
    for story in expected_stories(content, code):
        rtl = story.language.split("-")[0] in {"ar", "he", "fa", "ur"}
        headline = next(h for h in root.find_all("h2") if " ".join(h.text().split()) == story.headline)
        directions = [a.attrs.get("dir") for a in headline.ancestors() if "dir" in a.attrs]
        # The nearest dir decides; the document root is ltr for these editions.
        assert directions[0] == ("rtl" if rtl else "ltr"), story.slug
        if rtl:
            block = next(a for a in headline.ancestors() if a.attrs.get("dir") == "rtl")
            assert block.attrs.get("lang") == story.language
            assert block.tag == "div" and "text-align:right" in (
                block.parent.attrs.get("style", "") if block.parent else ""
            )


def test_the_seeds_include_a_right_to_left_story(seed: dict[str, SeedEdition]) -> None:
    assert 'dir="rtl"' in seed["riyadh"].rendered.html
    assert 'lang="ar"' in seed["riyadh"].rendered.html


@pytest.mark.parametrize("code", REGIONS)
def test_every_image_has_alt_text(seed: dict[str, SeedEdition], content: ContentSet, code: str) -> None:
    root = tree(seed[code])
    images = root.find_all("img")
    assert images, "seed editions carry lead images"
    for img in images:
        assert img.attrs.get("alt", "").strip(), img.attrs
    alts = {img.attrs["alt"] for img in images}
    for story in expected_stories(content, code):
        if story.image:
            assert story.image.alt in alts


@pytest.mark.parametrize("code", REGIONS)
def test_layout_tables_are_presentational(seed: dict[str, SeedEdition], code: str) -> None:
    # Raw HTML, so the tables inside Outlook's conditional comments are checked too.
    tables = re.findall(r"<table\b[^>]*>", seed[code].rendered.html)
    assert tables
    assert all('role="presentation"' in t for t in tables), [t for t in tables if "presentation" not in t]


@pytest.mark.parametrize("code", REGIONS)
def test_at_most_600px_wide(seed: dict[str, SeedEdition], code: str) -> None:
    html = seed[code].rendered.html
    widths = [int(w) for w in re.findall(r'\bwidth="(\d+)"', html)]
    widths += [int(w) for w in re.findall(r"(?<![-\w])(?:max-)?width:\s*(\d+)px", html)]
    assert widths and max(widths) <= 600
    assert "max-width:600px" in html


@pytest.mark.parametrize("code", REGIONS)
def test_under_80_kb(seed: dict[str, SeedEdition], code: str) -> None:
    size = len(seed[code].rendered.html.encode("utf-8"))
    assert size < MAX_HTML_BYTES, f"{code}: {size} bytes"


@pytest.mark.parametrize("code", REGIONS)
def test_dark_mode_is_declared(seed: dict[str, SeedEdition], code: str) -> None:
    root = tree(seed[code])
    metas = {m.attrs.get("name"): m.attrs.get("content") for m in root.find_all("meta")}
    assert metas.get("color-scheme") == "light dark"
    assert metas.get("supported-color-schemes") == "light dark"
    css = " ".join(style.text() for style in root.find_all("style"))
    assert "color-scheme: light dark" in css
    dark = css[css.index("prefers-color-scheme: dark") :]
    # Text and background are both overridden, so no text keeps a colour meant for white.
    assert "background-color" in dark and re.search(r"\bcolor:\s*#", dark)


@pytest.mark.parametrize("code", REGIONS)
def test_no_css_or_code_that_mail_clients_drop(seed: dict[str, SeedEdition], code: str) -> None:
    html = seed[code].rendered.html
    lowered = html.lower()
    assert not re.search(r"display\s*:\s*(inline-)?(flex|grid)", lowered)
    assert "<script" not in lowered and "<link" not in lowered and "@import" not in lowered
    assert "javascript:" not in lowered
    root = parse(html)
    assert not [n for n in root.iter() for a in n.attrs if a.startswith("on")]


# --- inline styles -------------------------------------------------------------------


@pytest.mark.parametrize("code", REGIONS)
def test_styles_that_matter_are_inline(seed: dict[str, SeedEdition], code: str) -> None:
    root = tree(seed[code])
    for h2 in root.find_all("h2"):
        style = h2.style()
        # Georgia has no Arabic letters: an Arabic headline names Arabic faces first.
        arabic = any("\u0600" <= ch <= "\u06ff" for ch in h2.text())
        assert style["font-family"].startswith("'Noto Naskh Arabic'" if arabic else "Georgia"), h2.text()
        assert style["font-size"] == "24px"
    for label in root.find_all("p", class_="dm-label"):
        assert label.style().get("color") and label.style().get("font-weight") == "700"
    for anchor in root.find_all("a"):
        if anchor.text().strip():  # links around images have no text to colour
            assert anchor.style().get("color"), anchor.attrs
    # Body text: 16px with 1.5 line height, set on the mj-text wrappers by mj-attributes.
    paragraphs = [p for p in root.find_all("p") if not p.attrs.get("class") and not p.style().get("font-size")]
    assert paragraphs
    for p in paragraphs:
        assert p.inherited("font-size") in ("16px", "14px"), p.attrs
        if p.inherited("font-size") == "16px":
            assert p.inherited("line-height") == "1.5"


@pytest.mark.parametrize("code", REGIONS)
def test_no_visible_text_smaller_than_13px(seed: dict[str, SeedEdition], code: str) -> None:
    body = tree(seed[code]).find_all("body")[0]
    hidden_preheader = body.children[0]
    assert isinstance(hidden_preheader, Node) and "display:none" in hidden_preheader.attrs["style"]
    for parent, text in body.text_nodes():
        if parent is hidden_preheader or parent.tag in ("style", "title"):
            continue
        size = parent.inherited("font-size")
        assert size is not None and float(size.removesuffix("px")) >= 13, (text[:40], size)


@pytest.mark.parametrize("code", REGIONS)
def test_share_links_are_44px_touch_targets(seed: dict[str, SeedEdition], code: str) -> None:
    anchors = share_anchors(tree(seed[code]))
    assert anchors
    for anchor in anchors:
        style = anchor.style()
        padding = [int(value.removesuffix("px")) for value in style["padding"].split()]
        top, bottom = padding[0], padding[2 if len(padding) > 2 else 0]
        assert style["display"] in ("block", "inline-block")
        assert top + bottom + int(style["line-height"].removesuffix("px")) >= 44


# --- content and links -----------------------------------------------------------------


def share_anchors(root: Node) -> list[Node]:
    return [
        a
        for a in root.find_all("a")
        if a.attrs["href"].startswith(("https://x.com/", "mailto:", "https://wa.me/", "https://www.linkedin.com/"))
    ]


@pytest.mark.parametrize("code", REGIONS)
def test_every_story_signal_and_source_is_there_in_order(
    seed: dict[str, SeedEdition], content: ContentSet, code: str
) -> None:
    root = tree(seed[code])
    stories = expected_stories(content, code)
    headlines = [" ".join(h.text().split()) for h in root.find_all("h2")]
    assert headlines == [s.headline for s in stories]
    text = body_text(root)
    zone = ZoneInfo(seed[code].region.timezone)
    for story in stories:
        h2 = next(h for h in root.find_all("h2") if " ".join(h.text().split()) == story.headline)
        assert h2.find_all("a")[0].attrs["href"] == story.canonical_url
        updated = (story.updated_at or story.published_at).astimezone(zone)
        meta = next(p for p in root.find_all("p") if p.parent is h2.parent and p is not h2)
        assert f"{updated:%H:%M}" in meta.text() and str(updated.year) in meta.text()
        if story.image:
            assert any(img.attrs["src"] == story.image.url for img in root.find_all("img"))
            assert story.image.credit in text
        for paragraph in story.body.split("\n\n"):
            assert plain_text(paragraph)[:50] in text
        h3s = {" ".join(h.text().split()): h for h in root.find_all("h3")}
        for signal in story.signals:
            assert signal.headline in h3s
            sources_line = next(
                p
                for p in root.find_all("p", class_="dm-muted")
                if p.parent is h3s[signal.headline].parent
                and p.parent.children.index(p) > p.parent.children.index(h3s[signal.headline])
            )
            for source in signal.sources:
                assert source.name in sources_line.text()
                linked = [a for a in sources_line.find_all("a") if a.text() == source.name]
                assert [a.attrs["href"] for a in linked] == ([source.url] if source.url else [])
            assert plain_text(signal.body)[:60] in text


@pytest.mark.parametrize("code", REGIONS)
def test_share_row_under_every_story_with_utm(seed: dict[str, SeedEdition], content: ContentSet, code: str) -> None:
    stories = expected_stories(content, code)
    anchors = share_anchors(tree(seed[code]))
    assert len(anchors) == 4 * len(stories)
    for index, story in enumerate(stories):
        for anchor, network in zip(
            anchors[4 * index : 4 * index + 4], ["x", "email", "whatsapp", "linkedin"], strict=True
        ):
            href = anchor.attrs["href"]
            assert href.isascii() and " " not in href and "+" not in href
            parts = urlsplit(href)
            host, path = SHARE_HOSTS[network]
            assert (parts.netloc, parts.path) == (host, path) or network == "email"
            query = parse_qs(parts.query)
            if network == "x":
                assert query["text"] == [story.headline]
                shared = query["url"][0]
            elif network == "email":
                assert href.startswith("mailto:?") and query["subject"] == [story.headline]
                shared = query["body"][0].split("\r\n\r\n")[1]
            elif network == "whatsapp":
                text, shared = query["text"][0].rsplit(" ", 1)
                assert text == story.headline
            else:
                shared = query["url"][0]
            shared_parts = urlsplit(shared)
            assert f"{shared_parts.scheme}://{shared_parts.netloc}{shared_parts.path}" == story.canonical_url
            assert parse_qs(shared_parts.query) == {
                "utm_source": ["newsletter"],
                "utm_medium": ["email"],
                "utm_campaign": [f"{code}-{EDITION_DATE.isoformat()}"],
                "utm_content": [f"share-{network}"],
            }


@pytest.mark.parametrize("code", REGIONS)
def test_ads_are_labelled_and_placed_after_their_slot(
    seed: dict[str, SeedEdition], content: ContentSet, code: str
) -> None:
    edition = seed[code]
    stories = expected_stories(content, code)
    assert edition.ads, "every seed region has ads"
    # The document order of story headlines and ad boxes, e.g. [story, ad, story, ad, story].
    sequence: list[str] = []
    for node in tree(edition).iter():
        if node.tag == "h2":
            sequence.append("story")
        elif "dm-ad" in node.attrs.get("class", "").split():
            box_text = " ".join(node.text().split())
            ad = next(a for a in edition.ads if a.headline in box_text)
            assert box_text.startswith(f"Advertisement · {ad.sponsor}")
            sequence.append(ad.slug)
    expected: list[str] = []
    for count in range(1, len(stories) + 1):
        expected.append("story")
        expected += [a.slug for a in edition.ads if min(a.slot, len(stories)) == count]
    assert sequence == expected


@pytest.mark.parametrize("code", REGIONS)
def test_header_links_all_six_editions_and_marks_this_one(seed: dict[str, SeedEdition], code: str) -> None:
    root = tree(seed[code])
    hrefs = {a.attrs["href"]: a for a in root.find_all("a")}
    # Each region's archive, which always exists (its edition of this date may not, yet or ever).
    for other in REGIONS:
        assert links.region_archive_url(BASE, other) in hrefs
        assert links.edition_url(BASE, other, EDITION_DATE) not in hrefs or other == code  # "view in browser"
    # "true", not "page": the link is the region's archive, not this page.
    current = [a for a in root.find_all("a") if a.attrs.get("aria-current") == "true"]
    assert [a.attrs["href"] for a in current] == [links.region_archive_url(BASE, code)]
    assert root.find_all("h1")[0].text() == seed[code].region.edition_name


@pytest.mark.parametrize("code", REGIONS)
def test_footer_links_hold_the_placeholder(seed: dict[str, SeedEdition], code: str) -> None:
    root = tree(seed[code])
    by_text = {" ".join(a.text().split()): a.attrs["href"] for a in root.find_all("a")}
    assert by_text["View in browser"] == links.edition_url(BASE, code, EDITION_DATE)
    assert by_text["Manage preferences"] == f"{BASE}/p/{links.TOKEN_PLACEHOLDER}"
    assert by_text["Unsubscribe"] == f"{BASE}/u/{links.TOKEN_PLACEHOLDER}"
    text = body_text(root)
    assert "Why you got this" in text
    assert "The Morning Wire, 100 Example Street" in text


@pytest.mark.parametrize("code", REGIONS)
def test_text_part_has_the_same_content_and_links(seed: dict[str, SeedEdition], content: ContentSet, code: str) -> None:
    rendered = seed[code].rendered
    text = rendered.text
    assert not re.search(r"<(p|div|a|table|span)\b", text), "the text part is not stripped HTML"
    flat = " ".join(text.split())
    for story in expected_stories(content, code):
        assert story.headline in text and story.canonical_url in text
        for signal in story.signals:
            assert signal.headline in text
            for source in signal.sources:
                # A wrapped source list may break a name across lines; URLs are never broken.
                assert source.name in flat and (source.url is None or source.url in text)
            assert plain_text(signal.body)[:60] in flat
    # One short share link a story (the story's URL, tagged), not four long share-flow URLs.
    assert not any(anchor.attrs["href"] in text for anchor in share_anchors(tree(seed[code])))
    for story in expected_stories(content, code):
        assert (
            f" {story.canonical_url}?utm_source=newsletter&utm_medium=email&utm_campaign={code}-2026-11-29"
            "&utm_content=share-text\n" in text
        )
    for ad in seed[code].ads:
        assert f"ADVERTISEMENT · {ad.sponsor}" in text and f"{ad.cta or 'Learn more'}: {ad.link}" in text
    # Source lists wrap at 76 columns (continued 4 spaces in); only a lone long URL may run over.
    source_lines = [line for line in text.splitlines() if line.startswith(("  Sources:", "  المصادر:", "    "))]
    assert any(line.startswith("    ") for line in source_lines)
    for line in source_lines:
        assert len(line) <= 76 or len(line.split()) == 1 or (len(line.split()) == 2 and "://" in line), line
    assert links.edition_url(BASE, code, EDITION_DATE) in text
    assert f"Manage preferences: {BASE}/p/{links.TOKEN_PLACEHOLDER}" in text
    assert f"Unsubscribe: {BASE}/u/{links.TOKEN_PLACEHOLDER}" in text


@pytest.mark.parametrize("code", REGIONS)
def test_a_filled_copy_holds_only_its_recipients_links(seed: dict[str, SeedEdition], code: str) -> None:
    rendered = seed[code].rendered
    assert rendered.html.count(links.TOKEN_PLACEHOLDER) == 2
    message = MessageContent(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        sender_name="Wire",
        sender_address="editions@news.example.com",
        base_url=BASE,
        unsubscribe_mailto="u@news.example.com",
        campaign=rendered.campaign,
    )
    ana = personalise(message, Recipient("ana@example.com", "tokenANA.sig1"))
    ben = personalise(message, Recipient("ben@example.com", "tokenBEN.sig2"))
    for copy, mine, theirs in ((ana, "tokenANA.sig1", "tokenBEN.sig2"), (ben, "tokenBEN.sig2", "tokenANA.sig1")):
        for part in (copy.html, copy.text):
            assert links.TOKEN_PLACEHOLDER not in part and theirs not in part
            assert links.unsubscribe_url(BASE, mine) in part and links.preferences_url(BASE, mine) in part
    # Nothing but the two links changed.
    assert ana.html.replace("tokenANA.sig1", links.TOKEN_PLACEHOLDER) == rendered.html


def test_seed_render_is_repeatable(tmp_path: Path, seed: dict[str, SeedEdition]) -> None:
    _, again = render_seed_editions(tmp_path)
    for code in REGIONS:
        assert again[code].rendered.html == seed[code].rendered.html
        assert again[code].rendered.text == seed[code].rendered.text
