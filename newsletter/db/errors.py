"""Database failures an operator can fix, turned into one line that says what to do.

The driver's own errors run to hundreds of lines of traceback for a server that is
not running or a schema that was never created. :func:`url_problem` checks a
database URL before an engine is made; :func:`explain` turns a SQLAlchemy error
into a :class:`~newsletter.errors.DatabaseUnavailableError` naming the cause and the
command to run, or returns None for anything else (a bug keeps its traceback).
Entry points (the CLI's main, scheduler.py) call these; nothing else needs to.

No message carries the URL's password: hosts, ports, database and user names only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from newsletter.errors import DatabaseUnavailableError

SETTING = "NEWSLETTER_DATABASE_URL"
INIT = "run `newsletter init`"
EXAMPLES = "sqlite:///var/newsletter.db or postgresql+psycopg://user@host/dbname"


def url_problem(url: str) -> str | None:
    """Why this database URL cannot work, or None when it looks usable."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        # Not echoed: an unparsable URL may still hold a password.
        return f"{SETTING} is not a database URL; write one like {EXAMPLES}"
    scheme = parsed.drivername
    if scheme == "postgres" or scheme.startswith("postgres+"):
        return (
            f"{SETTING} uses {scheme}://, which SQLAlchemy does not accept; "
            "write postgresql+psycopg://... (the rest of the URL unchanged)"
        )
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        return f"{SETTING} uses {scheme}://; only SQLite and PostgreSQL are supported: {EXAMPLES}"
    if backend == "sqlite" and parsed.host:
        return f"{SETTING}: a SQLite URL has no host; write sqlite:///relative/path.db or sqlite:////absolute/path.db"
    return None


def _postgres_where(url: sa.URL | None) -> str:
    if url is None:
        return "PostgreSQL"
    host = url.host or url.query.get("host") or "the local socket"
    if isinstance(host, tuple):
        host = ",".join(host)
    return f"PostgreSQL at {host}:{url.port or 5432}" if url.host else f"PostgreSQL at {host}"


def _first_line(text: str, url: sa.URL | None) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), text.strip())
    if url is not None and url.password:
        line = line.replace(str(url.password), "***")
    return line.removeprefix("connection failed: ")


# Where the drivers name what is missing (the first line of their messages):
# SQLite: "no such table: region", "no such column: edition.foo", "table edition has no column named foo";
# PostgreSQL: 'relation "region" does not exist', 'column edition.foo does not exist',
# 'column "foo" does not exist', 'column "foo" of relation "edition" does not exist'.
_MISSING_NAME = re.compile(
    r"no such (?:table|column): (?P<sqlite>[\w.]+)|has no column named (?P<named>\w+)"
    r'|(?:relation|column) (?:"(?P<quoted>[^"]+)"|(?P<bare>[\w.]+)) (?:of relation "[^"]+" )?does not exist'
)


def _missing(what: str, text: str) -> str:
    """``(no table 'region')``, or nothing when the message does not say which."""
    found = _MISSING_NAME.search(text)
    name = next((part for part in found.groups() if part), None) if found else None
    return f" (no {what} '{name}')" if name else ""


def _sqlstate(exc: sa.exc.SQLAlchemyError) -> str | None:
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return state if isinstance(state, str) else None


def _schema_problem(exc: sa.exc.SQLAlchemyError, text: str) -> str | None:
    state = _sqlstate(exc)
    if state == "42P01" or text.startswith("no such table"):
        return f"database not initialised{_missing('table', text)}: {INIT}"
    if state == "42703" or text.startswith("no such column") or "has no column named" in text:
        return f"database schema is out of date{_missing('column', text)}: {INIT}"
    return None


def _postgres_problem(text: str, url: sa.URL | None) -> str | None:
    where = _postgres_where(url)
    lower = text.lower()
    missing_db = re.search(r'database "([^"]+)" does not exist', text)
    if missing_db:
        name = missing_db.group(1)
        return f"{where}: database '{name}' does not exist: create it (createdb {name}), then {INIT}"
    if "connection refused" in lower:
        return f"cannot connect to {where} (connection refused): is the server running?"
    if "password authentication failed" in lower or re.search(r'role "[^"]+" does not exist', text):
        user = url.username if url is not None and url.username else "?"
        return f"{where} refused the login for user '{user}': check the user and password in {SETTING}"
    if "failed to resolve host" in lower or "could not translate host name" in lower:
        host = url.host if url is not None and url.host else "?"
        return f"cannot connect to PostgreSQL: host '{host}' not found: check {SETTING}"
    if "timeout expired" in lower or "timed out" in lower:
        return f"cannot connect to {where} (timed out): is the host reachable and the port open?"
    if "connection failed" in lower or "connection to server" in lower:
        return f"cannot connect to {where}: {_first_line(text, url)}"
    return None


def _sqlite_problem(text: str, url: sa.URL | None) -> str | None:
    path = url.database if url is not None and url.database else "?"
    if "unable to open database file" in text:
        return f"cannot open the SQLite database {path}: check that its folder exists and is writable"
    if "file is not a database" in text:
        return f"{path} is not a SQLite database: check {SETTING}"
    if "readonly database" in text:
        return f"the SQLite database {path} is read-only: check the file's permissions"
    if "database is locked" in text:
        return f"the SQLite database {path} stayed locked by another process: try again when it is done"
    return None


def explain(exc: BaseException, url: str | sa.URL | None) -> DatabaseUnavailableError | None:
    """The operator's version of ``exc``, or None when it is not a problem of setup."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    parsed = sa.make_url(url) if isinstance(url, str) else url
    text = str(exc.orig) if exc.orig is not None else str(exc)
    problem = _schema_problem(exc, text)
    if problem is None and isinstance(exc, sa.exc.OperationalError):
        backend = parsed.get_backend_name() if parsed is not None else ""
        problem = _sqlite_problem(text, parsed) if backend == "sqlite" else _postgres_problem(text, parsed)
    return DatabaseUnavailableError(problem) if problem else None


@contextmanager
def explained(url: str | sa.URL | None) -> Iterator[None]:
    """Re-raise a database error an operator can fix as its one-line explanation."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        problem = explain(exc, url)
        if problem is None:
            raise
        raise problem from exc
