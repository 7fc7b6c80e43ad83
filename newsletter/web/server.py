"""``newsletter serve``: the web app under one uvicorn process (``uvicorn --factory`` for several)."""

from __future__ import annotations

import sqlalchemy as sa
import uvicorn

from newsletter.config import Settings
from newsletter.web.app import create_app


def make_server(settings: Settings, *, host: str, port: int, engine: sa.Engine | None = None) -> uvicorn.Server:
    """A configured server; ``run()`` blocks, ``should_exit = True`` stops it."""
    # create_app puts the token filter on the access log (see web/access_log.py).
    config = uvicorn.Config(create_app(settings, engine), host=host, port=port, proxy_headers=True)
    return uvicorn.Server(config)


def serve(settings: Settings, *, host: str, port: int, engine: sa.Engine | None = None) -> None:
    make_server(settings, host=host, port=port, engine=engine).run()
