"""Keys of the content API: the CLI that makes them, bearer checks, scopes and the rate per key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.db.models import ApiKey, RateCounter
from newsletter.web import create_app
from tests.api_helpers import APPROVE, READ, WRITE, bearer, story_body
from tests.conftest import make_settings, run_cli
from tests.web_helpers import Clock, TestClient

STORY = "/api/v1/stories/dc-night-buses"


def test_cli_creates_lists_and_revokes_a_key_that_only_exists_as_a_hash(
    client: TestClient, db_url: str, web_engine: sa.Engine, tmp_path: Path
) -> None:
    made = run_cli(
        ["api-keys", "create", "cms-desk", "--scope", "content:write", "--scope", "editions:approve"], db_url, tmp_path
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("nlk_") and len(key) > 40
    with Session(web_engine) as session:
        stored = session.exec(select(ApiKey)).one()
        assert key not in repr(stored.model_dump()) and len(stored.key_hash) == 64
        assert stored.scopes == ["content:write", "editions:approve"]

    headers = {"Authorization": f"Bearer {key}"}
    assert client.put(STORY, json=story_body(), headers=headers).status_code == 201

    listed = run_cli(["api-keys", "list"], db_url, tmp_path)
    assert "cms-desk" in listed.stdout and "content:write,editions:approve" in listed.stdout
    assert "active" in listed.stdout and key not in listed.stdout

    assert run_cli(["api-keys", "revoke", "cms-desk"], db_url, tmp_path).returncode == 0
    assert "revoked" in run_cli(["api-keys", "list"], db_url, tmp_path).stdout
    refused = client.get(STORY, headers=headers)
    assert refused.status_code == 401 and refused.json()["detail"] == "unknown or revoked API key"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["api-keys", "create", "desk"], "missing option '--scope'"),
        (["api-keys", "create", "desk", "--scope", "everything"], "'everything' is not one of"),
        (["api-keys", "create", "bad name!", "--scope", "content:read"], "use 1-64 letters"),
        (["api-keys", "revoke", "nobody"], "no API key named 'nobody'"),
    ],
)
def test_cli_refuses_bad_key_commands_in_one_line(db_url: str, tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(args, db_url, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_second_key_of_the_same_name_is_refused(db_url: str, tmp_path: Path) -> None:
    assert run_cli(["api-keys", "create", "desk", "--scope", "content:read"], db_url, tmp_path).returncode == 0
    again = run_cli(["api-keys", "create", "desk", "--scope", "content:read"], db_url, tmp_path)
    assert again.returncode == 1 and "exists already" in again.stderr


def test_missing_or_unknown_keys_are_401_in_json(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nlk_not-a-key"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        answer = client.get("/api/v1/stories", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert answer.json()["status"] == 401


def test_each_route_wants_its_scope(client: TestClient, web_engine: sa.Engine) -> None:
    reader = bearer(web_engine, READ)
    writer = bearer(web_engine, WRITE)
    approver = bearer(web_engine, APPROVE)
    refused = [
        client.put(STORY, json=story_body(), headers=reader),
        client.delete(STORY, headers=reader),
        client.get("/api/v1/stories", headers=approver),
        client.post("/api/v1/editions/dc/2026-11-29/approve", headers=writer),
    ]
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "lacks the scope" in answer.json()["detail"]
    assert client.put(STORY, json=story_body(), headers=writer).status_code == 201
    assert client.get(STORY, headers=writer).status_code == 200  # writing includes reading
    assert client.get(STORY, headers=reader).status_code == 200


def test_requests_over_the_rate_get_429_with_retry_after(
    web_settings: Settings, web_engine: sa.Engine, clock: Clock, tmp_path: Path
) -> None:
    settings = make_settings(web_settings.database_url, tmp_path, api_requests_per_minute=3)
    first, second = bearer(web_engine, READ), bearer(web_engine, READ)
    with TestClient(create_app(settings, web_engine, clock=clock), base_url="https://testserver") as limited:
        answers = [limited.get("/api/v1/regions", headers=first).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        over = limited.get("/api/v1/regions", headers=first)
        assert over.headers["content-type"] == "application/problem+json"
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        assert limited.get("/api/v1/regions", headers=second).status_code == 200  # per key
        clock.advance(timedelta(minutes=2))  # the sliding window has moved past every hit
        assert limited.get("/api/v1/regions", headers=first).status_code == 200
    with Session(web_engine) as session:
        assert all(row.key.startswith("api:") for row in session.exec(select(RateCounter)))


def test_every_operation_in_the_description_wants_a_key(client: TestClient, web_engine: sa.Engine) -> None:
    description = client.get("/api/openapi.json").json()
    samples = {"slug": "dc-night-buses", "region": "dc", "date": "2026-11-29", "code": "dc"}
    every_scope = bearer(web_engine, READ, WRITE, APPROVE)
    called = 0
    for path, item in description["paths"].items():
        for method in item:
            url = "/api" + path.format(**samples)
            answer = client.request(method, url, json={})
            assert answer.status_code == 401, (method, url)
            assert answer.headers["content-type"] == "application/problem+json"
            assert client.request(method, url, json={}, headers=every_scope).status_code != 401
            called += 1
    assert called == 19
