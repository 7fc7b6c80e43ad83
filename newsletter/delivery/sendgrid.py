"""SendGrid backend: post the bodies from :mod:`.sendgrid_payload` with the official client.

Only SendGrid's parts live here: post one request, read the answer, map it onto
:mod:`newsletter.errors`. What an answer means:

* 202 (200 in sandbox mode): accepted and *queued*; delivery is learned from events.
* 400, 404, 413 and other 4xx: the request is refused as it is; not retried.
* 401, 403: the key is refused; the whole send stops.
* 429: rate limited; wait until ``X-RateLimit-Reset`` (bounded by the dispatcher).
* 5xx, a refused connection, an unknown host: not accepted; retried with backoff.
* a timeout or a dropped connection: mail send has no idempotency key and the
  client raises the same error whether SendGrid read the body or not, so this is
  an *unknown outcome*, never retried.
"""

from __future__ import annotations

import codecs
import http.client
import json
import logging
import socket
import time
from collections.abc import Callable, Sequence
from urllib.error import URLError

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from newsletter.delivery.base import MessageContent, Outcome, Recipient, SendResult
from newsletter.delivery.sendgrid_payload import plan_requests, request_bytes, to_sendgrid_request
from newsletter.delivery.units import deliver_units
from newsletter.errors import (
    AuthenticationError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    UnknownOutcomeError,
)

__all__ = ["SendGridBackend", "plan_requests", "to_sendgrid_request"]

_CLIENT_LOGGER = "python_http_client.client"
# python_http_client json.dumps()es a body only when the Content-Type is missing or exactly
# "application/json"; with any other JSON type it posts ``request_body.encode("utf-8")``. So we
# hand it our own, faster serialization (sendgrid_payload.request_bytes) with this type.
_JSON_CONTENT_TYPE = {"Content-Type": "application/json; charset=utf-8"}
_MAX_DETAIL = 500


class _Payload(bytes):
    """The posted bytes, whose text form is only their size.

    The client formats ``request.data`` into a DEBUG line (``"PAYLOAD: {data}".format(...)``)
    on every request, before the logger looks at the level: the repr of a 550 KB body
    is about 2.6 ms, per request, for a line nobody sees (and that _HideSecrets drops).
    """

    def __str__(self) -> str:
        return f"<{len(self)} bytes of JSON>"

    def __repr__(self) -> str:
        return str(self)


class _Body(str):
    """The ``request_body`` handed to the client: its ``encode`` returns the orjson bytes as they are.

    Decoding them to text only for the client to encode them back would copy 550 KB twice
    per request. The text itself is empty: a client that ever json.dumps()ed it instead
    would post ``""``, which SendGrid refuses (and the tests check what is posted).
    """

    payload: _Payload

    def __new__(cls, payload: bytes) -> _Body:
        body = super().__new__(cls)
        body.payload = _Payload(payload)
        return body

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        if codecs.lookup(encoding).name != "utf-8":
            raise ValueError(f"the request body is UTF-8 JSON, not {encoding}")
        return self.payload


class _HideSecrets(logging.Filter):
    """The HTTP client logs request headers (our API key) and bodies (every address and
    token) at DEBUG. Drop those two lines so turning on debug logging never leaks them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("HEADERS:", "PAYLOAD:"))


def _hide_client_secrets() -> None:
    logger = logging.getLogger(_CLIENT_LOGGER)
    if not any(isinstance(existing, _HideSecrets) for existing in logger.filters):
        logger.addFilter(_HideSecrets())


def _error_text(body: bytes | str | None) -> str:
    """SendGrid's ``{"errors": [{"message", "field"}]}`` as one line; raw text otherwise."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        errors = json.loads(text).get("errors", [])
        parts = [
            f"{e.get('message', '')}" + (f" (field {e['field']})" if e.get("field") not in (None, "null") else "")
            for e in errors
        ]
        text = "; ".join(parts) or text
    except (ValueError, AttributeError, TypeError):
        pass
    return text[:_MAX_DETAIL]


def _reset_wait(headers: object, now: float) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (a Unix time), or None when absent or unreadable."""
    value = headers.get("X-RateLimit-Reset") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value) - now) if value is not None else None
    except ValueError:
        return None


def error_from_answer(exc: HTTPError, *, now: float) -> DeliveryError:
    """Map an HTTP error answer from mail send onto the error tree."""
    status = int(exc.status_code)
    detail = _error_text(exc.body)
    if status in (401, 403):
        return AuthenticationError(
            f"SendGrid refused the API key (HTTP {status}); check SENDGRID_API_KEY and its mail send permission",
            status=status,
            detail=detail,
        )
    if status == 429:
        return TransientDeliveryError(
            "SendGrid rate limit (HTTP 429)", status=status, detail=detail, retry_after=_reset_wait(exc.headers, now)
        )
    if status >= 500:
        return TransientDeliveryError(f"SendGrid server error (HTTP {status})", status=status, detail=detail)
    return PermanentDeliveryError(f"SendGrid refused the request (HTTP {status})", status=status, detail=detail)


def error_from_network(exc: OSError | http.client.HTTPException) -> DeliveryError:
    """Only a connection that was never made is certainly unsent; anything later is unknown."""
    reason = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
        return TransientDeliveryError(f"could not connect to SendGrid: {reason}")
    return UnknownOutcomeError(
        f"no answer from SendGrid ({type(reason).__name__}: {reason}); the request may have been accepted"
    )


class SendGridBackend:
    """Posts to ``{host}/v3/mail/send``. Thread-safe: each call builds its own HTTP request."""

    name = "sendgrid"

    def __init__(
        self,
        api_key: str,
        *,
        host: str,
        timeout: float,
        sandbox: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if timeout <= 0:
            # The client's default is no timeout at all: one stuck request would hang the send.
            raise ValueError("a SendGrid timeout must be positive")
        _hide_client_secrets()
        self._client = SendGridAPIClient(api_key=api_key, host=host.rstrip("/"))
        self.host = host
        self.timeout = timeout
        self.sandbox = sandbox
        self._clock = clock

    def __repr__(self) -> str:  # never show the key
        return f"SendGridBackend(host={self.host!r}, sandbox={self.sandbox})"

    def send_batch(self, content: MessageContent, recipients: Sequence[Recipient]) -> list[SendResult]:
        return deliver_units(plan_requests(content, recipients), lambda unit: self._post(content, unit))

    def _post(self, content: MessageContent, unit: Sequence[Recipient]) -> list[SendResult]:
        body = _Body(request_bytes(to_sendgrid_request(content, unit, sandbox=self.sandbox)))
        try:
            response = self._client.client.mail.send.post(
                request_body=body, request_headers=_JSON_CONTENT_TYPE, timeout=self.timeout
            )
        except HTTPError as exc:
            raise error_from_answer(exc, now=self._clock()) from None
        except (OSError, http.client.HTTPException) as exc:
            raise error_from_network(exc) from None
        if not 200 <= response.status_code < 300:
            # Only 2xx come back as responses; anything else would be a client change.
            raise UnknownOutcomeError(f"unexpected answer from SendGrid: HTTP {response.status_code}")
        message_id = response.headers.get("X-Message-Id") if response.headers else None
        return [SendResult(r, Outcome.QUEUED, provider_message_id=message_id) for r in unit]

    def close(self) -> None:
        pass  # urllib opens a connection per request; nothing is held between calls
