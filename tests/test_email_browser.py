"""Every seed edition in headless Chromium: no horizontal scrolling at phone widths, one
600 px column on desktop, readable text in light and dark mode, tappable share links.

Uses the system Chromium (NEWSLETTER_TEST_CHROMIUM, else /usr/bin/chromium); never
downloads a browser. All network requests are refused, so images show their alt text.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unavailable
from tests.seed_editions import SeedEdition, render_seed_editions

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("NEWSLETTER_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
REGIONS = ["dc", "bxl", "lagos", "riyadh", "beijing", "sg"]
PHONE_AND_DESKTOP = [320, 375, 600]
MIN_CONTRAST = 4.5  # WCAG AA for body text

# For every visible element with its own text: its colour against the nearest
# background actually painted behind it, as a WCAG contrast ratio.
CONTRAST_JS = """
() => {
  const rgba = (c) => {
    const p = c.match(/[\\d.]+/g).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.a > 0) return c;
    }
    return rgba(getComputedStyle(document.documentElement).backgroundColor || 'rgb(255,255,255)');
  };
  const found = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.getClientRects().length === 0) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible' || style.display === 'none') continue;
    const fg = rgba(style.color), bg = background(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    found.push({text: el.textContent.trim().slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05), color: style.color});
  }
  return found;
}
"""

SHARE_SELECTOR = (
    'a[href^="https://x.com/"], a[href^="mailto:"], a[href^="https://wa.me/"], a[href^="https://www.linkedin.com/"]'
)


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SeedEdition]:
    _, editions = render_seed_editions(tmp_path_factory.mktemp("browser-seed"))
    return editions


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"Chromium not found at {CHROMIUM} (set NEWSLETTER_TEST_CHROMIUM or install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    """One tab for the module: a new tab per check costs more than the check itself."""
    page = browser.new_page()
    page.route("**/*", lambda route: route.abort())  # no network: remote images show their alt text
    yield page
    page.close()


def open_edition(page: Any, html: str, width: int, scheme: str = "light") -> Any:
    page.set_viewport_size({"width": width, "height": 800})
    page.emulate_media(color_scheme=scheme)
    page.set_content(html, wait_until="load")
    return page


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("width", PHONE_AND_DESKTOP)
@pytest.mark.parametrize("code", REGIONS)
def test_no_horizontal_overflow(page: Any, seed: dict[str, SeedEdition], code: str, width: int, tmp_path: Path) -> None:
    open_edition(page, seed[code].rendered.html, width)
    scroll_width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    assert scroll_width <= width, f"{code} scrolls sideways at {width}px ({scroll_width}px wide)"
    # Nothing visible pokes out of the viewport on either side.
    outside = page.evaluate(
        """(w) => [...document.body.querySelectorAll('*')]
             .filter((e) => e.getClientRects().length)
             .map((e) => [e.tagName, e.getBoundingClientRect()])
             .filter(([, r]) => r.width > 0 && (r.left < -0.5 || r.right > w + 0.5))
             .map(([t, r]) => `${t} ${r.left}-${r.right}`)""",
        width,
    )
    assert outside == []
    shot = page.screenshot(full_page=True)
    (tmp_path / f"{code}-{width}.png").write_bytes(shot)
    assert png_size(shot)[0] == width


@pytest.mark.parametrize("code", REGIONS)
def test_one_column_on_phones_and_at_most_600px_on_desktop(page: Any, seed: dict[str, SeedEdition], code: str) -> None:
    for width, column in ((320, 320), (1280, 600)):
        open_edition(page, seed[code].rendered.html, width)
        boxes = page.evaluate(
            """() => [...document.querySelectorAll('h2, h3, .mj-column-per-100')]
                 .map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.right]; })"""
        )
        assert boxes
        widest = max(right for _, right in boxes) - min(left for left, _ in boxes)
        assert widest <= column, f"{code} at {width}px spans {widest}px"
        # One column: every headline starts at the same left edge (no side-by-side blocks).
        lefts = page.evaluate("() => [...document.querySelectorAll('h2')].map((e) => e.getBoundingClientRect().left)")
        assert len({round(left) for left in lefts}) == 1, lefts


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("code", REGIONS)
def test_text_stays_readable_in_light_and_dark_mode(
    page: Any, seed: dict[str, SeedEdition], code: str, scheme: str
) -> None:
    open_edition(page, seed[code].rendered.html, 375, scheme)
    found = page.evaluate(CONTRAST_JS)
    assert len(found) > 50
    faint = [f for f in found if f["ratio"] < MIN_CONTRAST]
    assert not faint, faint[:5]
    body_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert body_background == ("rgb(18, 18, 18)" if scheme == "dark" else "rgb(255, 255, 255)")


@pytest.mark.parametrize("code", REGIONS)
def test_share_links_are_at_least_44px_tall(page: Any, seed: dict[str, SeedEdition], code: str) -> None:
    open_edition(page, seed[code].rendered.html, 320)
    heights = page.evaluate(
        f"() => [...document.querySelectorAll('{SHARE_SELECTOR}')].map((a) => a.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 44


@pytest.mark.parametrize("width", [320, 375])
@pytest.mark.parametrize("code", REGIONS)
def test_each_share_row_stays_on_one_line(page: Any, seed: dict[str, SeedEdition], code: str, width: int) -> None:
    open_edition(page, seed[code].rendered.html, width)
    rows = page.evaluate(
        f"""() => {{
            const rows = new Map();
            for (const a of document.querySelectorAll('{SHARE_SELECTOR}')) {{
                const row = a.closest('tr');
                if (!rows.has(row)) rows.set(row, []);
                const r = a.getBoundingClientRect();
                rows.get(row).push({{top: r.top, height: r.height, right: r.right, text: a.textContent}});
            }}
            return [...rows.values()];
        }}"""
    )
    assert len(rows) == page.evaluate("document.querySelectorAll('h2 a').length")  # a row a linked story
    for row in rows:
        assert len(row) == 4
        assert len({round(link["top"]) for link in row}) == 1, row  # one line: every target at the same top
        assert min(link["height"] for link in row) >= 44, row
        assert max(link["right"] for link in row) <= width, row


def test_arabic_emphasis_is_not_slanted(page: Any, seed: dict[str, SeedEdition]) -> None:
    open_edition(page, seed["riyadh"].rendered.html, 375)
    styles = page.evaluate(
        """() => [...document.querySelectorAll('div[lang="ar"] em')]
             .map((e) => [getComputedStyle(e).fontStyle, getComputedStyle(e).fontWeight])"""
    )
    assert styles and all(style == ["normal", "700"] for style in styles), styles
