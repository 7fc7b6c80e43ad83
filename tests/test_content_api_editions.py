"""Editions and regions through the content API; what a write does to drafts and to frozen editions."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.content.store import audit_trail
from tests.api_helpers import APPROVE, READ, WRITE, ad_body, bearer, story_body
from tests.conftest import run_cli
from tests.web_helpers import START, TestClient

DAY = "2026-11-29"  # START's date in every test region
EDITION = f"/api/v1/editions/dc/{DAY}"


@pytest.fixture
def desk(web_engine: sa.Engine) -> dict[str, str]:
    return bearer(web_engine, WRITE, APPROVE, name="night-desk")


def _put_story(client: TestClient, headers: dict[str, str], slug: str, headline: str, **changes: object) -> None:
    answer = client.put(f"/api/v1/stories/{slug}", json=story_body(headline=headline, **changes), headers=headers)
    assert answer.status_code in (200, 201), answer.text


def test_a_story_published_through_the_api_appears_in_the_next_cli_preview(
    client: TestClient, desk: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    _put_story(client, desk, "dc-night-buses", "Night buses approved for twelve routes")
    out = tmp_path / "preview" / "dc.html"
    result = run_cli(["preview", "dc", "--date", DAY, "--out", str(out)], db_url, tmp_path, at=START)
    assert result.returncode == 0, result.stderr
    assert "Night buses approved for twelve routes" in result.stdout  # the subject
    assert "Night buses approved for twelve routes" in out.read_text(encoding="utf-8")
    assert "Night buses approved for twelve routes" in out.with_suffix(".txt").read_text(encoding="utf-8")


def test_a_draft_follows_every_write_and_a_frozen_edition_never_changes(
    client: TestClient, web_engine: sa.Engine, desk: dict[str, str]
) -> None:
    _put_story(client, desk, "dc-first", "First story of the morning")
    _put_story(client, desk, "dc-second", "Second story of the morning", priority=1)
    client.put("/api/v1/ads/dc-harbour-books", json=ad_body(), headers=desk)
    draft = client.get(f"{EDITION}/html", headers=desk)
    assert draft.status_code == 200 and draft.headers["content-type"].startswith("text/html")
    assert "First story of the morning" in draft.text and "Harbour Books" in draft.text

    client.patch("/api/v1/stories/dc-first", json={"headline": "First story, corrected"}, headers=desk)
    client.delete("/api/v1/ads/dc-harbour-books", headers=desk)
    corrected = client.get(f"{EDITION}/html", headers=desk).text
    assert "First story, corrected" in corrected and "Harbour Books" not in corrected
    client.delete("/api/v1/stories/dc-first", headers=desk)
    retracted = client.get(f"{EDITION}/text", headers=desk)
    assert retracted.headers["content-type"].startswith("text/plain")
    assert "First story" not in retracted.text and "Second story of the morning" in retracted.text

    approved = client.post(f"{EDITION}/approve", headers=desk)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["stories"] == [
        {"slug": "dc-second", "headline": "Second story of the morning"}
    ]
    frozen_html = client.get(f"{EDITION}/html", headers=desk).text
    frozen_text = client.get(f"{EDITION}/text", headers=desk).text

    client.patch("/api/v1/stories/dc-second", json={"headline": "Second story, rewritten"}, headers=desk)
    _put_story(client, desk, "dc-third", "A third story after approval", priority=9)
    client.delete("/api/v1/stories/dc-second", headers=desk)
    assert client.get(f"{EDITION}/html", headers=desk).text == frozen_html
    assert client.get(f"{EDITION}/text", headers=desk).text == frozen_text
    assert client.get(EDITION, headers=desk).json()["stories"] == approved.json()["stories"]

    # The next day's draft takes the change: the new story in, the retracted one out.
    tomorrow = client.get("/api/v1/editions/dc/2026-11-30/html", headers=desk).text
    assert "A third story after approval" in tomorrow and "Second story" not in tomorrow
    with Session(web_engine) as session:
        trail = [(line.key_name, line.action, line.changes) for line in audit_trail(session, "edition", f"dc/{DAY}")]
    assert trail == [("night-desk", "approved", {"status": ["draft", "approved"]})]


def test_edition_list_and_one(client: TestClient, web_engine: sa.Engine, desk: dict[str, str]) -> None:
    reader = bearer(web_engine, READ)
    assert client.get("/api/v1/editions", headers=reader).json() == {"items": [], "next": None}
    assert client.get(EDITION, headers=reader).status_code == 404
    _put_story(client, desk, "dc-first", "First story of the morning")
    client.get(f"{EDITION}/html", headers=reader)  # a preview assembles the draft
    client.get("/api/v1/editions/dc/2026-11-30/html", headers=reader)
    client.post(f"{EDITION}/approve", headers=desk)

    one = client.get(EDITION, headers=reader)
    assert one.status_code == 200
    record = one.json()
    assert record["region"] == "dc" and record["date"] == DAY and record["status"] == "approved"
    assert record["subject"] == "First story of the morning"
    assert record["counts"]["stories"] == 1 and record["counts"]["ads"] == 0
    assert record["counts"]["deliveries"]["sent"] == 0

    first = client.get("/api/v1/editions?limit=1", headers=reader).json()
    assert [item["date"] for item in first["items"]] == ["2026-11-30"] and first["next"]
    rest = client.get(f"/api/v1/editions?limit=1&cursor={first['next']}", headers=reader).json()
    assert [item["date"] for item in rest["items"]] == [DAY] and rest["next"] is None
    approved = client.get("/api/v1/editions?status=approved&region=dc", headers=reader).json()
    assert [item["date"] for item in approved["items"]] == [DAY]
    assert client.get("/api/v1/editions?region=bxl", headers=reader).json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/editions/atlantis/2026-11-29", 404),
        ("get", "/api/v1/editions/dc/2026-02-30", 422),
        ("get", "/api/v1/editions/dc/2026-11-29", 404),
        ("get", "/api/v1/editions/bxl/2026-11-29/html", 409),  # no stories for Brussels: nothing to show
        ("post", "/api/v1/editions/bxl/2026-11-29/approve", 409),
        ("post", "/api/v1/editions/atlantis/2026-11-29/approve", 404),
        ("get", "/api/v1/editions?status=lost", 422),
    ],
)
def test_edition_errors_are_problems(
    client: TestClient, desk: dict[str, str], method: str, path: str, status: int
) -> None:
    answer = client.request(method, path, headers=desk)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == status and answer.json()["detail"]


def test_regions_are_listed_in_display_order(client: TestClient, web_engine: sa.Engine) -> None:
    reader = bearer(web_engine, READ)
    listed = client.get("/api/v1/regions", headers=reader)
    assert [item["code"] for item in listed.json()["items"]] == ["dc", "bxl", "lagos"]
    one = client.get("/api/v1/regions/bxl", headers=reader).json()
    assert one == {
        "code": "bxl",
        "name": "Brussels",
        "short_label": "BXL",
        "timezone": "Europe/Brussels",
        "send_time": "06:30",
        "edition_name": "The Brussels Morning Wire",
        "language": "en",
    }
    assert client.get("/api/v1/regions/mars", headers=reader).status_code == 404
    assert client.get("/api/v1/regions/NOT-A-CODE", headers=reader).status_code == 422


def test_openapi_description_and_docs_page(client: TestClient) -> None:
    schema = client.get("/api/openapi.json")
    assert schema.status_code == 200
    description = schema.json()
    assert description["servers"] == [{"url": "/api"}]
    assert (
        "/v1/stories/{slug}" in description["paths"] and "/v1/editions/{region}/{date}/approve" in description["paths"]
    )
    assert description["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    put = description["paths"]["/v1/stories/{slug}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/StoryBody"}
    assert "StoryBody" in description["components"]["schemas"] and "SignalIn" in description["components"]["schemas"]
    # Every error is described as what is sent: a Problem, as application/problem+json only.
    errors = [
        response
        for item in description["paths"].values()
        for operation in item.values()
        for code, response in operation["responses"].items()
        if code.startswith(("4", "5"))
    ]
    assert len(errors) > 50
    for response in errors:
        assert response["content"] == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    problem = description["components"]["schemas"]["Problem"]
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldProblem"}
    assert "FieldProblem" in description["components"]["schemas"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "PUT /api/v1/stories/{slug}" in docs.text and "<script" not in docs.text
    assert "default-src 'none'" in docs.headers["Content-Security-Policy"]


def test_ads_stored_before_the_api_keep_their_regions_and_stay_published_through_the_upgrade(engine: sa.Engine) -> None:
    from alembic import command

    from newsletter.db.engine import _alembic_config
    from newsletter.db.models import Ad, AdRegion, StoryStatus
    from tests.conftest import seed_engine

    seed_engine(engine)
    with Session(engine) as session:
        links = session.exec(select(AdRegion.ad_id, AdRegion.region_code)).all()
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")  # before the content API: ads had no status
        command.upgrade(config, "head")
    with Session(engine) as session:
        ads = session.exec(select(Ad)).all()
    assert ads and {ad.status for ad in ads} == {StoryStatus.PUBLISHED}
    assert all(ad.modified_at.tzinfo is not None for ad in ads)
    with Session(engine) as session:  # SQLite copies the ad table only in 0010, which sets the regions aside
        assert sorted(session.exec(select(AdRegion.ad_id, AdRegion.region_code)).all()) == sorted(links)
