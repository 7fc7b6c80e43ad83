"""What every command shares: the Typer app, the per-invocation context, the --date option."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import sqlalchemy as sa
import typer

from newsletter.config import Settings, load_settings
from newsletter.db.engine import make_engine, session_scope
from newsletter.editions.lifecycle import region_today

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Regional daily email editions.")


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


def edition_date(region: str, when: datetime | None) -> date:
    """The edition date an editor named, or today in the region."""
    if when:
        return when.date()
    with session_scope(ctx.engine) as session:
        return region_today(session, region)
