"""The content API's stories and ads through HTTP: put, patch, read, list, retract, ETags, errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.content.store import audit_trail
from newsletter.db.models import Ad, Story
from newsletter.web import create_app
from tests.api_helpers import READ, WRITE, ad_body, bearer, story_body
from tests.conftest import make_settings
from tests.web_helpers import Clock, LiveServer, TestClient, free_port

STORY = "/api/v1/stories/dc-night-buses"
AD = "/api/v1/ads/dc-harbour-books"


@pytest.fixture
def desk(web_engine: sa.Engine) -> dict[str, str]:
    return bearer(web_engine, WRITE, name="cms-desk")


def test_put_creates_and_the_same_body_twice_changes_nothing(
    client: TestClient, web_engine: sa.Engine, desk: dict[str, str]
) -> None:
    created = client.put(STORY, json=story_body(), headers=desk)
    assert created.status_code == 201, created.text
    assert created.json()["slug"] == "dc-night-buses" and created.json()["status"] == "published"
    again = client.put(STORY, json=story_body(), headers=desk)
    assert again.status_code == 200
    assert again.headers["ETag"] == created.headers["ETag"]
    assert again.json() == created.json()
    with Session(web_engine) as session:
        trail = list(audit_trail(session, "story", "dc-night-buses"))
    assert [(line.key_name, line.action) for line in trail] == [("cms-desk", "created")]


def test_what_get_returns_can_be_put_back_unchanged(client: TestClient, desk: dict[str, str]) -> None:
    client.put(STORY, json=story_body(), headers=desk)
    read = client.get(STORY, headers=desk)
    assert read.status_code == 200 and read.headers["ETag"]
    assert read.json()["modified_at"]  # read-only: sent back and ignored
    written = client.put(STORY, json=read.json(), headers={**desk, "If-Match": read.headers["ETag"]})
    assert written.status_code == 200
    assert written.json() == read.json() and written.headers["ETag"] == read.headers["ETag"]


def test_patch_changes_the_named_fields_and_null_restores_a_default(
    client: TestClient, web_engine: sa.Engine, desk: dict[str, str]
) -> None:
    first = client.put(STORY, json=story_body(), headers=desk)
    patched = client.patch(
        STORY,
        json={"headline": "Night buses approved", "summary": None, "image": {"credit": "City desk"}},
        headers={**desk, "If-Match": first.headers["ETag"]},
    )
    assert patched.status_code == 200, patched.text
    record = patched.json()
    assert record["headline"] == "Night buses approved" and record["summary"] == ""
    assert record["image"] == {
        "url": "https://news.example.com/img/bus.jpg",
        "alt": "A bus at night",
        "credit": "City desk",
    }
    assert record["signals"] == story_body()["signals"]
    assert patched.headers["ETag"] != first.headers["ETag"]
    with Session(web_engine) as session:
        changes = list(audit_trail(session, "story", "dc-night-buses"))[-1].changes
    assert changes["headline"] == ["Council approves the night bus network", "Night buses approved"]
    assert set(changes) == {"headline", "summary", "image"}


def test_a_stale_if_match_is_refused_with_412_and_nothing_written(client: TestClient, desk: dict[str, str]) -> None:
    first = client.put(STORY, json=story_body(), headers=desk)
    client.patch(STORY, json={"priority": 9}, headers=desk)  # another desk's change
    for method in ("put", "patch"):
        stale = client.request(
            method, STORY, json=story_body(headline="Overwrite"), headers={**desk, "If-Match": first.headers["ETag"]}
        )
        assert stale.status_code == 412
        assert stale.headers["content-type"] == "application/problem+json"
        assert "changed since" in stale.json()["detail"]
    assert client.delete(STORY, headers={**desk, "If-Match": first.headers["ETag"]}).status_code == 412
    current = client.get(STORY, headers=desk)
    assert current.json()["headline"] == story_body()["headline"] and current.json()["priority"] == 9
    star = client.patch(STORY, json={"priority": 1}, headers={**desk, "If-Match": "*"})
    assert star.status_code == 200
    # If-Match on a story that does not exist never creates it.
    missing = client.put("/api/v1/stories/dc-nothing", json=story_body(), headers={**desk, "If-Match": "*"})
    assert missing.status_code == 412


def test_every_bad_field_is_named_with_its_value(
    client: TestClient, web_engine: sa.Engine, desk: dict[str, str]
) -> None:
    body = story_body(
        headline="",
        regions=["dc", "atlantis"],
        canonical_url="javascript:alert(1)",
        priority="high",
        colour="red",
        summary="Per reader %%recipient_token%%",
    )
    body["signals"][0]["sources"][0]["url"] = "ftp://files.example.org"
    answer = client.put(STORY, json=body, headers=desk)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == 422 and problem["title"] == "Invalid content"
    named = {error["field"]: error["value"] for error in problem["errors"]}
    assert named == {
        "headline": "",
        "regions[1]": "atlantis",
        "canonical_url": "javascript:alert(1)",
        "priority": "high",
        "colour": "red",
        "summary": "Per reader %%recipient_token%%",
        "signals.0.sources.0.url": "ftp://files.example.org",
    }
    with Session(web_engine) as session:
        assert session.exec(select(Story)).first() is None


@pytest.mark.parametrize(
    ("content", "content_type", "status", "title"),
    [
        (b'{"headline": ', "application/json", 400, "Malformed JSON"),
        (b"[1, 2]", "application/json", 422, "Invalid content"),
        (b'"a story"', "application/json", 422, "Invalid content"),
        (b"headline=x", "application/x-www-form-urlencoded", 415, "Unsupported media type"),
        (b"", "", 415, "Unsupported media type"),
    ],
)
def test_bodies_that_are_no_json_object_get_a_problem(
    client: TestClient, desk: dict[str, str], content: bytes, content_type: str, status: int, title: str
) -> None:
    headers = {**desk, **({"Content-Type": content_type} if content_type else {})}
    answer = client.put(STORY, content=content, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == title


def test_a_body_over_the_limit_is_413(
    web_settings: Settings, web_engine: sa.Engine, clock: Clock, tmp_path: Path, desk: dict[str, str]
) -> None:
    settings = make_settings(web_settings.database_url, tmp_path, api_max_body_kb=1)
    with TestClient(create_app(settings, web_engine, clock=clock), base_url="https://testserver") as small:
        big = story_body(body="word " * 400)
        assert small.put(STORY, json=big, headers=desk).status_code == 413

        # A chunked body (no Content-Length) is counted as it arrives.
        def chunks() -> object:
            yield b'{"body": "'
            for _ in range(50):
                yield b"x" * 100
            yield b'"}'

        streamed = small.put(STORY, content=chunks(), headers={**desk, "Content-Type": "application/json"})
        assert streamed.status_code == 413 and streamed.json()["title"] == "Content too large"
        assert small.put(STORY, json=story_body(), headers=desk).status_code == 201


def test_wrong_query_and_path_values_are_named(client: TestClient, desk: dict[str, str]) -> None:
    answers = {
        "limit": client.get("/api/v1/stories?limit=0", headers=desk),
        "status": client.get("/api/v1/stories?status=live", headers=desk),
        "naive": client.get("/api/v1/stories?updated_since=2026-11-29T05:00:00", headers=desk),
        "cursor": client.get("/api/v1/stories?cursor=nonsense", headers=desk),
        "slug": client.get("/api/v1/stories/Not_A_Slug", headers=desk),
    }
    for name, answer in answers.items():
        assert answer.status_code == 422, (name, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"], name
    assert answers["cursor"].json()["errors"][0]["field"] == "cursor"
    assert answers["limit"].json()["errors"][0]["field"] == "query.limit"


def test_a_slug_in_the_body_must_be_the_urls(client: TestClient, desk: dict[str, str]) -> None:
    answer = client.put(STORY, json=story_body(slug="dc-other"), headers=desk)
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "slug", "value": "dc-other", "problem": "must be the slug in the URL ('dc-night-buses')"}
    ]


def test_unknown_story_and_route_and_method_are_problems(client: TestClient, desk: dict[str, str]) -> None:
    for answer, status in [
        (client.get("/api/v1/stories/dc-missing", headers=desk), 404),
        (client.patch("/api/v1/stories/dc-missing", json={"priority": 1}, headers=desk), 404),
        (client.delete("/api/v1/stories/dc-missing", headers=desk), 404),
        (client.get("/api/v1/nothing-here", headers=desk), 404),
        (client.get("/api/v1/stories/a%0Ab", headers=desk), 404),  # a path the /api mount cannot match
        (client.post("/api/v1/stories", json={}, headers=desk), 405),
    ]:
        assert answer.status_code == status
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == status


def test_listing_filters_and_pages_by_keyset(client: TestClient, clock: Clock, desk: dict[str, str]) -> None:
    for index in range(5):
        regions = ["dc"] if index % 2 == 0 else ["bxl"]
        client.put(f"/api/v1/stories/story-{index}", json=story_body(regions=regions), headers=desk)
    client.delete("/api/v1/stories/story-4", headers=desk)

    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/stories{query}", headers=desk).json()
        seen += [item["slug"] for item in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [f"story-{index}" for index in range(5)] and pages == 3

    dc = client.get("/api/v1/stories?region=dc&status=published", headers=desk).json()
    assert [item["slug"] for item in dc["items"]] == ["story-0", "story-2"] and dc["next"] is None
    retracted = client.get("/api/v1/stories?status=retracted", headers=desk).json()
    assert [item["slug"] for item in retracted["items"]] == ["story-4"]
    latest = client.get("/api/v1/stories?updated_since=2999-01-01T00:00:00Z", headers=desk).json()
    assert latest["items"] == []
    changed = client.get("/api/v1/stories?updated_since=2000-01-01T00:00:00%2B01:00", headers=desk).json()
    assert len(changed["items"]) == 5


def test_delete_retracts_and_is_recorded(client: TestClient, web_engine: sa.Engine, desk: dict[str, str]) -> None:
    client.put(STORY, json=story_body(), headers=desk)
    retracted = client.delete(STORY, headers=desk)
    assert retracted.status_code == 200 and retracted.json()["status"] == "retracted"
    assert client.delete(STORY, headers=desk).status_code == 200  # twice: unchanged
    assert client.get(STORY, headers=desk).json()["status"] == "retracted"
    with Session(web_engine) as session:
        trail = [(line.action, line.changes) for line in audit_trail(session, "story", "dc-night-buses")]
    assert trail[-1] == ("retracted", {"status": ["published", "retracted"]}) and len(trail) == 2


def test_ads_put_patch_list_retract(client: TestClient, web_engine: sa.Engine, desk: dict[str, str]) -> None:
    created = client.put(AD, json=ad_body(), headers=desk)
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["status"] == "published" and record["ends_on"] == "2026-12-31"
    assert client.put(AD, json=record, headers={**desk, "If-Match": created.headers["ETag"]}).status_code == 200
    patched = client.patch(AD, json={"cta": "Browse the sale"}, headers=desk)
    assert patched.json()["cta"] == "Browse the sale"
    bad = client.patch(AD, json={"ends_on": "2026-10-01", "image_url": "https://img.example.com/a.png"}, headers=desk)
    assert bad.status_code == 422
    assert {error["field"] for error in bad.json()["errors"]} == {"ends_on", "image_alt"}
    listed = client.get("/api/v1/ads?region=dc", headers=desk).json()
    assert [item["slug"] for item in listed["items"]] == ["dc-harbour-books"]
    assert client.delete(AD, headers=desk).json()["status"] == "retracted"
    with Session(web_engine) as session:
        assert session.exec(select(Ad.status)).one() == "retracted"
        assert [line.action for line in audit_trail(session, "ad", "dc-harbour-books")] == [
            "created",
            "updated",
            "retracted",
        ]


def test_two_desks_writing_at_once_never_overwrite_each_other(
    web_settings: Settings, web_engine: sa.Engine, desk: dict[str, str]
) -> None:
    """Eight PATCHes based on one copy, at once, on a real server: exactly one wins, the rest get 412."""
    with LiveServer(web_settings, web_engine, free_port()) as live:
        created = httpx.put(f"{live.url}{STORY}", json=story_body(), headers=desk)
        etag = created.headers["ETag"]

        def patch(index: int) -> int:
            body = {"headline": f"Desk {index} was here"}
            headers = {**desk, "If-Match": etag}
            return httpx.patch(f"{live.url}{STORY}", json=body, headers=headers, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = sorted(pool.map(patch, range(8)))
        final = httpx.get(f"{live.url}{STORY}", headers=desk).json()
    assert statuses == [200] + [412] * 7
    assert final["headline"].startswith("Desk ")
    with Session(web_engine) as session:
        assert [line.action for line in audit_trail(session, "story", "dc-night-buses")] == ["created", "updated"]


def test_a_story_scheduled_for_later_waits_for_its_time(client: TestClient, clock: Clock, desk: dict[str, str]) -> None:
    later = story_body(headline="Embargoed until seven", published_at="2026-11-29T07:00:00Z")
    client.put(STORY, json=later, headers=desk)
    # The clock is at 06:00 UTC: nothing is due yet, so there is nothing to preview.
    assert client.get("/api/v1/editions/dc/2026-11-29/html", headers=desk).status_code == 409
    clock.advance(timedelta(hours=1, minutes=1))
    due = client.get("/api/v1/editions/dc/2026-11-29/html", headers=desk)
    assert due.status_code == 200 and "Embargoed until seven" in due.text


def test_patch_takes_the_merge_patch_media_type(client: TestClient, desk: dict[str, str]) -> None:
    client.put(STORY, json=story_body(), headers=desk)
    answer = client.patch(
        STORY, content=b'{"status": "draft"}', headers={**desk, "Content-Type": "application/merge-patch+json"}
    )
    assert answer.status_code == 200 and answer.json()["status"] == "draft"
    assert client.get("/api/v1/stories?status=draft", headers=desk).json()["items"][0]["slug"] == "dc-night-buses"


def test_an_editor_sees_who_changed_a_story(client: TestClient, web_engine: sa.Engine, desk: dict[str, str]) -> None:
    other = bearer(web_engine, WRITE, name="wire-import")
    client.put(STORY, json=story_body(), headers=desk)
    client.patch(STORY, json={"priority": 8}, headers=other)
    client.put(STORY, json=client.get(STORY, headers=desk).json(), headers=desk)  # unchanged: not a write
    client.delete(STORY, headers=other)
    history = client.get(f"{STORY}/history", headers=bearer(web_engine, READ))
    assert history.status_code == 200
    lines = history.json()["items"]
    assert [(line["key_name"], line["action"]) for line in lines] == [
        ("cms-desk", "created"),
        ("wire-import", "updated"),
        ("wire-import", "retracted"),
    ]
    assert lines[1]["changes"] == {"priority": [5, 8]}
    assert lines[0]["changes"]["headline"] == [None, "Council approves the night bus network"]
    assert lines[0]["at"].endswith("Z") or "+00:00" in lines[0]["at"]
    assert client.get("/api/v1/ads/dc-never/history", headers=desk).status_code == 404


def test_a_null_slug_in_the_body_means_the_urls(client: TestClient, desk: dict[str, str]) -> None:
    answer = client.put(STORY, json=story_body(slug=None), headers=desk)
    assert answer.status_code == 201 and answer.json()["slug"] == "dc-night-buses"


def test_first_writes_of_one_slug_at_once_create_it_once(
    web_settings: Settings, web_engine: sa.Engine, desk: dict[str, str]
) -> None:
    """Eight PUTs of a new story at once: one creates it, the others find it unchanged; no conflict."""
    with LiveServer(web_settings, web_engine, free_port()) as live:

        def put(_: int) -> int:
            return httpx.put(f"{live.url}{STORY}", json=story_body(), headers=desk, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = sorted(pool.map(put, range(8)))
    assert statuses == [200] * 7 + [201]
    with Session(web_engine) as session:
        assert len(session.exec(select(Story)).all()) == 1
        assert [line.action for line in audit_trail(session, "story", "dc-night-buses")] == ["created"]


@pytest.mark.parametrize(("plural", "body"), [("stories", story_body), ("ads", ad_body)])
def test_stories_and_ads_answer_alike(client: TestClient, desk: dict[str, str], plural: str, body: object) -> None:
    assert callable(body)
    url = f"/api/v1/{plural}/dc-same-rules"
    assert client.get(url, headers=desk).status_code == 404
    created = client.put(url, json=body(), headers=desk)
    assert created.status_code == 201 and created.headers["ETag"]
    assert client.put(url, json=body(), headers=desk).headers["ETag"] == created.headers["ETag"]
    changed = client.patch(
        url, json={"headline": "A new headline"}, headers={**desk, "If-Match": created.headers["ETag"]}
    )
    assert changed.status_code == 200
    stale = {**desk, "If-Match": created.headers["ETag"]}
    assert client.patch(url, json={"headline": "Lost"}, headers=stale).status_code == 412
    assert client.put(url, json=body(regions=["mars"]), headers=desk).status_code == 422
    assert client.put(url, content=b"{", headers={**desk, "Content-Type": "application/json"}).status_code == 400
    assert client.put(url, content=b"x", headers={**desk, "Content-Type": "text/plain"}).status_code == 415
    assert client.delete(url, headers=desk).json()["status"] == "retracted"
    assert (
        client.get(f"/api/v1/{plural}?status=retracted", headers=desk).json()["items"][0]["headline"]
        == "A new headline"
    )


@pytest.mark.parametrize(("plural", "body"), [("stories", story_body), ("ads", ad_body)])
def test_a_read_of_the_current_copy_is_304_with_no_body(
    web_settings: Settings, web_engine: sa.Engine, desk: dict[str, str], plural: str, body: object
) -> None:
    """Through a real server: If-None-Match with the current ETag (or *, or W/, or in a list) is 304."""
    assert callable(body)
    with LiveServer(web_settings, web_engine, free_port()) as live:
        url = f"{live.url}/api/v1/{plural}/dc-conditional"
        assert httpx.get(url, headers={**desk, "If-None-Match": "*"}).status_code == 404  # nothing to be current
        etag = httpx.put(url, json=body(), headers=desk).headers["ETag"]
        read = httpx.get(url, headers=desk)
        assert read.status_code == 200 and read.headers["ETag"] == etag == read.json()["etag"]
        for held in (etag, f"W/{etag}", "*", f'"an-old-copy", {etag}'):
            current = httpx.get(url, headers={**desk, "If-None-Match": held})
            assert current.status_code == 304, held
            assert current.content == b"" and current.headers["ETag"] == etag
        changed = httpx.patch(url, json={"headline": "A new headline"}, headers=desk)
        again = httpx.get(url, headers={**desk, "If-None-Match": etag})
    assert again.status_code == 200 and again.json()["headline"] == "A new headline"
    assert again.headers["ETag"] == changed.headers["ETag"] != etag


@pytest.mark.parametrize(("plural", "body"), [("stories", story_body), ("ads", ad_body)])
def test_a_listed_etag_guards_a_write_without_a_second_read(
    client: TestClient, web_engine: sa.Engine, desk: dict[str, str], plural: str, body: object
) -> None:
    assert callable(body)
    kind = "story" if plural == "stories" else "ad"
    for slug in ("dc-first", "dc-second"):
        client.put(f"/api/v1/{plural}/{slug}", json=body(), headers=desk)
    listed = {item["slug"]: item for item in client.get(f"/api/v1/{plural}", headers=desk).json()["items"]}
    for slug, item in listed.items():
        assert item["etag"] == client.get(f"/api/v1/{plural}/{slug}", headers=desk).headers["ETag"]
    first = listed["dc-first"]
    url = f"/api/v1/{plural}/dc-first"
    # A listed record, etag field and all, is put back unchanged: the etag is read-only.
    unchanged = client.put(url, json=first, headers={**desk, "If-Match": first["etag"]})
    assert unchanged.status_code == 200 and unchanged.json() == first
    changed = client.patch(url, json={"headline": "Changed from the list"}, headers={**desk, "If-Match": first["etag"]})
    assert changed.status_code == 200
    assert changed.json()["etag"] == changed.headers["ETag"] != first["etag"]
    for method, data in (("put", first), ("patch", {"headline": "Lost"}), ("delete", None)):
        stale = client.request(method, url, json=data, headers={**desk, "If-Match": first["etag"]})
        assert stale.status_code == 412, method
        assert stale.headers["content-type"] == "application/problem+json"
    assert client.get(url, headers=desk).json() == changed.json()  # nothing written
    with Session(web_engine) as session:
        trail = list(audit_trail(session, kind, "dc-first"))
    assert [line.action for line in trail] == ["created", "updated"]
    assert trail[-1].changes == {"headline": [body()["headline"], "Changed from the list"]}


@pytest.mark.parametrize(("plural", "body"), [("stories", story_body), ("ads", ad_body)])
def test_if_none_match_star_on_put_creates_only(
    web_settings: Settings, web_engine: sa.Engine, desk: dict[str, str], plural: str, body: object
) -> None:
    """Through a real server: a create-only PUT makes a new record and refuses to replace one."""
    assert callable(body)
    kind = "story" if plural == "stories" else "ad"
    with LiveServer(web_settings, web_engine, free_port()) as live:
        url = f"{live.url}/api/v1/{plural}/dc-create-only"
        created = httpx.put(url, json=body(), headers={**desk, "If-None-Match": "*"})
        assert created.status_code == 201, created.text
        etag = created.headers["ETag"]
        for held in ("*", etag, f"W/{etag}", f'"an-old-copy", {etag}'):
            refused = httpx.put(url, json=body(headline="Overwrite"), headers={**desk, "If-None-Match": held})
            assert refused.status_code == 412, held
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["detail"] == (
                f"the {kind} 'dc-create-only' exists (If-None-Match {held}): nothing was written"
            )
        # Naming only an older copy is no objection to replacing the stored one.
        replaced = httpx.put(url, json=body(headline="Replaced"), headers={**desk, "If-None-Match": '"an-old-copy"'})
        assert replaced.status_code == 200 and replaced.json()["headline"] == "Replaced"
        history = httpx.get(f"{url}/history", headers=desk).json()["items"]
    assert [line["action"] for line in history] == ["created", "updated"]
    assert history[1]["changes"]["headline"] == [body()["headline"], "Replaced"]


@pytest.mark.parametrize(("plural", "body"), [("stories", story_body), ("ads", ad_body)])
def test_if_match_on_a_record_that_does_not_exist_is_412_and_writes_nothing(
    client: TestClient, web_engine: sa.Engine, desk: dict[str, str], plural: str, body: object
) -> None:
    assert callable(body)
    kind = "story" if plural == "stories" else "ad"
    url = f"/api/v1/{plural}/dc-missing"
    for held in ("*", '"an-old-copy"'):
        for method, data in (("put", body()), ("patch", {"headline": "Lost"}), ("delete", None)):
            refused = client.request(method, url, json=data, headers={**desk, "If-Match": held})
            assert refused.status_code == 412, (method, held)
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["detail"] == (
                f"there is no {kind} 'dc-missing' for If-Match {held} to match: nothing was written"
            )
    assert client.get(url, headers=desk).status_code == 404
    assert client.get(f"{url}/history", headers=desk).status_code == 404
    with Session(web_engine) as session:
        assert list(audit_trail(session, kind, "dc-missing")) == []
        assert session.exec(select(Story if kind == "story" else Ad)).first() is None


def test_the_description_names_the_conditional_headers_and_answers(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for plural in ("stories", "ads"):
        one = paths[f"/v1/{plural}/{{slug}}"]
        read = one["get"]
        assert "if-none-match" in [parameter["name"] for parameter in read["parameters"]]
        assert read["responses"]["200"]["headers"]["ETag"]["required"] is True
        assert "content" not in read["responses"]["304"] and "ETag" in read["responses"]["304"]["headers"]
        for method in ("put", "patch", "delete"):
            write = one[method]
            assert "if-match" in [parameter["name"] for parameter in write["parameters"]], method
            assert "nothing was written" in write["responses"]["412"]["description"], method
            assert "ETag" in write["responses"]["200"]["headers"], method
        assert "ETag" in one["put"]["responses"]["201"]["headers"]
        assert "if-none-match" in [parameter["name"] for parameter in one["put"]["parameters"]]
        assert "If-None-Match names the stored one" in one["put"]["responses"]["412"]["description"]
    docs = client.get("/api/docs").text
    assert "200 (ETag), 304 (ETag)" in docs and "<code>If-None-Match</code>" in docs
    assert "<code>If-None-Match: *</code> with a <code>PUT</code> only creates" in docs
