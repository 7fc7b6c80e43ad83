"""Property-based: schemathesis drives the live API from its own OpenAPI description.

A real uvicorn on 127.0.0.1 serves the app; schemathesis reads ``/api/openapi.json`` from
it and sends generated requests, valid ones and invalid ones (wrong types, missing
fields, bad formats), to every operation with a key that holds every scope. No answer
may be a server error, and every answer must match what the description promises:
its status code, its media type, its headers and its body's schema. Derandomised, so a
failure reproduces run after run.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from newsletter.config import Settings
from tests.api_helpers import APPROVE, WRITE, ad_body, bearer, story_body
from tests.conftest import make_settings
from tests.web_helpers import LiveServer, free_port

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_MODE = 25


def test_no_generated_request_breaks_the_api_or_its_description(
    web_settings: Settings, web_engine: sa.Engine, tmp_path: Path
) -> None:
    app_settings = make_settings(web_settings.database_url, tmp_path, api_requests_per_minute=100000)
    headers = bearer(web_engine, WRITE, APPROVE)
    with LiveServer(app_settings, web_engine, free_port()) as live:
        # Something to find: generated slugs mostly miss, these do not.
        assert httpx.put(f"{live.url}/api/v1/stories/story", json=story_body(), headers=headers).status_code == 201
        assert httpx.put(f"{live.url}/api/v1/ads/ad", json=ad_body(), headers=headers).status_code == 201
        schema = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 19  # six per kind of content, five of editions, two of regions
        for operation in operations:
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=EXAMPLES_PER_MODE,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                def call(case: schemathesis.Case) -> None:
                    case.call_and_validate(base_url=f"{live.url}/api", headers=headers, checks=CHECKS)

                call()
