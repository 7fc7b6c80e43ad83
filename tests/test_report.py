"""`newsletter report`: an edition sent to the SendGrid stand-in, signed events posted to the
real webhook route, unsubscribes through the real pages, then every figure checked through
the CLI in a real process. SQLite and PostgreSQL.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from markupsafe import escape
from sqlmodel import col, select

from newsletter.config import Settings
from newsletter.db.engine import session_scope
from newsletter.db.models import Delivery, DeliveryState, Edition, Event, Story, Subscriber
from newsletter.editions.lifecycle import region_today
from newsletter.editions.rows import find_edition
from newsletter.events.clicks import classify_click
from newsletter.links import TOKEN_PLACEHOLDER, edition_url
from newsletter.render.share import Network, campaign_name, share_links
from newsletter.render.snapshot import AdBlock, EditionContent, StoryBlock
from newsletter.send.service import send_edition
from tests.conftest import run_cli
from tests.dispatch_harness import Reader, add_readers, seed_content, sendgrid_settings
from tests.peers.sendgrid import StandIn
from tests.web_helpers import Clock, TestClient, WebhookKey, active_subscriber, csrf_from, signed_post

TRICKY_HEADLINE = 'Metro <script>alert("late")</script> & <b>night</b> trains'
READERS = [Reader(f"r{n:02d}@example.org") for n in range(12)]


@dataclass
class Sent:
    """One region's edition as it went out: who got which ledger id and token, and its links."""

    region: str
    local_date: date
    started: datetime
    delivery: dict[str, int]  # address -> ledger id
    token: dict[str, str]  # address -> manage token
    html: str
    stories: list[StoryBlock]
    ads: list[AdBlock]

    def at(self, hours: int) -> int:
        """A SendGrid timestamp (whole seconds) ten minutes into hour ``hours`` after the send began."""
        return int(self.started.timestamp()) + 1 + hours * 3600 + 600


def send_region(engine: sa.Engine, db_url: str, tmp_path: Path, standin: StandIn, region: str) -> Sent:
    settings = sendgrid_settings(db_url, tmp_path, standin, batch_size=50, track_opens=True)
    with session_scope(engine) as session:
        local_date = region_today(session, region, now=datetime.now(UTC))
    first = len(standin.accepted)
    report = send_edition(engine, settings, region, local_date)
    assert report.edition_complete, report.lines()
    bodies = standin.accepted[first:]
    delivery, token = {}, {}
    for body in bodies:
        for p in body["personalizations"]:
            delivery[p["to"][0]["email"]] = int(p["custom_args"]["delivery_id"])
            token[p["to"][0]["email"]] = p["substitutions"][TOKEN_PLACEHOLDER]
    with session_scope(engine) as session:
        edition = find_edition(session, region, local_date)
        assert edition is not None and edition.send_started_at is not None and edition.snapshot is not None
        content = EditionContent.from_snapshot(edition.snapshot)
        started = edition.send_started_at
    html = html_lib.unescape(bodies[0]["content"][1]["value"])
    return Sent(region, local_date, started, delivery, token, html, content.stories, content.ads)


def ev(sent: Sent, address: str, kind: str, event_id: str, hours: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "email": address,
        "timestamp": sent.at(hours),
        "event": kind,
        "sg_event_id": event_id,
        "sg_message_id": f"m{sent.delivery[address]}.filter0001",
        "delivery_id": str(sent.delivery[address]),
        "edition_id": "1",
        "region": sent.region,
        **extra,
    }


