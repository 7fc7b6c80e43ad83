"""Unicode bidirectional controls, which must never reach a subject or a header.

The embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069) are
invisible and reorder the text around them: a subject or a From name carrying
U+202E can show a reader something other than what it says. Content that feeds a
subject or a header refuses them (:mod:`newsletter.content.files`); where subjects,
preheaders and headers are built they are also removed (:func:`without_bidi_controls`),
for text that came from elsewhere (editors' overrides, snapshots, settings).
The marks U+200E, U+200F and U+061C do not reorder anything and are kept.
"""

from __future__ import annotations

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_REMOVE = dict.fromkeys(map(ord, BIDI_CONTROLS))


def bidi_controls_in(text: str) -> list[str]:
    """The controls found in ``text``, as code points (``U+202E``), in order, each once."""
    return [f"U+{ord(ch):04X}" for ch in dict.fromkeys(ch for ch in text if ch in BIDI_CONTROLS)]


def without_bidi_controls(text: str) -> str:
    """``text`` with every bidirectional control removed."""
    return text.translate(_REMOVE)
