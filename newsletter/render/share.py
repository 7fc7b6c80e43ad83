"""Share links for a story: each network's own share flow, the story URL tagged with UTM.

Every part is percent-encoded with ``quote`` (spaces as ``%20``, never ``+``,
which mailto and some apps show literally), so non-Latin headlines survive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from urllib.parse import quote, urlsplit, urlunsplit


class Network(StrEnum):
    X = "x"
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    LINKEDIN = "linkedin"


# In the order the share row shows them.
NETWORKS: tuple[Network, ...] = (Network.X, Network.EMAIL, Network.WHATSAPP, Network.LINKEDIN)

UTM_SOURCE = "newsletter"
UTM_MEDIUM = "email"
SHARE_CONTENT_PREFIX = "share-"  # utm_content of a shared URL: "share-x", "share-email", ...


@dataclass(frozen=True)
class ShareLink:
    network: Network
    url: str  # the network's share flow, ready for an href
    shared_url: str  # the story URL it shares, with UTM tags


def campaign_name(region_code: str, local_date: date) -> str:
    """The campaign tag of an edition, e.g. ``dc-2026-11-29``."""
    return f"{region_code}-{local_date.isoformat()}"


def _encode(pairs: list[tuple[str, str]]) -> str:
    # urlencode(pairs, quote_via=quote, safe=""), without its per-pair type checks.
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in pairs)


def with_utm(url: str, campaign: str, content: str) -> str:
    """``url`` with utm_source/medium/campaign/content set, keeping the rest of it as written.

    The existing query is kept byte for byte: decoding and re-encoding it would
    turn ``+`` into ``%20``, drop a bare ``flag``, or replace bytes that are not
    UTF-8, and signed or picky URLs would break. Only ``utm_*`` pairs are removed,
    by splitting the raw query on ``&``; the fragment stays.
    """
    parts = urlsplit(url)
    kept = _without_utm_pairs(parts.query)
    utm = [
        ("utm_source", UTM_SOURCE),
        ("utm_medium", UTM_MEDIUM),
        ("utm_campaign", campaign),
        ("utm_content", content),
    ]
    return urlunsplit(parts._replace(query="&".join([*kept, _encode(utm)])))


def _without_utm_pairs(query: str) -> list[str]:
    return [pair for pair in query.split("&") if not pair.partition("=")[0].startswith("utm_")] if query else []


def without_utm(url: str) -> str:
    """``url`` without its ``utm_*`` pairs and fragment: the page it leads to, whichever link led there."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="&".join(_without_utm_pairs(parts.query)), fragment=""))


def network_of(utm_content: str) -> Network | None:
    """The network a shared URL's ``utm_content`` names (see :func:`share_links`), or None."""
    if not utm_content.startswith(SHARE_CONTENT_PREFIX):
        return None
    try:
        return Network(utm_content.removeprefix(SHARE_CONTENT_PREFIX))
    except ValueError:
        return None


def share_url(network: Network, shared_url: str, headline: str) -> str:
    """The URL that opens ``network``'s share flow for ``shared_url``."""
    if network is Network.X:
        return "https://x.com/intent/post?" + _encode([("text", headline), ("url", shared_url)])
    if network is Network.EMAIL:
        # RFC 6068: hfields are percent-encoded; a line break in the body is %0D%0A.
        return "mailto:?" + _encode([("subject", headline), ("body", f"{headline}\r\n\r\n{shared_url}")])
    if network is Network.WHATSAPP:
        return "https://wa.me/?" + _encode([("text", f"{headline} {shared_url}")])
    if network is Network.LINKEDIN:
        return "https://www.linkedin.com/sharing/share-offsite/?" + _encode([("url", shared_url)])
    raise ValueError(f"unknown network {network!r}")


def share_links(canonical_url: str, headline: str, campaign: str) -> list[ShareLink]:
    """One link per network in :data:`NETWORKS`, each sharing a UTM-tagged ``canonical_url``."""
    headline = " ".join(headline.split())  # no line breaks inside a share text
    # with_utm's result for each network, the URL split and its query filtered once per story.
    parts = urlsplit(canonical_url)
    kept = _without_utm_pairs(parts.query)
    common = _encode([("utm_source", UTM_SOURCE), ("utm_medium", UTM_MEDIUM), ("utm_campaign", campaign)])
    links = []
    for network in NETWORKS:
        utm = f"{common}&{_encode([('utm_content', SHARE_CONTENT_PREFIX + network.value)])}"
        shared = urlunsplit(parts._replace(query="&".join([*kept, utm])))
        links.append(ShareLink(network, share_url(network, shared, headline), shared))
    return links
