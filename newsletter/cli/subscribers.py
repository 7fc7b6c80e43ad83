"""The list manager's commands: `newsletter subscribers add|show|remove|import|export`."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from newsletter.addresses import InvalidAddress
from newsletter.cli.base import app, ctx
from newsletter.cli.import_progress import import_progress
from newsletter.cli.output import JsonOption, emit_json
from newsletter.db.engine import session_scope
from newsletter.db.models import SubscriberStatus
from newsletter.delivery.factory import make_backend
from newsletter.errors import DeliveryError, ListError
from newsletter.subscribers import manager
from newsletter.subscribers.exporting import COLUMNS, export_rows, write_csv
from newsletter.subscribers.import_file import BadRow
from newsletter.subscribers.importing import (
    ImportMode,
    ImportReporter,
    ImportSummary,
    confirmations_for_run,
    import_file,
)
from newsletter.subscribers.lifecycle import MailKind, SubscribeOutcome, SubscriptionRequestError

subscribers_app = typer.Typer(
    no_args_is_help=True,
    help="The subscriber list: add, show, remove, import, export.",
    epilog="Example: newsletter subscribers import list.csv --confirmed --dry-run",
)
app.add_typer(subscribers_app, name="subscribers")

EmailArgument = Annotated[str, typer.Argument(help="the subscriber's address")]


# `import`: some rows were bad but the good ones were imported (distinct from 1, nothing
# done, and from 2, click's usage error), so a script can tell "partly" from "not at all".
PARTIAL_EXIT = 3


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "-"


def _send_confirmation(outcome: SubscribeOutcome) -> None:
    # Imported here so the other commands never load the web stack (newsletter.web starts FastAPI).
    from newsletter.web.mail import send_subscription_mail

    send_subscription_mail(make_backend(ctx.settings), ctx.settings, outcome)


@subscribers_app.command("add")
def add(
    email: EmailArgument,
    region: Annotated[list[str], typer.Option("--region", help="region code; repeat for several")],
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="they opted in elsewhere: active now, no confirmation mail")
    ] = False,
) -> None:
    """Add one address (a confirmation mail asks them to confirm, unless --confirmed).

    Example: newsletter subscribers add ada@example.com --region dc --region lagos --confirmed
    """
    now = datetime.now(UTC)
    try:
        with session_scope(ctx.engine) as session:
            if confirmed:
                outcome = manager.add_confirmed(session, email, region, now=now)
                typer.echo(f"{email.strip().lower()}: {outcome.value}, active in {', '.join(region)}")
                return
            request = manager.add_pending(session, email, region, secret=ctx.settings.secret, now=now)
    except (InvalidAddress, SubscriptionRequestError) as exc:
        raise _fail(str(exc)) from None
    if request.kind is MailKind.ALREADY_ACTIVE:
        typer.echo(f"{request.email} is already active; --confirmed adds regions without a mail")
        return
    try:
        _send_confirmation(request)
    except DeliveryError as exc:
        raise _fail(f"{request.email} is pending but the confirmation mail failed: {exc}") from None
    typer.echo(f"{request.email}: pending, confirmation mail sent ({', '.join(request.region_names)})")


def _view_json(view: manager.SubscriberView | manager.ErasedView) -> dict[str, Any]:
    if isinstance(view, manager.ErasedView):
        return {"erased": True, "erased_at": view.erased_at.isoformat()}
    return {
        "email": view.email,
        "name": view.name,
        "status": view.status.value,
        "paused": view.paused,
        "regions": list(view.regions),
        "created_at": view.created_at.isoformat(),
        "confirmed_at": view.confirmed_at.isoformat() if view.confirmed_at else None,
        "unsubscribed_at": view.unsubscribed_at.isoformat() if view.unsubscribed_at else None,
        "history": [
            {
                "at": change.at.isoformat(),
                "old_status": change.old_status.value if change.old_status else None,
                "new_status": change.new_status.value,
                "cause": change.cause.value,
                "detail": change.detail,
            }
            for change in view.history
        ],
    }


@subscribers_app.command("show")
def show(email: EmailArgument, as_json: JsonOption = False) -> None:
    """A subscriber's status, regions and history of status changes with their causes.

    Example: newsletter subscribers show ada@example.com --json
    """
    try:
        with session_scope(ctx.engine) as session:
            view = manager.describe(session, email)
    except InvalidAddress as exc:
        raise _fail(str(exc)) from None
    if as_json:
        emit_json(_view_json(view))
        return
    if isinstance(view, manager.ErasedView):
        typer.echo(f"erased on request {_when(view.erased_at)}; only a hash is kept, so it is never mailed again")
        return
    typer.echo(f"email:    {view.email}")
    typer.echo(f"name:     {view.name or '-'}")
    typer.echo(f"status:   {view.status.value}{' (paused)' if view.paused else ''}")
    asked = " (asked for, switched on when confirmed)" if view.status is SubscriberStatus.PENDING else ""
    typer.echo(f"regions:  {', '.join(view.regions) or '-'}{asked}")
    typer.echo(f"created:  {_when(view.created_at)}")
    typer.echo("history:")
    for change in view.history:
        old = change.old_status.value if change.old_status else "(new)"
        typer.echo(
            f"  {_when(change.at)}  {old:>12} -> {change.new_status.value:<12} {change.cause.value:<8} {change.detail}"
        )


@subscribers_app.command("remove")
def remove(
    email: EmailArgument,
    erase: Annotated[
        bool, typer.Option("--erase", help="erasure request: delete personal data, keep only a hash to never mail it")
    ] = False,
) -> None:
    """Unsubscribe an address (kept as a suppression); --erase deletes its personal data.

    Example: newsletter subscribers remove ada@example.com --erase
    """
    now = datetime.now(UTC)
    try:
        with session_scope(ctx.engine) as session:
            if erase:
                existed = manager.erase(session, email, now=now)
                shown = email.strip().lower()
            else:
                shown, changed, status = manager.remove(session, email, now=now)
    except InvalidAddress as exc:
        raise _fail(str(exc)) from None
    if erase:
        held = "its personal data was deleted" if existed else "no subscriber had it"
        typer.echo(f"{shown}: erased ({held}); a hash is kept so it is never mailed or added again")
    elif changed:
        typer.echo(f"{shown}: unsubscribed; kept as a suppression")
    else:
        typer.echo(f"{shown}: already {status.value}; nothing changed")


@subscribers_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV with a header: email, regions (codes split by ;), name, status")],
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="you state every address opted in: imported active (recorded)")
    ] = False,
    send_confirmations: Annotated[
        bool, typer.Option("--send-confirmations", help="imported pending; each new address gets a confirmation mail")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="import nothing if any row is bad")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report what would happen; write nothing")] = False,
) -> None:
    """Import a CSV list; every bad row is reported with its line; a second import changes nothing.

    Addresses that unsubscribed, bounced, complained or were erased are never re-activated.
    Exit status: 0 every row good; 3 some rows bad, the good ones imported (with --dry-run:
    would be); 1 nothing imported (an unusable file, or --strict and a bad row).

    Example: newsletter subscribers import members.csv --confirmed --dry-run
    """
    if confirmed == send_confirmations:
        raise _fail("choose one of --confirmed (they opted in) or --send-confirmations (ask them)")
    mode = ImportMode.CONFIRMED if confirmed else ImportMode.SEND_CONFIRMATIONS
    now = datetime.now(UTC)

    def bad(row: BadRow) -> None:
        typer.echo(f"{file.name}:{row.line}: bad: {row.reason}")

    def skipped(line: int, reason: str) -> None:
        typer.echo(f"{file.name}:{line}: skipped: {reason}")

    try:
        with import_progress(file) as advance:
            reporter = ImportReporter(on_bad=bad, on_skipped=skipped, on_bytes=advance)
            summary = import_file(
                ctx.engine, file, mode=mode, strict=strict, dry_run=dry_run, now=now, reporter=reporter
            )
    except ListError as exc:
        raise _fail(str(exc)) from None
    if not summary.written:
        why = "dry run" if dry_run else "--strict and some rows are bad"
        typer.echo(f"{summary.line()} (nothing written: {why})")
    else:
        typer.echo(summary.line())
    if summary.written and mode is ImportMode.SEND_CONFIRMATIONS:
        _mail_confirmations(summary.run, now)
    if summary.bad:
        raise _bad_rows(summary, dry_run=dry_run)


def _bad_rows(summary: ImportSummary, *, dry_run: bool) -> typer.Exit:
    """The one line and exit status for an import that met bad rows."""
    good = summary.good
    if dry_run:
        return _fail(f"{summary.bad} bad rows (listed above); the {good} good rows would be imported", PARTIAL_EXIT)
    if not summary.written:
        return _fail(f"{summary.bad} bad rows (listed above); nothing was imported ({good} good rows, --strict)")
    return _fail(f"{summary.bad} bad rows (listed above); the {good} good rows were imported", PARTIAL_EXIT)


def _mail_confirmations(run: str, now: datetime) -> None:
    from newsletter.web.mail import send_subscription_mail  # see _send_confirmation

    backend = make_backend(ctx.settings)
    sent = failed = 0
    try:
        for outcome in confirmations_for_run(ctx.engine, run, secret=ctx.settings.secret, now=now):
            try:
                send_subscription_mail(backend, ctx.settings, outcome)
                sent += 1
            except DeliveryError as exc:
                failed += 1
                typer.echo(f"confirmation mail to {outcome.email} failed: {exc}", err=True)
    finally:
        backend.close()
    typer.echo(f"confirmation mails: {sent} sent, {failed} failed")
    if failed:
        raise _fail(f"{failed} confirmation mails failed; those addresses stay pending")


@subscribers_app.command("export")
def export(
    region: Annotated[str | None, typer.Option("--region", help="only subscribers of this region")] = None,
    status: Annotated[SubscriberStatus | None, typer.Option("--status", help="only this status")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to this file (default: stdout)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the export's metadata as JSON (needs -o)")] = False,
) -> None:
    """Export the list as CSV (email, name, status, regions), the format `import` reads.

    Example: newsletter subscribers export --region dc --status active -o dc.csv --json
    """
    if as_json and output is None:
        raise _fail("--json prints metadata beside the file: give -o FILE")
    with ctx.engine.connect() as connection:
        rows = export_rows(connection, region=region, status=status)
        count = write_csv(sys.stdout, rows) if output is None else _write_file(output, rows)
    if as_json:
        meta = {
            "file": str(output),
            "rows": count,
            "columns": list(COLUMNS),
            "region": region,
            "status": status.value if status else None,
            "exported_at": datetime.now(UTC).isoformat(),
        }
        emit_json(meta)
    elif output is not None:
        typer.echo(f"{count} subscribers written to {output}")


def _write_file(output: Path, rows: Iterator[tuple[str, str, str, str]]) -> int:
    """Write beside the target and rename: never a half-written file under its name."""
    directory = output.resolve().parent
    if not directory.is_dir():
        raise _fail(f"no such folder: {directory}")
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            count = write_csv(out, rows)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count
