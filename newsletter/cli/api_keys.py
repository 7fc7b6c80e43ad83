"""``newsletter api-keys``: create, list and revoke the keys of the content API."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.base import app, ctx
from newsletter.cli.output import JsonOption, emit_json
from newsletter.content.api_keys import Scope, create_key, list_keys, revoke_key
from newsletter.db.engine import session_scope
from newsletter.db.types import utcnow

keys_app = typer.Typer(
    no_args_is_help=True,
    help="Keys of the content API (/api/v1/).",
    epilog="Example: newsletter api-keys create cms-desk --scope content:write",
)
app.add_typer(keys_app, name="api-keys")


@keys_app.command("create", epilog="Example: newsletter api-keys create cms-desk --scope content:write")
def create(
    name: Annotated[str, typer.Argument(help="who uses the key, e.g. cms-desk")],
    scopes: Annotated[
        list[Scope],
        typer.Option("--scope", help="what it may do; repeat for several (content:write includes content:read)"),
    ],
) -> None:
    """Create a key; it is printed once, on the last line, and only its hash is kept."""
    with session_scope(ctx.engine) as session:
        key = create_key(session, name, scopes, now=utcnow())
    typer.echo(f"created API key {name!r} with scopes {', '.join(sorted(s.value for s in scopes))}")
    typer.echo("store it now: it is shown only this once (send it as 'Authorization: Bearer KEY')")
    typer.echo(key)


@keys_app.command("list", epilog="Example: newsletter api-keys list --json")
def list_command(json_output: JsonOption = False) -> None:
    """Every key: name, scopes, created, revoked (never the key)."""
    with session_scope(ctx.engine) as session:
        keys = list_keys(session)
    if json_output:
        emit_json(
            {
                "keys": [
                    {"name": k.name, "scopes": k.scopes, "created_at": k.created_at, "revoked_at": k.revoked_at}
                    for k in keys
                ]
            }
        )
        return
    if not keys:
        typer.echo("no API keys (create one with `newsletter api-keys create NAME --scope content:write`)")
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M} UTC" if key.revoked_at else "active"
        typer.echo(f"{key.name:<24} {','.join(key.scopes):<40} created {key.created_at:%Y-%m-%d %H:%M} UTC  {state}")


@keys_app.command("revoke", epilog="Example: newsletter api-keys revoke cms-desk")
def revoke(name: Annotated[str, typer.Argument(help="the key's name")]) -> None:
    """Revoke a key at once: its next request gets 401."""
    with session_scope(ctx.engine) as session:
        changed = revoke_key(session, name, now=utcnow())
    typer.echo(f"revoked API key {name!r}" if changed else f"API key {name!r} was revoked already")
