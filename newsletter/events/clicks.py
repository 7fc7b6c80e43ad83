"""Which story and share network each click of an edition was for, told by the clicked URL.

A story's headline and "read more" lead to its canonical URL; a share link is the network's
own URL with the shared story URL inside it, tagged ``utm_content=share-<network>`` (see
:mod:`newsletter.render.share`). Anything else (ads, sources, footer) is another link.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import sqlalchemy as sa

from newsletter.db.models import Event, EventType
from newsletter.events.figures import of_edition
from newsletter.events.ingest import PROVIDER
from newsletter.render.share import NETWORKS, Network, network_of, without_utm
from newsletter.render.snapshot import StoryBlock

__all__ = ["ClickTally", "StoryClicks", "classify_click", "clicks_per_url", "tally_clicks"]

_URL_INSIDE = re.compile(r"https?://[^\s\"'<>]+")
_event = Event.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StoryClicks:
    slug: str
    headline: str
    url: str
    clicks: int  # on the story's own links (headline, read more)
    shares: dict[Network, int]  # on its share links, per network


@dataclass(frozen=True)
class ClickTally:
    stories: list[StoryClicks]  # in the edition's order
    networks: dict[Network, int]  # share clicks per network, over all stories
    other: int  # ads, sources, footer, anything not a story or share link


def clicks_per_url(connection: sa.Connection, edition_id: int) -> list[tuple[str, int]]:
    """(clicked URL, clicks) of one edition, one row per distinct URL."""
    e = _event.c
    rows = connection.execute(
        sa.select(e.url, sa.func.count())
        .where(of_edition(edition_id), e.event_type == EventType.CLICK, e.provider == PROVIDER, e.url.is_not(None))
        .group_by(e.url)
    )
    return [(url, count) for url, count in rows]


def tally_clicks(per_url: Iterable[tuple[str, int]], stories: Sequence[StoryBlock]) -> ClickTally:
    """Add up clicks per story (its own links and each share network) and per network."""
    by_page = {without_utm(story.canonical_url): story for story in stories}
    reads: Counter[str] = Counter()
    shares: dict[str, Counter[Network]] = {story.slug: Counter() for story in stories}
    networks: Counter[Network] = Counter()
    other = 0
    for url, count in per_url:
        page, network = classify_click(url)
        story = by_page.get(page) if page is not None else None
        if network is not None:
            networks[network] += count
            if story is not None:
                shares[story.slug][network] += count
        elif story is not None:
            reads[story.slug] += count
        else:
            other += count
    return ClickTally(
        [
            StoryClicks(
                story.slug,
                story.headline,
                story.canonical_url,
                reads[story.slug],
                {network: shares[story.slug][network] for network in NETWORKS},
            )
            for story in stories
        ],
        {network: networks[network] for network in NETWORKS},
        other,
    )


def classify_click(url: str) -> tuple[str | None, Network | None]:
    """(the page a clicked URL leads to, the share network if it is a share link).

    A share link is the network's URL with the shared story URL inside a query value
    (X and LinkedIn: ``url``, WhatsApp: ``text``, mail: ``body``); that inner URL's
    ``utm_content`` names the network. Anything else leads to itself, tags removed.
    """
    try:
        parts = urlsplit(url)
        values = [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    except ValueError:
        return None, None
    for value in values:
        for inner in _URL_INSIDE.findall(value):
            network = _network_of_url(inner)
            if network is not None:
                return without_utm(inner), network
    if parts.scheme not in ("http", "https"):
        return None, None
    return without_utm(url), _network_of_url(url)


def _network_of_url(url: str) -> Network | None:
    try:
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:
        return None
    content = dict(pairs).get("utm_content")
    return network_of(content) if content else None
