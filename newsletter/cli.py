"""The ``newsletter`` command: thin wrappers that parse, call one service, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from newsletter.config import Settings, load_settings
from newsletter.content import load_content_dir
from newsletter.db import make_engine, migrate, session_scope
from newsletter.errors import NewsletterError
from newsletter.summary import region_summaries

DEFAULT_SEEDS = Path("seeds")

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


@app.command()
def init() -> None:
    """Create or upgrade the database schema."""
    migrate(ctx.engine)
    typer.echo(f"database ready: {ctx.engine.url.render_as_string(hide_password=True)}")


@app.command()
def seed(path: Annotated[Path, typer.Argument(help="content folder")] = DEFAULT_SEEDS) -> None:
    """Validate and load a content folder (regions, stories, ads, subscribers)."""
    migrate(ctx.engine)
    with session_scope(ctx.engine) as session:
        report = load_content_dir(session, path)
    for line in report.lines():
        typer.echo(line)


@app.command()
def summary() -> None:
    """Print what is stored per region."""
    with session_scope(ctx.engine) as session:
        rows = region_summaries(session)
    typer.echo(f"{'region':<8} {'name':<16} {'zone':<18} {'send':>5} {'stories':>7} {'ads':>4} {'subscribers':>11}")
    for row in rows:
        typer.echo(
            f"{row.code:<8} {row.name:<16} {row.timezone:<18} {row.send_time:>5} "
            f"{row.published_stories:>7} {row.ads:>4} {row.active_subscribers:>11}"
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Run the subscriber web app (subscribe, preferences, unsubscribe, archive, webhook)."""
    # Imported here so the other commands never load the web stack.
    from newsletter.web.server import serve as serve_web

    serve_web(ctx.settings, host=host, port=port, engine=ctx.engine)


def main() -> None:
    """Console entry point: known errors become one line on stderr and exit status 1."""
    try:
        app()
    except NewsletterError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise SystemExit(1) from None
