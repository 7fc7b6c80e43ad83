"""Language details of the seed editions and of plain content: dates and labels in the story's
language, the Arabic comma, no synthetic italics on Arabic, an Arabic font stack, lang="zh" on
inline Chinese, UTC-offset zone labels everywhere; and links that say what they are (a
"Read more" under each story, an ad's call to action)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from newsletter.render.edition import render_edition
from newsletter.render.locale import local_time, long_date
from newsletter.render.markdown import render_markdown
from newsletter.render.snapshot import AdBlock
from tests.html_tree import Node, parse
from tests.seed_editions import SeedEdition, render_seed_editions
from tests.test_render import content, story

REGIONS = ["dc", "bxl", "lagos", "riyadh", "beijing", "sg"]
ARABIC = re.compile("[\u0600-\u06ff]")


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SeedEdition]:
    return render_seed_editions(tmp_path_factory.mktemp("locale-seed"))[1]


def arabic_block(edition: SeedEdition) -> list[Node]:
    return [
        div
        for div in parse(edition.rendered.html).find_all("div")
        if div.attrs.get("lang") == "ar" and div.attrs.get("dir") == "rtl"
    ]


def test_the_arabic_story_speaks_arabic(seed: dict[str, SeedEdition]) -> None:
    blocks = arabic_block(seed["riyadh"])
    assert blocks
    text = " ".join(" ".join(b.text() for b in blocks).split())
    # Updated 2026-11-28T14:30Z is 17:30 in Riyadh.
    assert "آخر تحديث 28 نوفمبر 2026، 17:30 UTC+3" in text
    assert "Nov" not in text and "Updated" not in text
    assert "المصادر: نشرة الخرج الزراعية، مرصد التجارة الخليجي" in text  # the Arabic comma
    assert "اقرأ القصة كاملة" in text and "شارك القصة:" in text
    # The text part says the same.
    assert "آخر تحديث 28 نوفمبر 2026، 17:30 UTC+3" in seed["riyadh"].rendered.text
    assert "نشرة الخرج الزراعية (https://kharjfarmnews.example.org/dates-platform)، مرصد" in " ".join(
        seed["riyadh"].rendered.text.split()
    )


def test_arabic_has_no_italics_and_names_an_arabic_face(seed: dict[str, SeedEdition]) -> None:
    blocks = arabic_block(seed["riyadh"])
    for block in blocks:
        assert block.style()["font-family"].startswith("'Noto Naskh Arabic'")
        assert "Geeza Pro" in block.style()["font-family"]
        for em in block.find_all("em"):
            assert em.style()["font-style"] == "normal" and em.style()["font-weight"] == "700"
    assert any(block.find_all("em") for block in blocks)  # the seed story has emphasis
    for heading in [h for block in blocks for h in block.find_all("h2") + block.find_all("h3")]:
        assert heading.style()["font-family"].startswith("'Noto Naskh Arabic'")


def test_inline_chinese_and_arabic_carry_their_language(seed: dict[str, SeedEdition]) -> None:
    beijing = parse(seed["beijing"].rendered.html)
    spans = [s for s in beijing.find_all("span") if s.attrs.get("lang") == "zh"]
    assert [s.text() for s in spans] == ["小院暖起来"]
    riyadh = parse(seed["riyadh"].rendered.html)
    quoted = [s for s in riyadh.find_all("span") if s.attrs.get("lang") == "ar"]
    assert [(s.text(), s.attrs["dir"]) for s in quoted] == [("الرياض لا تنام", "rtl")]
    # Inside the Arabic story itself nothing is marked again.
    assert all(not s.find_all("span", lang="ar") for s in arabic_block(seed["riyadh"]))


def test_inline_runs_from_markdown_are_escaped_and_marked() -> None:
    html, text = render_markdown('Slogan "小院暖起来" <b>x</b> and *«مرحبا بكم»*.', language="en")
    assert '<span lang="zh">小院暖起来</span>' in html and "&lt;b&gt;" in html
    assert '<em>«<span lang="ar" dir="rtl">مرحبا بكم</span>»</em>' in html
    assert text == 'Slogan "小院暖起来" <b>x</b> and «مرحبا بكم».'
    chinese, _ = render_markdown("小院暖起来", language="zh-Hans")
    assert "<span" not in chinese


@pytest.mark.parametrize("code", REGIONS)
def test_zone_labels_are_utc_offsets_in_every_region(seed: dict[str, SeedEdition], code: str) -> None:
    expected = {"dc": "UTC−5", "bxl": "UTC+1", "lagos": "UTC+1", "riyadh": "UTC+3", "beijing": "UTC+8", "sg": "UTC+8"}
    for part in (seed[code].rendered.text, " ".join(parse(seed[code].rendered.html).text().split())):
        labels = set(re.findall(r"\d\d:\d\d (UTC\S*|[A-Z]{3,4}\b)", part))
        assert labels == {expected[code]}, labels
        assert not re.search(r"\b(EST|EDT|CET|CEST|WAT|AST|CST|SGT)\b", part)


def test_dates_in_chinese_and_french() -> None:
    instant = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    assert str(local_time(instant, "Asia/Shanghai", "zh")) == "2026年11月28日 17:30 UTC+8"
    assert str(local_time(instant, "Europe/Brussels", "fr-BE")) == "28 novembre 2026 à 10:30 UTC+1"
    assert str(local_time(instant, "Asia/Kolkata", "en")) == "28 November 2026, 15:00 UTC+5:30"
    assert long_date(instant.date(), "ar") == "السبت 28 نوفمبر 2026"
    assert long_date(instant.date(), "zh") == "2026年11月28日 星期六"


@pytest.mark.parametrize("code", REGIONS)
def test_every_linked_headline_has_a_read_more_link(seed: dict[str, SeedEdition], code: str) -> None:
    root = parse(seed[code].rendered.html)
    headline_links = [a.attrs["href"] for h2 in root.find_all("h2") for a in h2.find_all("a")]
    read_more = [
        a.attrs["href"]
        for a in root.find_all("a")
        if " ".join(a.text().split()) in ("Read the full story", "اقرأ القصة كاملة")
    ]
    assert headline_links and read_more == headline_links


@pytest.mark.parametrize("code", REGIONS)
def test_every_ad_carries_its_call_to_action(seed: dict[str, SeedEdition], code: str) -> None:
    root = parse(seed[code].rendered.html)
    for ad in seed[code].ads:
        ctas = [
            a for a in root.find_all("a") if a.attrs["href"] == ad.link and a.text().strip() == (ad.cta or "Learn more")
        ]
        assert len(ctas) == 1, ad.slug
        style = ctas[0].style()
        assert style["display"] == "inline-block" and "border" in style


def test_an_ads_own_call_to_action_is_shown_in_both_parts() -> None:
    ad = AdBlock(
        slug="ad",
        sponsor="Hall",
        headline="Winter concerts",
        body="Sundays.",
        link="https://hall.example/t",
        cta="Book a seat",
    )
    rendered = render_edition(content((story(), ad)), edition_id=1)
    anchors = [a for a in parse(rendered.html).find_all("a") if a.attrs["href"] == "https://hall.example/t"]
    assert "Book a seat" in [a.text().strip() for a in anchors]
    assert "Book a seat: https://hall.example/t" in rendered.text
    default = render_edition(content((story(), replace(ad, cta=""))), edition_id=1)
    assert "Learn more: https://hall.example/t" in default.text