@pytest.fixture
def world(
    web_engine: sa.Engine, db_url: str, tmp_path: Path, sendgrid_standin: StandIn, clock: Clock
) -> Iterator[tuple[Sent, Sent]]:
    seed_content(web_engine, tmp_path / "content")
    add_readers(web_engine, READERS)
    add_readers(web_engine, [Reader("b1@example.org", regions=("bxl",)), Reader("b2@example.org", regions=("bxl",))])
    add_readers(web_engine, [Reader("l1@example.org", regions=("lagos",))])
    with session_scope(web_engine) as session:  # the lead story's headline carries markup
        dc_stories = [s for s in session.exec(select(Story)) if s.slug.startswith("dc-")]
        lead = max(dc_stories, key=lambda s: (s.priority, s.published_at))
        lead.headline = TRICKY_HEADLINE
    dc = send_region(web_engine, db_url, tmp_path, sendgrid_standin, "dc")
    bxl = send_region(web_engine, db_url, tmp_path, sendgrid_standin, "bxl")
    send_region(web_engine, db_url, tmp_path, sendgrid_standin, "lagos")
    with session_scope(web_engine) as session:  # lagos's edition is eight days old: outside --since 7d
        for edition in session.exec(select(Edition).where(Edition.region_code == "lagos")):
            edition.local_date -= timedelta(days=8)
    clock.now = datetime.now(UTC)  # the tokens were signed just now
    yield dc, bxl


def story_links(sent: Sent, story: StoryBlock) -> dict[Network, str]:
    campaign = campaign_name(sent.region, sent.local_date)
    links = {link.network: link.url for link in share_links(story.canonical_url, story.headline, campaign)}
    for url in links.values():
        assert url in sent.html  # the very hrefs the edition carried
    return links


