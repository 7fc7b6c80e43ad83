"""The content API (``/api/v1/``): stories, ads, editions and regions as JSON, for a newsroom's CMS.

A FastAPI app of its own, mounted at ``/api`` by :func:`newsletter.web.app.create_app`, so
its errors are problem+json (never the site's HTML pages) and its OpenAPI description
(``/api/openapi.json``, read at ``/api/docs``) covers only the API. Routes are thin: the
content rules, ETags and audit trail live in :mod:`newsletter.content.store`, editions in
:mod:`newsletter.editions`, keys in :mod:`newsletter.content.api_keys`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from newsletter.web.api import content_routes, edition_routes
from newsletter.web.api.docs_page import add_docs_page
from newsletter.web.api.problems import add_problem_handlers, problem_components
from newsletter.web.context import WebContext

MOUNT = "/api"
API_VERSION = "1.0.0"


def create_api(context: WebContext) -> FastAPI:
    """The API app; ``context`` is the site's (one engine, one clock, one set of settings)."""
    api = FastAPI(
        title=f"{context.settings.sender_name} content API",
        version=API_VERSION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        servers=[{"url": MOUNT}],
        root_path_in_servers=False,
    )
    api.state.web = context
    for router in [*content_routes.routers, edition_routes.editions, edition_routes.regions]:
        api.include_router(router)
    add_problem_handlers(api)
    _describe_bodies(api)
    add_docs_page(api)
    return api


def _describe_bodies(api: FastAPI) -> None:
    """Add the schemas no route names as a model: the request bodies (routes read them
    themselves: size limit, one validation) and the problem every error answers with."""

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title, version=api.version, routes=api.routes, servers=api.servers, openapi_version="3.1.0"
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, described in {**content_routes.body_components(), **problem_components()}.items():
                components.setdefault(name, described)
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
