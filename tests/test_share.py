"""Share links: each network's own flow, the story URL with UTM tags, everything percent-encoded."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from newsletter.render.share import NETWORKS, Network, campaign_name, share_links, with_utm

URL = "https://news.example.com/beijing/hutong-heat-pumps"
CAMPAIGN = "beijing-2026-11-29"
HEADLINES = [
    "Metro board backs trial of 2 a.m. closings",
    "东城胡同试点共享热泵 & 新电网",
    "مزارعو التمور في الخرج يطلقون منصة تعاونية",
    "Quotes \"and\" 'apostrophes' + plus = equals # hash ? query & amp %20 percent",
]


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_campaign_name() -> None:
    assert campaign_name("dc", date(2026, 11, 29)) == "dc-2026-11-29"


def test_utm_tags_are_added_and_existing_query_kept() -> None:
    tagged = with_utm("https://news.example.com/a?ref=home&utm_source=old#top", CAMPAIGN, "share-x")
    parts = urlsplit(tagged)
    assert parts.fragment == "top" and parts.path == "/a"
    assert query_of(tagged) == {
        "ref": ["home"],
        "utm_source": ["newsletter"],
        "utm_medium": ["email"],
        "utm_campaign": [CAMPAIGN],
        "utm_content": ["share-x"],
    }


UTM = f"utm_source=newsletter&utm_medium=email&utm_campaign={CAMPAIGN}&utm_content=share-x"


@pytest.mark.parametrize(
    ("story_url", "expected"),
    [
        # "+" means a space to many servers and a plus to others: leave it as written.
        ("https://ex.com/a?q=c++&x=1#frag", f"https://ex.com/a?q=c++&x=1&{UTM}#frag"),
        # A signature's encoding must survive exactly, and only utm_* pairs go.
        ("https://ex.com/a?sig=ab+cd%2Fef==&utm_source=old&utm_content=x", f"https://ex.com/a?sig=ab+cd%2Fef==&{UTM}"),
        # A bare flag and bytes that are not UTF-8 are not rewritten.
        ("https://ex.com/a?flag&z=%FF", f"https://ex.com/a?flag&z=%FF&{UTM}"),
        ("https://ex.com/a?utm_medium=web", f"https://ex.com/a?{UTM}"),
        ("https://ex.com/a", f"https://ex.com/a?{UTM}"),
        ("https://ex.com/a#only-a-fragment", f"https://ex.com/a?{UTM}#only-a-fragment"),
        # A key that merely contains "utm_" is not a UTM tag.
        ("https://ex.com/a?xutm_a=1", f"https://ex.com/a?xutm_a=1&{UTM}"),
    ],
)
def test_the_story_urls_own_query_is_kept_byte_for_byte(story_url: str, expected: str) -> None:
    assert with_utm(story_url, CAMPAIGN, "share-x") == expected


@pytest.mark.parametrize("headline", HEADLINES)
def test_every_network_round_trips_headline_and_tagged_url(headline: str) -> None:
    links = share_links(URL, headline, CAMPAIGN)
    assert (
        [link.network for link in links]
        == list(NETWORKS)
        == [Network.X, Network.EMAIL, Network.WHATSAPP, Network.LINKEDIN]
    )
    for link in links:
        # Fully percent-encoded: ASCII only, no raw spaces, and no "+" that a client could show literally.
        assert link.url.isascii() and " " not in link.url and "+" not in link.url
        assert query_of(link.shared_url)["utm_content"] == [f"share-{link.network.value}"]
        assert link.shared_url.startswith(URL + "?")

    x, email, whatsapp, linkedin = links
    assert x.url.startswith("https://x.com/intent/post?")
    assert query_of(x.url) == {"text": [headline], "url": [x.shared_url]}

    assert email.url.startswith("mailto:?")
    fields = query_of(email.url)
    assert fields["subject"] == [headline]
    assert fields["body"] == [f"{headline}\r\n\r\n{email.shared_url}"]

    assert whatsapp.url.startswith("https://wa.me/?")
    assert query_of(whatsapp.url) == {"text": [f"{headline} {whatsapp.shared_url}"]}

    assert linkedin.url.startswith("https://www.linkedin.com/sharing/share-offsite/?")
    assert query_of(linkedin.url) == {"url": [linkedin.shared_url]}


def test_non_latin_headline_is_utf8_percent_encoded() -> None:
    x = share_links(URL, "东城", CAMPAIGN)[0]
    assert "text=%E4%B8%9C%E5%9F%8E&" in x.url
    assert unquote(x.url.split("text=")[1].split("&")[0]) == "东城"


def test_line_breaks_in_a_headline_do_not_reach_the_share_text() -> None:
    x = share_links(URL, "Two\nlines\r\n here", CAMPAIGN)[0]
    assert query_of(x.url)["text"] == ["Two lines here"]


def test_the_shared_url_is_encoded_as_one_parameter() -> None:
    # The UTM "&" inside the shared URL must not split the outer query.
    x = share_links(URL, "Headline", CAMPAIGN)[0]
    assert set(query_of(x.url)) == {"text", "url"}
    assert "%26utm_medium%3Demail" in x.url
