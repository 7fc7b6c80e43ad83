"""The safe Markdown subset: what is allowed renders; everything else is escaped or dropped."""

from __future__ import annotations

import re

import pytest

from newsletter.render.markdown import is_safe_url, markdown_html, markdown_text, plain_text
from tests.html_tree import parse

ALLOWED = """First paragraph with **bold**, *italic* and a [link](https://example.com/a?b=1&c=2).

- one
- two with [mail](mailto:desk@example.com)

1. first
2. second
"""


def test_the_subset_renders() -> None:
    html = markdown_html(ALLOWED)
    root = parse(html)
    assert [n.tag for n in root.iter() if n.tag != "#document"] == [
        "p",
        "strong",
        "em",
        "a",
        "ul",
        "li",
        "li",
        "a",
        "ol",
        "li",
        "li",
    ]
    assert root.find_all("a")[0].attrs["href"] == "https://example.com/a?b=1&c=2"
    assert 'href="https://example.com/a?b=1&amp;c=2"' in html


def test_styles_are_written_inline_on_every_element_they_name() -> None:
    html = markdown_html(ALLOWED, {"p": "margin:0;", "a": "color:#0b57a4;", "li": "margin:0 0 6px;"})
    root = parse(html)
    assert all(p.attrs["style"] == "margin:0;" for p in root.find_all("p"))
    assert all(a.attrs["style"] == "color:#0b57a4;" for a in root.find_all("a"))
    assert all(li.attrs["style"] == "margin:0 0 6px;" for li in root.find_all("li"))
    assert "style" not in root.find_all("strong")[0].attrs


HOSTILE = [
    "<script>alert(1)</script>",
    "<style>body{display:none}</style>",
    '<img src="x" onerror="alert(1)">',
    '<a href="https://ok.example" onclick="alert(1)">x</a>',
    "<iframe src=https://evil.example></iframe>",
    "<!-- comment --> <div>raw block</div>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD4=)",
    "[click](/relative/path)",
    "![image](https://evil.example/pixel.gif)",
    "<https://autolink.example>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "# heading\n\n> quote\n\n    code block\n\n```\nfence\n```",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_is_escaped_or_dropped(source: str) -> None:
    html = markdown_html(source)
    root = parse(html)
    tags = {n.tag for n in root.iter()} - {"#document"}
    assert tags <= {"p", "a", "strong", "em", "ul", "ol", "li"}, tags
    for node in root.iter():
        assert not [name for name in node.attrs if name.startswith("on")]
    for anchor in root.find_all("a"):
        assert is_safe_url(anchor.attrs["href"])
    assert not re.search(r"(?i)<(script|style|img|iframe|div)\b", html)
    assert not [a for a in root.find_all("a") if "script" in a.attrs["href"].lower()]


def test_raw_html_shows_as_text_not_markup() -> None:
    html = markdown_html("Before <b onmouseover=alert(1)>bold</b> after")
    assert html == "<p>Before &lt;b onmouseover=alert(1)&gt;bold&lt;/b&gt; after</p>\n"


def test_refused_link_stays_visible_text() -> None:
    assert markdown_html("[x](javascript:alert(1))") == "<p>[x](javascript:alert(1))</p>\n"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.com", True),
        ("http://example.com/a", True),
        ("mailto:desk@example.com", True),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\nscript:alert(1)", False),
        ("data:text/html,x", False),
        ("https:///no-host", False),
        ("//example.com/x", False),
        ("", False),
        (None, False),
    ],
)
def test_is_safe_url(url: str | None, safe: bool) -> None:
    assert is_safe_url(url) is safe


def test_text_rendering_keeps_structure_and_shows_link_targets() -> None:
    text = markdown_text(ALLOWED)
    assert text.splitlines()[:3] == [
        "First paragraph with bold, italic and a link",
        "(https://example.com/a?b=1&c=2).",
        "",
    ]
    assert "- one\n- two with mail (mailto:desk@example.com)" in text
    assert "- first\n- second" in text
    assert all(len(line) <= 72 for line in text.splitlines() if "://" not in line)


def test_plain_text_drops_markup() -> None:
    assert plain_text("Some **bold** and [a link](https://e.example).\n\n- item") == "Some bold and a link. item"
