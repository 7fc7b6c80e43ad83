"""Run the web app under uvicorn, with link tokens kept out of the access log."""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa
import uvicorn

from newsletter.config import Settings
from newsletter.web.app import create_app

# /p/<token>, /u/<token>, /confirm/<token>: the token is a credential.
_TOKEN_PATH = re.compile(r"(/(?:p|u|confirm)/)[^/?\s\"]+")


def redact_tokens(text: str) -> str:
    return _TOKEN_PATH.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Rewrites uvicorn access-log records so no link token is ever written out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(arg) if isinstance(arg, str) else arg for arg in record.args)
        record.msg = redact_tokens(str(record.msg))
        return True


def make_server(settings: Settings, *, host: str, port: int, engine: sa.Engine | None = None) -> uvicorn.Server:
    """A configured server; ``run()`` blocks, ``should_exit = True`` stops it."""
    config = uvicorn.Config(create_app(settings, engine), host=host, port=port, proxy_headers=True)
    server = uvicorn.Server(config)
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    return server


def serve(settings: Settings, *, host: str, port: int, engine: sa.Engine | None = None) -> None:
    make_server(settings, host=host, port=port, engine=engine).run()
