"""Console entry point: registers every command module and turns known errors into one line."""

from __future__ import annotations

import sqlalchemy as sa
import typer

from newsletter.cli import (  # noqa: F401  (register their commands on the app)
    api_keys,
    editions,
    editor,
    report,
    subscribers,
    worker,
)
from newsletter.cli.base import app as app
from newsletter.cli.base import ctx
from newsletter.db import errors as db_errors
from newsletter.errors import NewsletterError


def main(argv: list[str] | None = None) -> None:
    """Console entry point: known errors become one line on stderr and exit status 1 (EXIT_ERROR).

    ``argv`` (default: the process's arguments) lets thin aliases such as scheduler.py
    run one command through the same error handling.
    """
    try:
        app(args=argv)
    except NewsletterError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise SystemExit(1) from None
    except sa.exc.SQLAlchemyError as exc:
        # A database that is down, missing or never initialised is setup, not a bug: say what to run.
        explained = db_errors.explain(exc, ctx._engine.url if ctx._engine is not None else None)
        if explained is None:
            raise
        typer.secho(f"error: {explained}", err=True, fg=typer.colors.RED)
        raise SystemExit(1) from None
