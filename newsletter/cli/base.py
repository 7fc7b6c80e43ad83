"""What every command shares: the Typer app, the per-invocation context, the --date and --since values."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
import typer

from newsletter.config import Settings, load_settings
from newsletter.db.engine import make_engine, session_scope
from newsletter.editions.lifecycle import region_today

# Exit status of `send` and `resume` (README, Commands): 0 only when the edition is complete.
EXIT_ERROR = 1  # refused credentials (edition failed), or any other error
EXIT_INCOMPLETE = 3  # the edition is left `sending`: stopped, paused, unknown outcomes (2 is a usage error)

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Regional daily email editions.",
    epilog="Example: newsletter preview dc, then newsletter approve dc and newsletter send dc",
)


class Context:
    """Settings and engine, built once per invocation."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._engine: sa.Engine | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        return self._engine


ctx = Context()


DateOption = Annotated[
    datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="local date (default: today in the region)")
]


def first_line(text: str) -> str:
    """A message as it fits a one-line error: its first non-blank line (a database error's SQL stays out)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def edition_date(region: str, when: datetime | None) -> date:
    """The edition date an editor named, or today in the region."""
    if when:
        return when.date()
    with session_scope(ctx.engine) as session:
        return region_today(session, region)


def since_date(text: str, *, today: date) -> date:
    """``--since``: a date (2026-11-29) or a number of days back from ``today`` (7d)."""
    value = text.strip().lower()
    if value.endswith("d") and value[:-1].isdigit():
        return today - timedelta(days=int(value[:-1]))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither a date (2026-11-29) nor a number of days (7d)") from None
