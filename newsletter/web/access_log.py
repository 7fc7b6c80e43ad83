"""Link tokens never reach the access log, however the app is served.

``/p/<token>``, ``/u/<token>`` and ``/confirm/<token>`` carry a credential in
the path. :func:`keep_tokens_out_of_access_log` puts :class:`RedactTokens` on
uvicorn's access logger once per process; ``create_app`` calls it, so both
``newsletter serve`` and ``uvicorn --factory`` workers redact.
"""

from __future__ import annotations

import logging
import re

_TOKEN_PATH = re.compile(r"(/(?:p|u|confirm)/)[^/?\s\"]+")
ACCESS_LOGGER = "uvicorn.access"


def redact_tokens(text: str) -> str:
    return _TOKEN_PATH.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Rewrites uvicorn access-log records so no link token is ever written out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(arg) if isinstance(arg, str) else arg for arg in record.args)
        record.msg = redact_tokens(str(record.msg))
        return True


def keep_tokens_out_of_access_log() -> None:
    """Add the filter to uvicorn's access logger, once (logging config keeps a logger's filters)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
        logger.addFilter(RedactTokens())
