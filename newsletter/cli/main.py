"""Console entry point: registers every command module and turns every error into one line.

Usage errors (an unknown option, a missing argument, a bad value) are Click's: exit
status 2 and, instead of Typer's boxed panel, one line on stderr naming the command
and where its help is. Known errors of ours exit 1 with one line too (EXIT_ERROR), and
so does any other exception, instead of Typer's boxed traceback: the line names it and
says how to see the traceback (NEWSLETTER_TRACEBACK=1).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pydantic
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
from newsletter.cli.base import ctx, first_line
from newsletter.db import errors as db_errors
from newsletter.errors import NewsletterError

PROG_NAME = "newsletter"
TRACEBACK_VARIABLE = "NEWSLETTER_TRACEBACK"  # set (not 0): an unexpected error shows its traceback


def usage_line(exc: typer.TyperException) -> str:
    """A CLI error as one line: ``newsletter send: no such option: --frobnicate (see newsletter send --help)``."""
    if isinstance(exc, typer.BadParameter) and isinstance(exc.__cause__, pydantic.ValidationError):
        # Typer checks values with pydantic, which starts the message of a ValueError so.
        exc.message = exc.message.removeprefix("Value error, ")
    context = getattr(exc, "ctx", None)  # usage errors carry the command's context
    command = context.command_path if context is not None else PROG_NAME
    reason = " ".join(exc.format_message().split())
    reason = (reason[:1].lower() + reason[1:]).removesuffix(".")
    return f"{command}: {reason} (see {command} --help)" if context is not None else f"{command}: {reason}"


def _is_help(exc: typer.TyperException) -> bool:
    """A group named without a command (``no_args_is_help``): its help, raised as a usage error.

    Typer does not export the class; it tells it by name too (rich_utils). With rich, the
    help is printed as the error is made, and its message is empty.
    """
    return type(exc).__name__ == "NoArgsIsHelpError"


def unexpected_line(exc: BaseException) -> str:
    """An error nobody foresaw as one line: its type, its message's first line, and the way to its traceback."""
    first = first_line(str(exc))
    named = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return f"error: unexpected {named} ({TRACEBACK_VARIABLE}=1 shows the traceback)"


def _exit_with(line: str, status: int) -> NoReturn:
    typer.secho(line, err=True, fg=typer.colors.RED)
    raise SystemExit(status) from None


def _exit_unexpected(exc: Exception) -> NoReturn:
    """An error nobody foresaw: its one line and exit 1, or itself with its traceback on request."""
    if os.environ.get(TRACEBACK_VARIABLE, "") not in ("", "0"):
        raise exc
    _exit_with(unexpected_line(exc), 1)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every error becomes one line on stderr with a non-zero exit status.

    ``argv`` (default: the process's arguments) lets thin aliases such as scheduler.py
    run one command through the same error handling. Click runs outside its
    standalone mode, so its usage errors reach us here instead of Typer's panel.
    """
    try:
        status = app(args=argv, prog_name=PROG_NAME, standalone_mode=False)
    except typer.TyperException as exc:  # Click's errors: usage (2), a file it could not open (1)
        if _is_help(exc):
            if exc.format_message():
                typer.echo(exc.format_message(), err=True)
            raise SystemExit(exc.exit_code) from None
        _exit_with(usage_line(exc), exc.exit_code)
    except typer.Abort:  # a confirmation answered no, or Ctrl-D at a prompt
        _exit_with(f"{PROG_NAME}: aborted, nothing was done", 1)
    except NewsletterError as exc:
        _exit_with(f"error: {exc}", 1)
    except sa.exc.SQLAlchemyError as exc:
        # A database that is down, missing or never initialised is setup, not a bug: say what to run.
        explained = db_errors.explain(exc, ctx._engine.url if ctx._engine is not None else None)
        if explained is None:
            _exit_unexpected(exc)
        _exit_with(f"error: {explained}", 1)
    except Exception as exc:  # a bug, or a failure nobody foresaw: one line, the traceback on request
        _exit_unexpected(exc)
    # Outside standalone mode a command's typer.Exit (and --help's) comes back as its status.
    if isinstance(status, int) and status:
        raise SystemExit(status)
