"""Keys of the content API: created once, stored as a hash, checked per request, revoked by name.

A key is 32 random bytes (``secrets.token_urlsafe``); only its SHA-256 is stored. With
that much entropy a plain hash is enough (nothing to brute-force, unlike a password), and
it lets a request's key be found by an indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from newsletter.db.models import ApiKey
from newsletter.errors import ConfigurationError, NotFoundError

KEY_PREFIX = "nlk_"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class Scope(StrEnum):
    CONTENT_READ = "content:read"  # stories, ads, editions, regions: read
    CONTENT_WRITE = "content:write"  # stories and ads: put, patch, retract (and read)
    EDITIONS_APPROVE = "editions:approve"  # sign an edition off


# A key that may write may also read what it writes.
IMPLIED = {Scope.CONTENT_WRITE: {Scope.CONTENT_READ}}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str, scopes: list[Scope], *, now: datetime) -> str:
    """Store a new key's hash under ``name``; returns the key, which is never stored nor shown again."""
    if not re.match(NAME_PATTERN, name):
        raise ConfigurationError(f"key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if not scopes:
        raise ConfigurationError(f"key {name!r} needs at least one --scope ({', '.join(s.value for s in Scope)})")
    if session.exec(select(ApiKey.id).where(ApiKey.name == name)).first() is not None:
        raise ConfigurationError(f"an API key named {name!r} exists already (revoked keys keep their name)")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, key_hash=hash_key(key), scopes=sorted({s.value for s in scopes}), created_at=now))
    session.flush()
    return key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.name))).all())


def revoke_key(session: Session, name: str, *, now: datetime) -> bool:
    """Revoke the key named ``name``; False when it was revoked already."""
    key = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
    if key is None:
        raise NotFoundError(f"no API key named {name!r}")
    if key.revoked_at is not None:
        return False
    key.revoked_at = now
    session.flush()
    return True


def find_key(session: Session, key: str) -> ApiKey | None:
    """The live (unrevoked) key, or None for an unknown or revoked one."""
    row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    return row if row is not None and row.revoked_at is None else None


def granted(key: ApiKey) -> set[Scope]:
    """The key's scopes with those they imply; unknown stored names are ignored."""
    scopes = {Scope(name) for name in key.scopes if name in {s.value for s in Scope}}
    for scope in list(scopes):
        scopes |= IMPLIED.get(scope, set())
    return scopes
