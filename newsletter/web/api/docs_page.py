"""``/api/docs``: the OpenAPI description as one plain HTML page, built on the server.

No script and nothing fetched from another site (Swagger UI would load both from a CDN),
so the site's strict Content-Security-Policy holds here too.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

_METHODS = ("get", "put", "patch", "post", "delete")


def _parameters(operation: dict[str, Any]) -> str:
    rows = [
        f"<li><code>{escape(p['name'])}</code> ({escape(p['in'])}{', required' if p.get('required') else ''})"
        f"{': ' + escape(p['description']) if p.get('description') else ''}</li>"
        for p in operation.get("parameters", [])
    ]
    if "requestBody" in operation:
        types = ", ".join(escape(media) for media in operation["requestBody"]["content"])
        rows.append(f"<li>body: {types}</li>")
    return f"<ul>{''.join(rows)}</ul>" if rows else ""


def _answers(operation: dict[str, Any]) -> str:
    """The statuses, each with the headers it carries: ``200 (ETag), 304 (ETag), 404``."""
    answers = []
    for code, response in operation.get("responses", {}).items():
        headers = ", ".join(escape(name) for name in response.get("headers", {}))
        answers.append(f"{escape(str(code))} ({headers})" if headers else escape(str(code)))
    return ", ".join(answers)


def render_docs(schema: dict[str, Any], openapi_url: str) -> str:
    base = schema.get("servers", [{"url": ""}])[0]["url"]
    sections = []
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            sections.append(
                f"<section><h2><code>{method.upper()} {escape(base + path)}</code></h2>"
                f"<p>{escape(operation.get('summary', ''))}</p>{_parameters(operation)}"
                f"<p>answers: {_answers(operation)}</p></section>"
            )
    title = escape(schema["info"]["title"])
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<link rel="stylesheet" href="/static/site.css"></head><body><main>'
        f"<h1>{title}</h1><p>Send <code>Authorization: Bearer KEY</code> (a key from "
        "<code>newsletter api-keys create</code>). Errors are <code>application/problem+json</code>. "
        "A story or ad carries its <code>ETag</code> (also its <code>etag</code> field, in lists too): send it "
        "as <code>If-Match</code> with a write (412, nothing written, when the record has changed since, "
        "or does not exist) and as <code>If-None-Match</code> with a read (304, no body, while it has not). "
        "<code>If-None-Match: *</code> with a <code>PUT</code> only creates (412, nothing written, when the "
        "record exists). "
        f'The full description: <a href="{escape(openapi_url)}">{escape(openapi_url)}</a>.</p>'
        f"{''.join(sections)}</main></body></html>"
    )


def add_docs_page(api: FastAPI) -> None:
    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(render_docs(api.openapi(), f"{api.servers[0]['url']}{api.openapi_url}"))
