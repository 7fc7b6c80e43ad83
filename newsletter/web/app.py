"""``create_app``: build the FastAPI app from settings; every I/O seam is an argument."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter.config import Settings, load_settings
from newsletter.db.engine import make_engine
from newsletter.delivery.base import Backend
from newsletter.delivery.factory import make_backend
from newsletter.errors import TokenError
from newsletter.events.signature import load_public_key
from newsletter.web import archive, manage_routes, subscribe_routes, webhooks
from newsletter.web.access_log import keep_tokens_out_of_access_log
from newsletter.web.api import MOUNT as API_MOUNT
from newsletter.web.api import create_api
from newsletter.web.api.problems import problem_response
from newsletter.web.context import WebContext
from newsletter.web.link_subscriber import answer_bad_link
from newsletter.web.paths import TEMPLATES_DIR
from newsletter.web.rendering import error_page

log = logging.getLogger(__name__)

# Pages whose URL is a credential: never cached, never sent on as a Referer.
_PERSONAL_PREFIXES = ("/p/", "/u/", "/confirm/")

_SITE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None,
    engine: sa.Engine | None = None,
    *,
    backend_factory: Callable[[], Backend] | None = None,
    clock: Callable[[], datetime] = _now,
) -> FastAPI:
    """The web app. Without ``settings`` they are read from the environment (and ``.env``),
    so ``uvicorn --factory newsletter.web.app:create_app --workers N`` builds one per worker.
    Without ``engine`` one is made from ``settings.database_url``; without
    ``backend_factory`` transactional mail goes through the configured backend."""
    if settings is None:
        settings = load_settings()
    keep_tokens_out_of_access_log()
    key_text = settings.sendgrid_webhook_public_key
    context = WebContext(
        settings=settings,
        engine=engine if engine is not None else make_engine(settings.database_url),
        backend_factory=backend_factory or (lambda: make_backend(settings)),
        clock=clock,
        webhook_key=load_public_key(key_text) if key_text else None,
    )
    # No interactive API docs: this app serves subscribers, not developers.
    app = FastAPI(title=settings.sender_name, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = context
    for module in (subscribe_routes, manage_routes, archive, webhooks):
        app.include_router(module.router)
    # The content API is an app of its own: problem+json errors, its own OpenAPI and docs.
    app.mount(API_MOUNT, create_api(context))
    _add_health_and_static(app, context)
    _add_error_pages(app, context)
    _add_security_headers(app)
    return app


def _add_health_and_static(app: FastAPI, context: WebContext) -> None:
    stylesheet = (TEMPLATES_DIR / "site.css").read_bytes()

    @app.get("/health")
    def health() -> JSONResponse:
        """For load balancers: 200 when the database answers, 503 when it does not."""
        try:
            with context.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            # The class name only: driver messages can carry connection details.
            log.error("health check: database unreachable (%s)", exc.__class__.__name__)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    @app.get("/static/site.css")
    def site_css() -> Response:
        return Response(stylesheet, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


def _add_error_pages(app: FastAPI, context: WebContext) -> None:
    app.add_exception_handler(TokenError, answer_bad_link)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(f"{API_MOUNT}/"):
            # A path the mount cannot match (a line break in it): still the API's kind of answer.
            title = "Not found" if exc.status_code == 404 else "Request refused"
            return problem_response(exc.status_code, title, str(exc.detail))
        if exc.status_code == 404:
            return error_page(request, context, 404, "Page not found", "There is nothing at this address.")
        if exc.status_code == 405:
            return error_page(
                request, context, 405, "Not allowed", "This address does not accept that kind of request."
            )
        return error_page(
            request, context, exc.status_code, "Something is not right", "The request could not be handled."
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return error_page(
            request, context, 400, "Something is not right", "The form could not be read. Please try again."
        )

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # The traceback goes to the log with the path's template, not the path:
        # tokens in URLs are credentials.
        route = request.scope.get("route")
        log.error("unhandled error on %s %s", request.method, getattr(route, "path", "?"), exc_info=exc)
        response = error_page(
            request, context, 500, "Sorry, something went wrong", "Please try again in a few minutes."
        )
        # Starlette answers an unhandled exception from its outermost middleware,
        # outside the security-headers middleware below, so set them here too.
        # An error page is never worth caching, whatever the path.
        _set_security_headers(request, response)
        response.headers["Cache-Control"] = "no-store"
        return response


def _set_security_headers(request: Request, response: Response) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _SITE_CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    # Token-bearing URLs must not leak to other sites through the Referer header.
    headers["Referrer-Policy"] = "no-referrer"
    if request.url.path.startswith(_PERSONAL_PREFIXES):
        headers["Cache-Control"] = "no-store"


def _add_security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        _set_security_headers(request, response)
        return response
