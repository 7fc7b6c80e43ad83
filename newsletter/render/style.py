"""The email's look in one place: palette, fonts and the inline styles of inner elements.

MJML writes the styles of its own components inline (set in the template's
``mj-attributes``), but not those of HTML inside ``mj-text`` (headings, paragraphs,
links), and mjml-python ignores ``<mj-style inline="inline">``. So those styles
are written inline here, and the dark-mode overrides, which only work as a
stylesheet, live in :data:`DARK_MODE_CSS`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# Contrast against the page: text 18.9:1, muted 6.3:1, accent 6.6:1 (WCAG AA needs 4.5:1).
PALETTE: Final = MappingProxyType(
    {
        "page": "#ffffff",
        "text": "#111111",
        "muted": "#5f6368",
        "accent": "#0b57a4",
        "rule": "#dddddd",
        "ad_background": "#f1f3f4",
        # Dark mode
        "dark_page": "#121212",
        "dark_text": "#ececec",
        "dark_muted": "#b4b4b4",
        "dark_accent": "#8ab4f8",
        "dark_ad_background": "#232323",
    }
)

SERIF: Final = "Georgia, 'Times New Roman', serif"
SANS: Final = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
# Arabic-script faces first (Android, Apple, Windows), then faces with Arabic glyphs.
# Georgia and the Latin stacks have no Arabic, and a client's fallback is often poor.
ARABIC: Final = "'Noto Naskh Arabic', 'Noto Sans Arabic', 'Geeza Pro', 'Segoe UI', Tahoma, Arial, sans-serif"

# After the preheader in the hidden preview text: invisible filler (combining grapheme
# joiner, zero-width non-joiner, no-break space), so an inbox snippet shows the
# preheader and then blank space, not the edition's header text that follows.
PREHEADER_FILL: Final = "\u034f\u200c\u00a0" * 90

_c = PALETTE

# Inline styles keyed by HTML tag (and a few named roles), used by the templates
# and by the Markdown renderer for the elements it emits.
BODY_STYLES: Final = MappingProxyType(
    {
        "p": "margin:0 0 14px;",
        "ul": "margin:0 0 14px;padding:0 0 0 22px;",
        "ol": "margin:0 0 14px;padding:0 0 0 22px;",
        "li": "margin:0 0 6px;",
        "a": f"color:{_c['accent']};text-decoration:underline;",
        "strong": "font-weight:700;",
    }
)

# The same list indent on the right for right-to-left text. Arabic script has no
# italic: a browser would slant it synthetically, so emphasis is bold instead.
BODY_STYLES_RTL: Final = MappingProxyType(
    {
        **BODY_STYLES,
        "ul": "margin:0 0 14px;padding:0 22px 0 0;",
        "ol": "margin:0 0 14px;padding:0 22px 0 0;",
        "em": "font-style:normal;font-weight:700;",
    }
)

STYLES: Final = MappingProxyType(
    {
        "edition_name": f"margin:0;font-family:{SERIF};font-size:26px;line-height:1.25;font-weight:700;color:{_c['text']};",
        "date": f"margin:4px 0 0;font-size:14px;color:{_c['muted']};",
        "region_link": f"color:{_c['accent']};text-decoration:none;",
        "region_current": f"color:{_c['text']};text-decoration:underline;font-weight:700;",
        "headline": f"margin:0;font-family:{SERIF};font-size:24px;line-height:1.3;font-weight:700;color:{_c['text']};",
        "headline_link": f"color:{_c['text']};text-decoration:none;",
        "meta": f"margin:6px 0 0;font-size:13px;line-height:1.4;color:{_c['muted']};",
        "credit": f"margin:0;font-size:13px;line-height:1.4;color:{_c['muted']};",
        "label": f"margin:0 0 8px;font-size:13px;line-height:1.4;letter-spacing:1.5px;text-transform:uppercase;font-weight:700;color:{_c['accent']};",
        "label_rtl": f"margin:0 0 8px;font-size:14px;line-height:1.4;font-weight:700;color:{_c['accent']};",
        "signal_headline": f"margin:16px 0 4px;font-family:{SERIF};font-size:18px;line-height:1.35;font-weight:700;color:{_c['text']};",
        "sources": f"margin:0 0 6px;font-size:14px;line-height:1.45;color:{_c['muted']};",
        "source_link": f"color:{_c['muted']};text-decoration:underline;",
        "share_label": f"margin:0;font-size:13px;line-height:1.4;color:{_c['muted']};",
        # One row of four cells: it never wraps (the labels need about 210 px of the 272 px a
        # 320 px screen leaves), and each whole cell is a 44 px tall target.
        "share_table": "border-collapse:collapse;margin:0;",
        "share_cell": "padding:0;",
        # Space after each label (before it, right to left), so the first lines up with the text.
        "share_link": f"display:block;padding:12px 18px 12px 0;line-height:20px;font-size:15px;white-space:nowrap;color:{_c['accent']};text-decoration:none;",
        "share_link_rtl": f"display:block;padding:12px 0 12px 18px;line-height:20px;font-size:15px;white-space:nowrap;color:{_c['accent']};text-decoration:none;",
        "share_dot": f"color:{_c['muted']};",
        "read_more": "margin:0 0 14px;font-size:15px;line-height:20px;",
        "read_more_link": f"display:inline-block;padding:12px 0;color:{_c['accent']};font-weight:700;text-decoration:underline;",
        "rtl_block": f"font-family:{ARABIC};",
        "headline_rtl": f"margin:0;font-family:{ARABIC};font-size:24px;line-height:1.45;font-weight:700;color:{_c['text']};",
        "signal_headline_rtl": f"margin:16px 0 4px;font-family:{ARABIC};font-size:18px;line-height:1.5;font-weight:700;color:{_c['text']};",
        "ad_cta": "margin:10px 0 0;",
        # Outlined, not filled: dark mode recolours links, and light text on the blue fill would vanish.
        "ad_cta_link": f"display:inline-block;padding:11px 16px;line-height:20px;font-size:15px;font-weight:700;border:1px solid {_c['accent']};border-radius:4px;color:{_c['accent']};text-decoration:none;",
        "ad_label": f"margin:0 0 6px;font-size:13px;letter-spacing:1.5px;text-transform:uppercase;color:{_c['muted']};",
        "ad_headline": f"margin:0 0 6px;font-family:{SERIF};font-size:18px;line-height:1.35;font-weight:700;",
        "ad_headline_link": f"color:{_c['text']};text-decoration:none;",
        "footer_link": f"color:{_c['accent']};text-decoration:underline;",
        "footer_p": f"margin:0 0 10px;font-size:13px;line-height:1.5;color:{_c['muted']};",
    }
)

# Clients that honour prefers-color-scheme (Apple Mail, Outlook for Mac, some
# webmail) get these; !important beats the inline colours. Clients that invert
# colours themselves need nothing: every text colour is set with a background.
DARK_MODE_CSS: Final = f"""
:root {{ color-scheme: light dark; supported-color-schemes: light dark; }}
@media (prefers-color-scheme: dark) {{
  body, .dm-page {{ background-color: {_c["dark_page"]} !important; }}
  .dm-page div, .dm-page p, .dm-page li, .dm-page h1, .dm-page h2, .dm-page h3,
  .dm-page span, .dm-page strong, .dm-page em, .dm-page td {{ color: {_c["dark_text"]} !important; }}
  .dm-page a {{ color: {_c["dark_accent"]} !important; }}
  .dm-page .dm-muted, .dm-page .dm-muted span {{ color: {_c["dark_muted"]} !important; }}
  .dm-page .dm-label {{ color: {_c["dark_accent"]} !important; }}
  .dm-page .dm-strong-link {{ color: {_c["dark_text"]} !important; }}
  .dm-ad, .dm-ad table, .dm-ad td {{ background: {_c["dark_ad_background"]} !important;
    background-color: {_c["dark_ad_background"]} !important; }}
  .dm-page img {{ background-color: #ffffff !important; }}
}}
"""
