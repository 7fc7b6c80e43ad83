"""The Gmail clip guard: an edition whose HTML is over budget does not go out.

Gmail shows "[Message clipped]" for HTML over about 102 KB and hides the rest,
footer and unsubscribe link included. The budget (``NEWSLETTER_MAX_HTML_KB``,
default 90, in KiB of UTF-8) leaves room for the per-recipient token and the
transfer encoding. One check, :func:`check_html_size`, is called by ``send``,
the scheduler (both through ``edition_send.open_send``) and ``approve``, which
refuse; ``preview`` only warns (:func:`html_size`).
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.errors import HtmlTooLargeError
from newsletter.render.edition import RenderedEdition

# Each top-level mj-section compiles to a wrapper div that starts like this (mjml-python);
# the header, every item and the footer are one section each.
_SECTION_START = '<div style="margin:0px auto;max-width:600px;"'
KIB = 1024


@dataclass(frozen=True)
class HtmlSize:
    total: int  # bytes of UTF-8
    budget: int  # bytes
    parts: tuple[tuple[str, int], ...]  # (label, bytes), biggest first

    @property
    def over(self) -> bool:
        return self.total > self.budget

    def describe(self, biggest: int = 4) -> str:
        """``HTML is 95.2 KB, over the 90 KB budget; biggest parts: story 2 (...) 21.0 KB, ...``."""
        where = "over" if self.over else "within"
        text = (
            f"HTML is {self.total / KIB:.1f} KB, {where} the {self.budget / KIB:.0f} KB budget (NEWSLETTER_MAX_HTML_KB)"
        )
        if self.parts:
            text += "; biggest parts: " + ", ".join(
                f"{label} {size / KIB:.1f} KB" for label, size in self.parts[:biggest]
            )
        return text


def html_size(rendered: RenderedEdition, max_kb: int) -> HtmlSize:
    """The edition's HTML size against the budget, with the size of each block."""
    data = rendered.html
    total = len(data.encode("utf-8"))
    starts = []
    position = data.find(_SECTION_START)
    while position != -1:
        starts.append(position)
        position = data.find(_SECTION_START, position + 1)
    parts: list[tuple[str, int]] = []
    # Only when the sections line up with the labels; otherwise the total alone is reported.
    if len(starts) == len(rendered.part_labels) and starts:
        ends = [*starts[1:], len(data)]
        parts = [
            (label, len(data[a:b].encode("utf-8")))
            for label, a, b in zip(rendered.part_labels, starts, ends, strict=True)
        ]
        parts.append(("head and styles", len(data[: starts[0]].encode("utf-8"))))
        parts.sort(key=lambda part: -part[1])
    return HtmlSize(total, max_kb * KIB, tuple(parts))


def check_html_size(
    rendered: RenderedEdition, max_kb: int, *, allow_large: bool = False, action: str = "sent"
) -> HtmlSize:
    """Raise HtmlTooLargeError when the HTML is over budget, unless an editor allowed it.

    ``action`` names what is refused in the message ("sent", "approved").
    """
    size = html_size(rendered, max_kb)
    if size.over and not allow_large:
        raise HtmlTooLargeError(
            f"edition {rendered.region_code} {rendered.local_date.isoformat()} cannot be {action}: {size.describe()}. "
            "Gmail clips HTML over about 102 KB and hides the footer with the unsubscribe link; shorten the "
            "edition (fewer or shorter stories), or send it anyway with `newsletter send --allow-large-html`"
        )
    return size
