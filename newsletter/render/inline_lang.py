"""Mark runs of another script inside a text with their language (``lang="zh"``, ``lang="ar"``).

A Chinese slogan quoted in an English story is read aloud by screen readers in
English and drawn with a Japanese face by some fonts unless it says it is
Chinese; an Arabic phrase in an English paragraph also needs its own direction,
or the punctuation around it jumps. Only Han and Arabic script are detected,
the two this newsletter's regions quote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from markupsafe import Markup, escape

from newsletter.render.locale import primary_language

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_PUNCT = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20"
_ARABIC = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc"

# A run starts and ends with a letter of the script; spaces and the script's own
# punctuation in between belong to it.
_RUNS: Final = re.compile(
    f"(?P<zh>[{_HAN}](?:[{_HAN}{_HAN_PUNCT}\\s]*[{_HAN}])?)|(?P<ar>[{_ARABIC}](?:[{_ARABIC}\\s]*[{_ARABIC}])?)"
)

# Languages whose own text is written in that script: no run is foreign to them.
_OWN_SCRIPT: Final = {
    "zh": frozenset({"zh", "ja", "ko"}),
    "ar": frozenset({"ar", "fa", "ur", "ps", "sd", "ckb", "ug", "ks"}),
}
_ATTRS: Final = {"zh": ' lang="zh"', "ar": ' lang="ar" dir="rtl"'}


def foreign_runs(text: str, language: str) -> Iterator[tuple[str, str | None]]:
    """``text`` in pieces: (piece, "zh"/"ar") for a run in another script, (piece, None) otherwise."""
    if text.isascii():  # neither script: no run to find
        if text:
            yield text, None
        return
    own = primary_language(language)
    position = 0
    for match in _RUNS.finditer(text):
        script = match.lastgroup or ""
        if own in _OWN_SCRIPT[script]:
            continue
        if match.start() > position:
            yield text[position : match.start()], None
        yield match.group(), script
        position = match.end()
    if position < len(text):
        yield text[position:], None


def open_tag(script: str) -> Markup:
    return Markup(f"<span{_ATTRS[script]}>")


def with_lang_spans(text: str, language: str) -> Markup:
    """``text`` escaped, each foreign run in a ``<span lang=...>`` (a template filter)."""
    return Markup("").join(
        open_tag(script) + escape(piece) + Markup("</span>") if script else escape(piece)
        for piece, script in foreign_runs(text, language)
    )
