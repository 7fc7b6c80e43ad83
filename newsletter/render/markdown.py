"""The small, safe Markdown subset allowed in story, signal and ad bodies.

Paragraphs, **bold**, *italic*, ``[links](https://...)`` and lists; nothing else.
Raw HTML is never passed through (it comes out as visible, escaped text), and a
link whose target is not http(s) or mailto is not made a link at all, so
``javascript:`` and ``data:`` URLs cannot reach an inbox.

The same parse yields both parts of the email: HTML with the styles written
inline (mail clients drop most stylesheets) and plain text for the text part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from newsletter.render.inline_lang import foreign_runs, open_tag

_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
TEXT_WIDTH = 72


def is_safe_url(url: str | None, *, schemes: frozenset[str] = SAFE_SCHEMES) -> bool:
    """True for an absolute URL whose scheme may appear in an email (http, https, mailto)."""
    if not url:
        return False
    # Browsers ignore control characters and whitespace inside a scheme
    # ("java\tscript:"), so anything like that is refused outright.
    if _CONTROL_OR_SPACE.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme.lower() not in schemes:
        return False
    return parts.scheme.lower() == "mailto" or bool(parts.netloc)


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("zero", {"html": False, "linkify": False, "typographer": False})
    md.enable(["list", "newline", "escape", "emphasis", "link", "entity"])
    # Replaces markdown-it's deny-list with an allow-list; a refused target
    # leaves the bracket text as plain text.
    md.validateLink = is_safe_url  # type: ignore[method-assign]  # markdown-it's documented hook: replace the method
    return md


# Element -> inline style, for the HTML part. Keys are markdown-it token tags.
Styles = Mapping[str, str]


def markdown_html(source: str, styles: Styles | None = None) -> Markup:
    """Render the safe subset as HTML, with ``styles[tag]`` written inline on each element."""
    return render_markdown(source, styles)[0]


def render_markdown(
    source: str, styles: Styles | None = None, width: int = TEXT_WIDTH, *, language: str | None = None
) -> tuple[Markup, str]:
    """(HTML, plain text) of one source from a single parse: both parts say the same thing.

    With ``language``, runs of another script in the HTML get their own ``lang``
    (see :mod:`newsletter.render.inline_lang`).
    """
    md = _parser()
    tokens = md.parse(source or "")
    text = _tokens_text(tokens, width)  # before styling: attributes play no part in text
    if styles:
        _apply_styles(tokens, styles)
    if language is not None:
        _mark_foreign_runs(tokens, language)
    return Markup(md.renderer.render(tokens, md.options, {})), text


def _mark_foreign_runs(tokens: list[Token], language: str) -> None:
    """Split text tokens so each foreign run sits in a span; the text itself stays escaped by the renderer."""
    for token in tokens:
        if token.type != "inline" or not token.children:
            continue
        children: list[Token] = []
        for child in token.children:
            if child.type != "text":
                children.append(child)
                continue
            pieces = list(foreign_runs(child.content, language))
            if len(pieces) == 1 and pieces[0][1] is None:
                children.append(child)  # nothing foreign (most text): the token stays as it is
                continue
            for piece, script in pieces:
                if script:
                    children.append(Token("html_inline", "", 0, content=str(open_tag(script))))
                children.append(Token("text", "", 0, content=piece))
                if script:
                    children.append(Token("html_inline", "", 0, content="</span>"))
        token.children = children


def _apply_styles(tokens: list[Token], styles: Styles) -> None:
    for token in tokens:
        if token.nesting == 1 and token.tag in styles:
            token.attrSet("style", styles[token.tag])
        if token.children:
            _apply_styles(token.children, styles)


def markdown_text(source: str, width: int = TEXT_WIDTH) -> str:
    """Render the safe subset as plain text: wrapped paragraphs, ``-`` lists, ``label (url)`` links."""
    return _tokens_text(_parser().parse(source or ""), width)


def _tokens_text(tokens: list[Token], width: int) -> str:
    blocks: list[str] = []
    list_depth = 0
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
        elif token.type == "inline":
            text = _inline_text(token.children or [])
            if list_depth:
                indent = "  " * (list_depth - 1)
                blocks.append(_wrap(text, width, indent + "- ", indent + "  "))
            else:
                blocks.append(_wrap(text, width, "", ""))
    # List items sit on consecutive lines; everything else is a paragraph apart.
    out: list[str] = []
    for block in blocks:
        joiner = "\n" if out and block.lstrip().startswith("- ") and out[-1].lstrip().startswith("- ") else "\n\n"
        out.append(joiner + block if out else block)
    return "".join(out)


def _inline_text(children: list[Token]) -> str:
    parts: list[str] = []
    href_stack: list[str] = []
    for child in children:
        if child.type == "text":
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" " if child.type == "softbreak" else "\n")
        elif child.type == "link_open":
            href_stack.append(str(child.attrGet("href") or ""))
        elif child.type == "link_close" and href_stack:
            parts.append(f" ({href_stack.pop()})")
    return "".join(parts)


def wrap_text(text: str, width: int = TEXT_WIDTH, first: str = "", rest: str = "") -> str:
    """Word-wrap plain text to ``width``, prefixing the first line and the rest; URLs are never broken."""
    return _wrap(text, width, first, rest)


def _wrap(text: str, width: int, first: str, rest: str) -> str:
    """Greedy word wrap; a word longer than the line (a URL) gets a line of its own, unbroken.

    Hand-rolled because textwrap's generality made it the slowest step of a render.
    """
    out: list[str] = []
    prefix = first
    for hard_line in text.split("\n"):
        if len(prefix) + len(hard_line) <= width:
            # Fits as it stands (collapsing spaces only shortens it): the loop below would make one line.
            out.append((prefix + " ".join(hard_line.split())).rstrip())
            prefix = rest
            continue
        words: list[str] = []
        used = len(prefix)  # the line's length so far, prefix included
        for word in hard_line.split():
            if words and used + 1 + len(word) > width:
                out.append(prefix + " ".join(words))
                prefix, words, used = rest, [word], len(rest) + len(word)
            else:
                used += len(word) + 1 if words else len(word)
                words.append(word)
        out.append((prefix + " ".join(words)).rstrip())
        prefix = rest
    return "\n".join(out)


def plain_text(source: str) -> str:
    """The subset's words with markup removed and whitespace collapsed (for preheaders)."""
    blocks: list[str] = []
    for token in _parser().parse(source or ""):
        if token.type == "inline":
            blocks.append(
                "".join(
                    " " if child.type in ("softbreak", "hardbreak") else child.content
                    for child in token.children or []
                    if child.type in ("text", "softbreak", "hardbreak")
                )
            )
    return " ".join(" ".join(blocks).split())