def post_events(client: TestClient, key: WebhookKey, dc: Sent, bxl: Sent) -> None:
    r = [reader.email for reader in READERS]
    a, b = (
        next(s for s in dc.stories if s.headline == TRICKY_HEADLINE),
        next(s for s in dc.stories if s.headline != TRICKY_HEADLINE),
    )
    share_a, share_b = story_links(dc, a), story_links(dc, b)
    ad_link = dc.ads[0].link
    view_in_browser = edition_url("https://news.example.com", "dc", dc.local_date)
    assert a.canonical_url in dc.html and ad_link in dc.html and view_in_browser in dc.html
    events = [ev(dc, address, "processed", f"p{n}") for n, address in enumerate(r)]
    events += [ev(dc, address, "delivered", f"d{n}") for n, address in enumerate(r[:8])]
    events += [
        ev(dc, r[8], "deferred", "f8a", response="421 try later", attempt="1"),
        ev(dc, r[8], "deferred", "f8b", response="421 try later", attempt="2"),
        ev(dc, r[8], "bounce", "b8", type="blocked", reason="550 blocked by reputation"),
        ev(dc, r[9], "bounce", "b9", type="bounce", reason="550 5.1.1 no such user"),
        ev(dc, r[10], "dropped", "x10", reason="Bounced Address"),
        ev(dc, r[11], "deferred", "f11", response="451 greylisted", attempt="1"),
        ev(dc, r[11], "delivered", "d11", hours=1),
        ev(dc, r[7], "spamreport", "s7", hours=2),
        ev(dc, r[6], "unsubscribe", "u6", hours=2),
        # Opens: r0 three times, r3 after the 48-hour timeline (still a unique open).
        ev(dc, r[0], "open", "o0a", hours=0, sg_machine_open=False),
        ev(dc, r[0], "open", "o0b", hours=0),
        ev(dc, r[0], "open", "o0c", hours=5),
        ev(dc, r[1], "open", "o1", hours=1),
        ev(dc, r[2], "open", "o2", hours=47, sg_machine_open=True),  # Apple's proxy fetched it
        ev(dc, r[3], "open", "o3", hours=48),
        # Clicks: story A twice (headline, read more), its X share; story B's WhatsApp and
        # LinkedIn shares; an ad; "view in browser" after the timeline.
        ev(dc, r[0], "click", "c0a", hours=0, url=a.canonical_url),
        ev(dc, r[0], "click", "c0b", hours=2, url=a.canonical_url),
        ev(dc, r[1], "click", "c1a", hours=1, url=share_a[Network.X]),
        ev(dc, r[2], "click", "c2a", hours=3, url=share_b[Network.WHATSAPP]),
        ev(dc, r[2], "click", "c2b", hours=3, url=share_b[Network.LINKEDIN]),
        ev(dc, r[2], "click", "c2c", hours=4, url=ad_link),
        ev(dc, r[1], "click", "c1b", hours=50, url=view_in_browser),
        # Another region's edition: kept apart.
        ev(bxl, "b1@example.org", "delivered", "bd1"),
        ev(bxl, "b1@example.org", "open", "bo1", hours=3),
    ]
    assert signed_post(client, key, events).status_code == 204
    assert signed_post(client, key, events).status_code == 204  # SendGrid's retry: changes nothing
    # Our own pages: a mailbox provider's one-click POST (r5), and a reader pressing the
    # unsubscribe page's button (r4); pressing it again records nothing more.
    one_click = client.post(f"/u/{dc.token[r[5]]}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    page = client.get(f"/u/{dc.token[r[4]]}").text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', page))
    assert fields == {"List-Unsubscribe": "One-Click", "from": "page"}
    for _ in range(2):
        assert client.post(f"/u/{dc.token[r[4]]}", data=fields).status_code == 200


def expected_dc(dc: Sent) -> dict[str, Any]:
    zero = {"x": 0, "email": 0, "whatsapp": 0, "linkedin": 0}
    stories = []
    for story in dc.stories:
        entry = {
            "slug": story.slug,
            "headline": story.headline,
            "url": story.canonical_url,
            "clicks": 0,
            "shares": zero,
        }
        if story.headline == TRICKY_HEADLINE:
            entry.update(clicks=2, shares={**zero, "x": 1})
        elif story is next(s for s in dc.stories if s.headline != TRICKY_HEADLINE):
            entry.update(shares={**zero, "whatsapp": 1, "linkedin": 1})
        stories.append(entry)
    opens, clicks = [0] * 48, [0] * 48
    for hour, count in {0: 2, 1: 1, 5: 1, 47: 1}.items():
        opens[hour] = count
    for hour, count in {0: 1, 1: 1, 2: 1, 3: 2, 4: 1}.items():
        clicks[hour] = count
    return {
        "handed_over": 12,
        "delivered": 9,
        "deferred": 2,
        "bounced": {"hard": 1, "soft": 1},
        "dropped": 1,
        "spam_reports": 1,
        "unsubscribes": {"one_click": 1, "preference_page": 1, "provider": 1},
        "unique_opens": 4,
        "open_rate": 0.4444,
        "machine_opens": 1,
        "unique_clicks": 3,
        "click_rate": 0.3333,
        "stories": stories,
        "share_networks": {"x": 1, "email": 0, "whatsapp": 1, "linkedin": 1},
        "other_clicks": 2,
        "timeline": {"start": dc.started.isoformat(), "hours": 48, "opens": opens, "clicks": clicks},
    }


def report_json(db_url: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    done = run_cli(["report", *args, "--json"], db_url, tmp_path, NEWSLETTER_TRACK_OPENS="1")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def test_every_figure_of_an_edition_report(
    world: tuple[Sent, Sent],
    client: TestClient,
    webhook_key: WebhookKey,
    db_url: str,
    tmp_path: Path,
    sendgrid_standin: StandIn,
) -> None:
    dc, bxl = world
    post_events(client, webhook_key, dc, bxl)

    document = report_json(db_url, tmp_path, "dc", "--date", dc.local_date.isoformat())

    edition, notes = document.pop("edition"), document.pop("notes")
    assert (edition["region"], edition["date"], edition["status"]) == ("dc", dc.local_date.isoformat(), "sent")
    assert document.pop("tracking") == {"opens": True, "clicks": True}
    assert document == expected_dc(dc)
    assert any("privacy proxies" in note and "Apple" in note for note in notes)
    # The tracking settings went to SendGrid with the send.
    assert sendgrid_standin.accepted[0]["tracking_settings"] == {
        "click_tracking": {"enable": True, "enable_text": False},
        "open_tracking": {"enable": True},
    }


def test_the_html_page_is_self_contained_and_escapes_content(
    world: tuple[Sent, Sent], client: TestClient, webhook_key: WebhookKey, db_url: str, tmp_path: Path
) -> None:
    dc, bxl = world
    post_events(client, webhook_key, dc, bxl)
    page_path = tmp_path / "dc-report.html"

    done = run_cli(["report", "dc", "--date", dc.local_date.isoformat(), "--html", str(page_path)], db_url, tmp_path)

    assert done.returncode == 0, done.stderr
    assert "unique opens 4 (44.4 % of delivered; 1 machine opens), unique clicks 3 (33.3 %)" in done.stdout
    page = page_path.read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<b>" not in page  # the headline's markup is text
    assert str(escape(TRICKY_HEADLINE)) in page
    assert not re.search(r"<(link|img|iframe|object|embed|base)\b", page, re.IGNORECASE)
    assert not re.search(r"@import|url\(", page)
    assert re.findall(r"\bsrc\s*=", page) == []
    hrefs = {html_lib.unescape(href) for href in re.findall(r'href="([^"]*)"', page)}
    assert hrefs == {story.canonical_url for story in dc.stories}  # the edition's own links, nothing else
    assert page.count("<svg") == 2 and page.count("<rect") == 4 + 5  # one bar per busy hour


def test_since_reports_per_region_and_leaves_older_editions_out(
    world: tuple[Sent, Sent], client: TestClient, webhook_key: WebhookKey, db_url: str, tmp_path: Path
) -> None:
    dc, bxl = world
    post_events(client, webhook_key, dc, bxl)

    document = report_json(db_url, tmp_path, "--since", "7d")

    regions = {row["region"]: row for row in document["regions"]}
    assert list(regions) == ["dc", "bxl", "lagos", "riyadh", "beijing", "sg"]  # display order, every region
    dc_figures = {key: value for key, value in expected_dc(dc).items() if key in regions["dc"]}
    assert regions["dc"]["editions"] == [dc.local_date.isoformat()]
    assert {key: regions["dc"][key] for key in dc_figures} == dc_figures
    bxl_row = regions["bxl"]
    assert bxl_row["editions"] == [bxl.local_date.isoformat()]
    assert (bxl_row["handed_over"], bxl_row["delivered"], bxl_row["unique_opens"], bxl_row["open_rate"]) == (
        2,
        1,
        1,
        1.0,
    )
    assert regions["lagos"]["editions"] == [] and regions["lagos"]["handed_over"] == 0  # eight days ago
    assert regions["lagos"]["open_rate"] is None

    one = report_json(db_url, tmp_path, "bxl", "--since", bxl.local_date.isoformat())
    assert [row["region"] for row in one["regions"]] == ["bxl"]
    assert one["regions"][0]["delivered"] == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["report"], 2, "name a REGION"),
        (["report", "--since", "7 weeks"], 2, "nor a number of days"),
        (["report", "--since", "7d", "--html", "x.html"], 2, "leave them out with --since"),
        (["report", "dc", "--date", "2001-01-01"], 1, "no edition for dc on 2001-01-01"),
        (["report", "zz", "--since", "7d"], 1, "no region 'zz'"),
    ],
)
def test_bad_requests_are_one_clear_line(
    sqlite_url: str, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    done = run_cli(args, sqlite_url, tmp_path, COLUMNS="200")
    assert done.returncode == code
    assert message in " ".join(done.stderr.replace("│", " ").split())  # a usage error comes in Typer's box


SHARED = "https%3A%2F%2Fn.example%2Fa%3Futm_content%3Dshare-"  # a shared URL, percent-encoded in a query


@pytest.mark.parametrize(
    ("url", "page", "network"),
    [
        ("https://news.example.com/s/1?utm_source=newsletter&utm_content=x#top", "https://news.example.com/s/1", None),
        (
            "https://x.com/intent/post?text=Hi&url=https%3A%2F%2Fn.example%2Fa%3Futm_content%3Dshare-x",
            "https://n.example/a",
            Network.X,
        ),
        (
            "https://wa.me/?text=Hi%20https%3A%2F%2Fn.example%2Fa%3Futm_content%3Dshare-whatsapp",
            "https://n.example/a",
            Network.WHATSAPP,
        ),
        (
            "mailto:?subject=Hi&body=Hi%0D%0A%0D%0Ahttps%3A%2F%2Fn.example%2Fa%3Futm_content%3Dshare-email",
            "https://n.example/a",
            Network.EMAIL,
        ),
        ("mailto:someone@example.org", None, None),
        ("https://n.example/a?utm_content=share-myspace", "https://n.example/a", None),
    ],
)
def test_click_urls_are_told_apart_by_their_utm_tags(url: str, page: str | None, network: Network | None) -> None:
    assert classify_click(url) == (page, network)


def test_unsubscribes_on_our_pages_are_recorded_against_the_latest_mail(
    client: TestClient, web_engine: sa.Engine, web_settings: Settings
) -> None:
    tokens = {
        address: active_subscriber(web_engine, web_settings, address, ["dc"])
        for address in ("page@example.org", "click@example.org", "never@example.org")
    }
    with session_scope(web_engine) as session:
        older = Edition(region_code="dc", local_date=date(2026, 11, 28))
        newer = Edition(region_code="dc", local_date=date(2026, 11, 29))
        session.add_all([older, newer])
        session.flush()
        for address in ("page@example.org", "click@example.org"):
            subscriber = session.exec(select(Subscriber).where(Subscriber.email == address)).one()
            for edition in (older, newer):
                session.add(Delivery(edition_id=edition.id, subscriber_id=subscriber.id, state=DeliveryState.QUEUED))
    page = client.get(f"/p/{tokens['page@example.org']}").text
    form = {"action": "unsubscribe", "csrf_token": csrf_from(page)}
    assert client.post(f"/p/{tokens['page@example.org']}", data=form).status_code == 200
    for address in ("click@example.org", "click@example.org", "never@example.org"):  # a provider's retry
        assert client.post(f"/u/{tokens[address]}", data={"List-Unsubscribe": "One-Click"}).status_code == 200

    with session_scope(web_engine) as session:
        recorded = [
            (event.email, event.raw_type, event.delivery_id is not None, event.provider)
            for event in session.exec(select(Event).order_by(col(Event.id)))
        ]
        latest = {
            d.id
            for d in session.exec(
                select(Delivery)
                .join(Edition, col(Delivery.edition_id) == col(Edition.id))
                .where(Edition.local_date == date(2026, 11, 29))
            )
        }
        linked = {event.delivery_id for event in session.exec(select(Event))} - {None}
    assert recorded == [
        ("page@example.org", "preference_page", True, "newsletter"),
        ("click@example.org", "one_click", True, "newsletter"),
        ("never@example.org", "one_click", False, "newsletter"),  # never mailed: no edition to count it for
    ]
    assert linked <= latest


def test_the_upgrade_copies_click_urls_and_bounce_types_out_of_stored_events(engine: sa.Engine) -> None:
    from alembic import command

    from newsletter.db.engine import _alembic_config
    from newsletter.db.types import UTCDateTime

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")  # before the columns existed: the payload held it all
    old_event = sa.table(
        "event",
        sa.column("event_type", sa.String()),
        sa.column("raw_type", sa.String()),
        sa.column("provider", sa.String()),
        sa.column("email", sa.String()),
        sa.column("reason", sa.String()),
        sa.column("occurred_at", UTCDateTime()),
        sa.column("received_at", UTCDateTime()),
        sa.column("payload", sa.JSON()),
    )
    now = datetime.now(UTC)
    stored = [
        ("click", {"event": "click", "url": "https://news.example.com/a?utm_content=share-x"}),
        ("bounce", {"event": "bounce", "type": "Blocked"}),
        ("bounce", {"event": "bounce"}),
        ("open", {"event": "open", "url": "https://not-a-click.example/"}),
    ]
    with engine.begin() as connection:
        for kind, payload in stored:
            connection.execute(
                sa.insert(old_event).values(
                    event_type=kind,
                    raw_type=kind,
                    provider="sendgrid",
                    email="x@example.org",
                    reason="",
                    occurred_at=now,
                    received_at=now,
                    payload=payload,
                )
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    with session_scope(engine) as session:
        found = [(e.raw_type, e.url, e.bounce_type) for e in session.exec(select(Event).order_by(col(Event.id)))]
    assert found == [
        ("click", "https://news.example.com/a?utm_content=share-x", None),
        ("bounce", None, "blocked"),
        ("bounce", None, None),
        ("open", None, None),
    ]
