"""POST /webhooks/sendgrid: verify first, then hand the batch to :mod:`newsletter.events.ingest`.

Answers: 204 when stored (duplicates included: SendGrid must stop retrying them);
403 for an unsigned or forged request; 400 for a signed body that is not a JSON
list; 413 for an oversized body; 503 while no public key is configured, so
SendGrid keeps retrying until the operator sets one instead of losing events.
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.events.ingest import ingest
from newsletter.events.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, is_signed_by
from newsletter.send.edition import close_resolved
from newsletter.web.context import Web

router = APIRouter()
log = logging.getLogger(__name__)

# SendGrid batches up to a few thousand events; a few hundred bytes each fits
# comfortably. Anything far larger is not SendGrid.
MAX_BODY_BYTES = 8 * 1024 * 1024


def _problem(status_code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes ``limit``.

    A chunked request declares no length, so count while reading: ``request.body()``
    would buffer all of it before we could look at its size.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/webhooks/sendgrid")
async def sendgrid_events(request: Request, web: Web) -> Response:
    key = web.webhook_key
    if key is None:
        return _problem(503, "event webhook verification is not configured")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _problem(413, "body too large")
    body = await _read_limited(request, MAX_BODY_BYTES)
    if body is None:
        return _problem(413, "body too large")
    signed = is_signed_by(
        key,
        signature=request.headers.get(SIGNATURE_HEADER),
        timestamp=request.headers.get(TIMESTAMP_HEADER),
        body=body,
    )
    if not signed:
        # Log the fact, never the body or headers: they name subscribers.
        log.warning("event webhook: rejected a request with a missing or invalid signature")
        return _problem(403, "invalid signature")
    try:
        events = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _problem(400, "body is not JSON")
    if not isinstance(events, list):
        return _problem(400, "body is not a JSON list of events")
    report = await run_in_threadpool(ingest, web.engine, events, now=web.clock())
    for edition_id in sorted(report.resolved_editions):
        # The rows these events resolved may have been the last the edition was waiting for.
        if await run_in_threadpool(close_resolved, web.engine, edition_id, now=web.clock()):
            log.info("event webhook: edition #%d is sent, its last unresolved deliveries resolved", edition_id)
    log.info(
        "event webhook: %d received, %d stored, %d duplicates, %d suppressed, %d unresolved deliveries resolved",
        report.received,
        report.stored,
        report.duplicates,
        report.suppressed,
        report.resolved,
    )
    return Response(status_code=204)
