"""Limits on the subscribe form: mails per mailbox, requests per client, kept in the database.

The form must not be a way to fill a stranger's mailbox: one page's cookie and
CSRF token can be replayed at will. So every subscription mail takes one hit of
its address's allowance, and every form post one hit of its client's.

Why a table of our own rather than a library: the well-kept limiter for Python
web apps, ``limits`` (behind slowapi), stores counters in memory, Redis,
Memcached, MongoDB or etcd, never in an SQL database, and memory is per process.
The one store every web process of this project already shares, and that
survives restarts, is its database. The counter is one row per (key, fixed
window), and taking a hit is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE
hits < n RETURNING`` statement, atomic on SQLite and PostgreSQL alike, so
processes racing for the last hit cannot both win it.

The estimate is the usual sliding-window counter: the current window's hits,
plus the previous window's weighted by how much of it the last ``period`` still
covers. It never lets twice the limit through around a window boundary, as a
plain fixed window would.

Keys are keyed hashes (HMAC with the app's secret) of the normalised value: the
table holds no email or IP address in clear, and cannot be read back into one.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from newsletter.db.models import RateCounter
from newsletter.signing import sign_text

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)

# Providers documented to ignore dots in the local part; elsewhere a dot is part of the name.
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# A client with IPv6 usually holds a whole /64: limit the network, not each address in it.
_IPV6_PREFIX = 64


def limited_address(email: str) -> str:
    """The mailbox an address reaches, as far as the limit is concerned.

    Lower case; the ``+tag`` sub-address dropped (Gmail, Outlook, iCloud, Fastmail
    and most others deliver ``name+anything`` to ``name``); for Gmail the dots too.
    Joining two real mailboxes here only makes their limit shared, never looser.
    """
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS_DOMAINS:
        domain = _DOTLESS_DOMAINS[domain]
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def _key(secret: bytes, scope: str, value: str) -> str:
    # 24 bytes are 32 base64 characters: no padding, so the stored keys are as before.
    message = b"rate-limit\x00" + scope.encode() + b"\x00" + value.encode()
    return f"{scope}:{sign_text(secret, message, 24)}"


def address_limit_key(secret: bytes, email: str) -> str:
    return _key(secret, "mail", limited_address(email))


def client_limit_key(secret: bytes, host: str) -> str:
    """The key for a client address: IPv4 as is, IPv6 by its /64, anything else as text."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return _key(secret, "client", host)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return _key(secret, "client", str(address.ipv4_mapped))
        network = ipaddress.IPv6Network((address, _IPV6_PREFIX), strict=False)
        return _key(secret, "client", str(network))
    return _key(secret, "client", str(address))


def _window_start(now: datetime, period: timedelta) -> datetime:
    seconds = int(period.total_seconds())
    stamp = int(now.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


def take(session: Session, key: str, *, limit: int, period: timedelta, now: datetime) -> bool:
    """Take one hit for ``key`` if fewer than ``limit`` were taken in the last ``period``.

    False (and nothing counted) when the allowance is used up. Runs in the
    caller's transaction; commit soon, since the counter row stays locked until then.
    """
    if period.total_seconds() < 1 or period.total_seconds() % 1:
        raise ValueError(f"a limit period must be a whole number of seconds, got {period}")
    start = _window_start(now, period)
    # Old rows first: the DELETE also opens SQLite's write transaction before the
    # read below, so no other writer can slip in between read and write.
    session.execute(sa.delete(RateCounter).where(col(RateCounter.expires_at) < now))
    previous = (
        session.exec(
            select(RateCounter.hits).where(RateCounter.key == key, RateCounter.window_start == start - period)
        ).first()
        or 0
    )
    overlap = 1 - (now - start) / period  # share of the previous window still inside the period
    allowed = math.floor(limit - previous * overlap + 1e-9)
    if allowed < 1:
        return False
    table = sa.inspect(RateCounter).local_table
    assert isinstance(table, sa.Table)  # a mapped class's own table, never a join
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    new_row = insert(table).values(key=key, window_start=start, hits=1, expires_at=start + 2 * period)
    statement = new_row.on_conflict_do_update(
        index_elements=[table.c.key, table.c.window_start],
        set_={"hits": table.c.hits + 1},
        where=table.c.hits < allowed,
    ).returning(table.c.hits)
    return session.execute(statement).first() is not None
