"""Addresses erased on request, known only by a hash.

An erasure deletes a subscriber's personal data, but the address must still never
be mailed again (a re-import of an old list, a stranger typing it into the form).
So a hash of its normal form is kept. The hash is deliberately unkeyed (SHA-256
with a fixed label): it must keep working when the app's secret is rotated, and
it is compared, never reversed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from sqlmodel import Session, col, select

from newsletter.db.models import ErasedAddress

_LABEL = b"newsletter-erased-address\x00"


def address_hash(email: str) -> str:
    """The hash of an already normalised address (64 hex characters)."""
    return hashlib.sha256(_LABEL + email.encode("utf-8")).hexdigest()


def is_erased(session: Session, email: str) -> bool:
    return session.get(ErasedAddress, address_hash(email)) is not None


def erased_among(session: Session, hashes: Collection[str]) -> set[str]:
    """Which of these hashes belong to erased addresses (the caller keeps the list short)."""
    if not hashes:
        return set()
    query = select(ErasedAddress.address_hash).where(col(ErasedAddress.address_hash).in_(list(hashes)))
    return set(session.exec(query))
