"""SendGrid Signed Event Webhook verification (ECDSA P-256, SHA-256).

SendGrid signs ``timestamp header + raw request body`` and sends the DER signature,
base64-encoded, in a header. The body must be the exact bytes received: parsing
and re-serialising JSON changes them and breaks the signature.

No freshness window is enforced on the timestamp: SendGrid retries a failed post
for up to a day, and a replayed post is harmless because events are deduplicated
by ``sg_event_id`` (see :mod:`newsletter.events.ingest`).
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from newsletter.errors import ConfigurationError

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """Read the key as SendGrid shows it (base64 DER, no armour) or as PEM."""
    try:
        stripped = text.strip()
        if stripped.startswith("-----BEGIN"):
            key = load_pem_public_key(stripped.encode("ascii"))
        else:
            key = load_der_public_key(base64.b64decode(stripped, validate=True))
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise ConfigurationError(
            f"NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY is not a readable public key ({exc.__class__.__name__})"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigurationError("NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY must be an ECDSA P-256 public key")
    return key


def is_signed_by(key: ec.EllipticCurvePublicKey, *, signature: str | None, timestamp: str | None, body: bytes) -> bool:
    """True when ``signature`` is the key holder's signature of timestamp + body."""
    if not signature or not timestamp:
        return False
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
