"""Proof copies: an edition as it stands, sent to editors' own addresses before it goes out.

Proofs bypass the delivery ledger and the subscriber list on purpose: they are not
part of the send. Their personal links carry a token that no subscriber has, so a
click on "unsubscribe" in a proof shows the invalid-link page and changes nothing.
Previews (files written by ``newsletter preview``) get the same treatment with a
sample token, rather than links holding the raw placeholder.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import sqlalchemy as sa

from newsletter.addresses import normalise_email
from newsletter.config import Settings
from newsletter.db.engine import session_scope
from newsletter.delivery.base import Backend, Recipient, SendResult
from newsletter.delivery.factory import make_backend
from newsletter.editions.lifecycle import prepare_edition
from newsletter.render.edition import RenderedEdition
from newsletter.send.edition import message_content

PROOF_TOKEN = "proof-copy"
PROOF_SUBJECT_PREFIX = "[PROOF] "
# Fills a preview's personal links: readable as a sample, and no subscriber's token.
SAMPLE_TOKEN = "sample-link"


def sample_copy(rendered: RenderedEdition) -> tuple[str, str]:
    """(html, text) of an edition for a person to open: personal links carry :data:`SAMPLE_TOKEN`."""
    return rendered.personalised(SAMPLE_TOKEN)


def send_proof(
    engine: sa.Engine,
    settings: Settings,
    region_code: str,
    local_date: date,
    addresses: list[str],
    *,
    backend: Backend | None = None,
    now: datetime | None = None,
) -> list[SendResult]:
    """Send the edition (assembled if need be) to each address, marked as a proof.

    Raises :class:`~newsletter.addresses.InvalidAddress` before sending anything
    if one address is not valid.
    """
    recipients = [Recipient(normalise_email(address), PROOF_TOKEN) for address in addresses]
    with session_scope(engine) as session:
        rendered = prepare_edition(session, settings, region_code, local_date, now=now)
    content = replace(
        message_content(settings, rendered, subject_prefix=PROOF_SUBJECT_PREFIX),
        campaign=f"proof-{rendered.campaign}",
        edition_id=None,  # not part of the edition's send: no ledger, no edition stamp
        track_opens=False,  # editors check the real links, and a proof's clicks are no reader's
        track_clicks=False,
    )
    active = backend or make_backend(settings)
    try:
        return active.send_batch(content, recipients)
    finally:
        if backend is None:
            active.close()
