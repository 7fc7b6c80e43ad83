"""The editor's and operator's commands: content, editions, sends, the scheduler, the web app."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from newsletter.addresses import InvalidAddress
from newsletter.cli.base import EXIT_ERROR, EXIT_INCOMPLETE, DateOption, app, ctx, edition_date
from newsletter.cli.output import JsonOption, emit_json
from newsletter.cli.sending import dry_run_document, dry_run_lines, send_progress
from newsletter.cli.status_output import failure_lines, status_document
from newsletter.cli.worker import NoWaitOption, send_queued
from newsletter.collector import spare_for_sending
from newsletter.content.loading import SAMPLES, load_content_dir
from newsletter.content.summary import RegionSummary, region_summaries
from newsletter.db.engine import migrate, session_scope
from newsletter.db.models import DeliveryState, EditionStatus
from newsletter.db.types import utcnow
from newsletter.editions.clip_guard import html_size
from newsletter.editions.lifecycle import (
    approve_edition,
    prepare_edition,
    set_edition_text,
    unapprove_edition,
)
from newsletter.errors import NotFoundError
from newsletter.queue.jobs import SendJob
from newsletter.schedule.daily import failed_runs, region_schedules, run_daily, seed_if_empty
from newsletter.schedule.rules import RegionSchedule, next_send
from newsletter.send.dry_run import plan_send
from newsletter.send.ledger import EventWait
from newsletter.send.overview import readers_left
from newsletter.send.proofs import SAMPLE_TOKEN, sample_copy, send_proof
from newsletter.send.service import (
    SendOutcome,
    SendReport,
    check_resumable,
    edition_status,
    held_claims,
    release_unresolved,
    send_edition,
)
from newsletter.send.stop_signals import stop_on_signals


@app.command(epilog="Example: newsletter init")
def init() -> None:
    """Create or upgrade the database schema."""
    migrate(ctx.engine)
    typer.echo(f"database ready: {ctx.engine.url.render_as_string(hide_password=True)}")


@app.command(epilog="Example: newsletter seed ./my-content")
def seed(
    path: Annotated[Path, typer.Argument(help="content folder (default: the shipped samples)")] = SAMPLES,
) -> None:
    """Validate and load a content folder (regions, stories, ads, subscribers)."""
    migrate(ctx.engine)
    with session_scope(ctx.engine) as session:
        report = load_content_dir(session, path)
    for line in report.lines():
        typer.echo(line)


@app.command(epilog="Example: newsletter summary --json")
def summary(json_output: JsonOption = False) -> None:
    """Print what is stored per region."""
    with session_scope(ctx.engine) as session:
        rows = region_summaries(session)
    if json_output:
        emit_json({"regions": [_summary_document(row) for row in rows]})
        return
    typer.echo(f"{'region':<8} {'name':<16} {'zone':<18} {'send':>5} {'stories':>7} {'ads':>4} {'subscribers':>11}")
    for row in rows:
        typer.echo(
            f"{row.code:<8} {row.name:<16} {row.timezone:<18} {row.send_time:>5} "
            f"{row.published_stories:>7} {row.ads:>4} {row.active_subscribers:>11}"
        )


def _summary_document(row: RegionSummary) -> dict[str, str | int]:
    return {
        "region": row.code,
        "name": row.name,
        "timezone": row.timezone,
        "send_time": row.send_time,
        "published_stories": row.published_stories,
        "ads": row.ads,
        "active_subscribers": row.active_subscribers,
    }


@app.command(epilog="Example: newsletter daily")
def daily() -> None:
    """The daily job once, now: seed if empty, then every region's edition for its local today."""
    migrate(ctx.engine)
    if seed_if_empty(ctx.engine, SAMPLES) is not None:  # a second run started with this one loads nothing
        typer.echo("empty database: loaded the sample content")
    runs = run_daily(ctx.engine, ctx.settings)
    for run in runs:
        head = f"{run.region:<8} {run.local_date}  {run.outcome.value:<7}"
        if run.report is None:
            typer.echo(f"{head} {run.detail}")
            continue
        handed_over = (DeliveryState.SENT, DeliveryState.QUEUED)
        new = sum(run.report.this_run[state] for state in handed_over)
        total = sum(run.report.counts[state] for state in handed_over)
        skipped = run.report.counts[DeliveryState.SUPPRESSED]
        where = ""
        if ctx.settings.backend.value == "outbox":
            where = f"  files: {ctx.settings.outbox_dir / (run.region + '-' + run.local_date.isoformat())}"
        typer.echo(
            f"{head} {new} new messages, {total} in all, {skipped} suppressed ({run.report.outcome.value}){where}"
        )
    # Every region was tried; the exit status says whether any of them failed (README, Commands).
    failed = failed_runs(runs)
    if failed:
        typer.echo(
            f"daily: {len(failed)} of {len(runs)} regions failed: "
            + ", ".join(f"{run.region} ({run.outcome.value})" for run in failed)
            + "; once the cause is fixed, `newsletter daily` again sends only what is missing",
            err=True,
        )
        raise typer.Exit(1)


@app.command("scheduler", epilog="Example: newsletter scheduler")
def scheduler_daemon() -> None:
    """Run the daily scheduler (the daemon) until SIGTERM or Ctrl-C; then finish the batch in flight."""
    # Imported here so the other commands never load APScheduler.
    from newsletter.schedule.runtime import run_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    migrate(ctx.engine)
    stop = threading.Event()
    # Every stop signal only sets the event: the daemon returns once the batch in flight is recorded.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run_scheduler(ctx.engine, ctx.settings, stop)


@app.command(epilog="Example: newsletter schedule --json")
def schedule(json_output: JsonOption = False) -> None:
    """Each region's next scheduled send, in local time and UTC."""
    now = datetime.now(UTC)
    schedules = region_schedules(ctx.engine)  # read before anything is printed: an error leaves stdout empty
    if json_output:
        emit_json({"regions": [_next_send_document(schedule_, now) for schedule_ in schedules]})
        return
    typer.echo(f"{'region':<8} {'zone':<18} {'next send (local)':<26} {'next send (UTC)'}")
    for schedule_ in schedules:
        instant = next_send(schedule_, now)
        local = instant.astimezone(schedule_.zone)
        typer.echo(
            f"{schedule_.code:<8} {schedule_.timezone:<18} {local:%Y-%m-%d %H:%M %Z (%z)}  {instant:%Y-%m-%d %H:%M} UTC"
        )


def _next_send_document(schedule_: RegionSchedule, now: datetime) -> dict[str, str]:
    instant = next_send(schedule_, now)
    return {
        "region": schedule_.code,
        "timezone": schedule_.timezone,
        "send_time": schedule_.send_time,
        "next_send_local": instant.astimezone(schedule_.zone).isoformat(),
        "next_send_utc": instant.isoformat(),
    }


@app.command(epilog="Example: newsletter serve --host 0.0.0.0 --port 8000")
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Run the subscriber web app (subscribe, preferences, unsubscribe, archive, webhook)."""
    # Imported here so the other commands never load the web stack.
    from newsletter.web.server import serve as serve_web

    serve_web(ctx.settings, host=host, port=port, engine=ctx.engine)


# -- editors: send, status, release, approve, proof ---------------------------------


@app.command(epilog="Example: newsletter send dc --date 2026-11-29 --dry-run")
def send(
    region: Annotated[str, typer.Argument(help="region code, e.g. dc")],
    when: DateOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    send_missed: Annotated[
        bool, typer.Option("--send-missed", help="send it even though the scheduler recorded it as missed (late)")
    ] = False,
    allow_large_html: Annotated[
        bool,
        typer.Option(
            "--allow-large-html", help="send even if the HTML is over NEWSLETTER_MAX_HTML_KB (Gmail clips it)"
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the recipients, batches and request sizes; send nothing")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="with --dry-run: the plan as one JSON document")] = False,
    no_wait: NoWaitOption = False,
) -> None:
    """Send (or resume) a region's edition with the configured backend; a finished one sends nothing."""
    if json_output and not dry_run:
        raise typer.BadParameter("--json goes with --dry-run (a send prints its progress)", param_hint="--json")
    local_date = edition_date(region, when)
    if dry_run:
        plan = plan_send(
            ctx.engine, ctx.settings, region, local_date, send_missed=send_missed, allow_large_html=allow_large_html
        )
        if json_output:
            emit_json(dry_run_document(plan))
            return
        for line in dry_run_lines(plan):
            typer.echo(line)
        return
    backend = ctx.settings.backend.value
    if not yes:
        question = f"Send the {region} edition of {local_date} through {backend}?"
        if send_missed and _is_missed(region, local_date):
            question = (
                f"The {region} edition of {local_date} was missed (not sent on schedule). "
                f"Send it now, late, through {backend}?"
            )
        typer.confirm(question, abort=True)
    _send_now(region, local_date, send_missed=send_missed, allow_large_html=allow_large_html, wait=not no_wait)


def _is_missed(region: str, local_date: date) -> bool:
    try:
        return edition_status(ctx.engine, region, local_date).status is EditionStatus.MISSED
    except NotFoundError:
        return False


@app.command(epilog="Example: newsletter resume dc --date 2026-11-29")
def resume(
    region: Annotated[str, typer.Argument(help="region code, e.g. dc")],
    when: DateOption = None,
    no_wait: NoWaitOption = False,
) -> None:
    """Continue an interrupted send (paused, stopped, crashed) where it left off; never resends."""
    local_date = edition_date(region, when)
    check_resumable(ctx.engine, region, local_date)
    _send_now(region, local_date, wait=not no_wait)


def _send_now(
    region: str, local_date: date, *, send_missed: bool = False, allow_large_html: bool = False, wait: bool = True
) -> None:
    if ctx.settings.queue_url.get_secret_value():  # the workers send; this process queues and follows
        job = SendJob(region, local_date, send_missed=send_missed, allow_large_html=allow_large_html)
        raise typer.Exit(send_queued(job, wait=wait))
    spare_for_sending()  # from here on this process only sends, as a queue worker does
    # SIGTERM and Ctrl-C stop the send (the batches in flight finish and are recorded); a second one aborts.
    with stop_on_signals() as stop, send_progress(readers_left(ctx.engine, region, local_date)) as progress:
        report = send_edition(
            ctx.engine,
            ctx.settings,
            region,
            local_date,
            progress=progress,
            should_stop=stop.is_set,
            send_missed=send_missed,
            allow_large_html=allow_large_html,
        )
    if report.edition_complete:
        for line in report.lines():
            typer.echo(line)
        return
    # Not complete: the summary is the output; why, and what to run next, is the error line.
    for line in report.summary_lines():
        typer.echo(line)
    typer.secho(incomplete_line(report), err=True, fg=typer.colors.RED)
    raise typer.Exit(EXIT_ERROR if report.outcome is SendOutcome.FAILED else EXIT_INCOMPLETE)


def incomplete_line(report: SendReport) -> str:
    """Why a send left its edition incomplete, and what the operator runs next, as one line."""
    why = report.message or f"the edition is {report.edition_status.value}"
    head = f"error: edition {report.region_code} {report.local_date} not complete ({report.outcome.value})"
    return "; ".join([f"{head}: {why}", *(f"next: {step}" for step in _next_steps(report))])


def _next_steps(report: SendReport) -> list[str]:
    """What the operator runs next when the edition is not complete."""
    if report.edition_complete:
        return []
    where = f"{report.region_code} --date {report.local_date}"
    if report.edition_status in (EditionStatus.DRAFT, EditionStatus.APPROVED, EditionStatus.MISSED):
        # Nothing went out (a refused key): no send to resume, one to start again once fixed.
        again = " --send-missed" if report.edition_status is EditionStatus.MISSED else ""
        return [f"once that is fixed, `newsletter send {where}{again}` starts it again"]
    steps = []
    if report.outcome is not SendOutcome.COMPLETED or not report.unresolved:
        steps.append(f"`newsletter resume {where}` continues where this run stopped")
    if report.unresolved:
        steps.append(
            f"`newsletter status {where}` lists the {report.unresolved} recipients without a known "
            "answer (another dispatcher may still be sending to them); after checking the provider, "
            f"`newsletter release {where}`, then `newsletter resume {where}`"
        )
    return steps


@app.command(epilog="Example: newsletter status dc --date 2026-11-29 --json")
def status(
    region: Annotated[str, typer.Argument(help="region code")], when: DateOption = None, json_output: JsonOption = False
) -> None:
    """An edition's send state, ledger counts, failures by reason, and recipients whose outcome is unknown."""
    wait = timedelta(minutes=ctx.settings.unresolved_event_wait_minutes)
    view = edition_status(ctx.engine, region, edition_date(region, when), event_wait=wait)
    if json_output:
        emit_json(status_document(view))
        return
    typer.echo(f"edition {view.region_code} {view.local_date} (#{view.edition_id}): {view.status.value}")
    if view.note:
        typer.echo(f"  note: {view.note}")
    typer.echo("  " + ", ".join(f"{state.value} {count}" for state, count in view.counts.items()))
    for line in failure_lines(view):
        typer.echo(line)
    for line in _event_wait_lines(view.events, ctx.settings.unresolved_event_wait_minutes):
        typer.echo(line)
    if view.unresolved_total:
        typer.echo(
            f"  {view.unresolved_total} without a known outcome (never resent on their own; "
            "check the provider, then `newsletter release`):"
        )
        for row in view.unresolved:
            typer.echo(
                f"    #{row.delivery_id} {row.email} {row.state.value} since {row.claimed_at:%Y-%m-%d %H:%M} UTC"
                + (f": {row.last_error}" if row.last_error else "")
            )
        if view.unresolved_total > len(view.unresolved):
            typer.echo(f"    ... and {view.unresolved_total - len(view.unresolved)} more")


def _event_wait_lines(events: EventWait, minutes: int) -> list[str]:
    """The unresolved rows split by provider events, and those the events resolved."""
    lines = []
    if events.resolved:
        lines.append(
            f"  accepted by the provider: {events.resolved} resolved to queued by its events "
            "(they were unknown or claimed; never resent)"
        )
    if events.accepted or events.waiting or events.without_events:
        lines.append(
            f"  unresolved: {events.accepted} named by a provider event, "
            f"{events.waiting} waiting for an event (less than {minutes} minutes), "
            f"{events.without_events} with no event after {minutes} minutes "
            "(`newsletter release --without-events` frees only these)"
        )
    return lines


@app.command(epilog="Example: newsletter release dc --date 2026-11-29 --older-than 30")
def release(
    region: Annotated[str, typer.Argument(help="region code")],
    when: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="the edition's local date")],
    older_than: Annotated[int, typer.Option(help="only claims untouched for this many minutes")] = 15,
    without_events: Annotated[
        bool,
        typer.Option(
            "--without-events",
            help="only rows with no provider event after NEWSLETTER_UNRESOLVED_EVENT_WAIT_MINUTES",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Let unknown-outcome recipients be sent again by the next `send` (they may get a second copy).

    Rows with a provider event are never released: the provider has their message.
    Example: newsletter release dc --date 2026-11-29 --without-events
    """
    local_date = when.date()
    wait_minutes = ctx.settings.unresolved_event_wait_minutes
    if not yes:
        which = f"with no provider event after {wait_minutes} minutes " if without_events else ""
        typer.confirm(
            f"Release the unknown deliveries {which}of {region} {local_date}? Anyone the provider did get will "
            "receive a second copy.",
            abort=True,
        )
    now, age = utcnow(), timedelta(minutes=older_than)
    wait = timedelta(minutes=wait_minutes) if without_events else None
    released = release_unresolved(ctx.engine, region, local_date, older_than=age, now=now, without_events_after=wait)
    typer.echo(
        f"released {released} deliveries"
        + (f"; run `newsletter send {region} --date {local_date}` to send them" if released else "")
    )
    held = held_claims(ctx.engine, region, local_date, older_than=age, now=now)
    if held is not None:
        # Right after a crash every claim is this young: say why they stay, and until when.
        first, last = (f"{t:%Y-%m-%d %H:%M:%S} UTC" for t in (held.first_releasable_at, held.all_releasable_at))
        typer.echo(
            f"kept: {held.count} claims were touched less than {older_than} minutes ago, so a dispatcher may still be "
            "waiting for their answer (or one stopped just now, e.g. a crash). They become releasable "
            + (f"at {last}" if first == last else f"from {first}, all of them at {last}")
            + "; run `newsletter release` again then, or pass a smaller --older-than once no dispatcher is running."
        )


@app.command(epilog="Example: newsletter approve dc --subject 'Metro runs late on weekends'")
def approve(
    region: Annotated[str, typer.Argument(help="region code, e.g. dc")],
    when: DateOption = None,
    subject: Annotated[str | None, typer.Option(help='replace the derived subject ("" restores it)')] = None,
    preheader: Annotated[str | None, typer.Option(help='replace the derived preheader ("" restores it)')] = None,
) -> None:
    """Sign an edition off: it is frozen as it stands and sent exactly so."""
    local_date = edition_date(region, when)
    with session_scope(ctx.engine) as session:
        if subject is not None or preheader is not None:
            set_edition_text(session, ctx.settings, region, local_date, subject=subject, preheader=preheader)
        rendered = approve_edition(session, ctx.settings, region, local_date)
    typer.echo(f"approved and frozen: {rendered.region_code} {rendered.local_date}")
    typer.echo(f"  subject:   {rendered.subject}")
    typer.echo(f"  preheader: {rendered.preheader}")


@app.command(epilog="Example: newsletter unapprove dc --date 2026-11-29")
def unapprove(region: Annotated[str, typer.Argument(help="region code, e.g. dc")], when: DateOption = None) -> None:
    """Take an approval back: the edition is a draft again, re-assembled at the next preview or send."""
    local_date = edition_date(region, when)
    with session_scope(ctx.engine) as session:
        before = unapprove_edition(session, region, local_date)
    if before is EditionStatus.DRAFT:
        typer.echo(f"{region} {local_date} is a draft already (not approved); nothing to undo")
    else:
        typer.echo(f"un-approved: {region} {local_date} is a draft again; the next preview or send re-assembles it")


@app.command(epilog="Example: newsletter proof dc --to desk@example.com --to night@example.com")
def proof(
    region: Annotated[str, typer.Argument(help="region code, e.g. dc")],
    to: Annotated[list[str], typer.Option("--to", help="an editor's address; repeat for several")],
    when: DateOption = None,
) -> None:
    """Send a proof copy of an edition to editors (not to subscribers; nothing is recorded)."""
    local_date = edition_date(region, when)
    try:
        results = send_proof(ctx.engine, ctx.settings, region, local_date, to)
    except InvalidAddress as exc:
        raise typer.BadParameter(str(exc), param_hint="--to") from None
    for result in results:
        typer.echo(
            f"proof {region} {local_date} -> {result.recipient.email}: {result.outcome.value}"
            + (f" ({result.error})" if result.error else "")
        )


@app.command(epilog="Example: newsletter preview dc --out var/dc.html")
def preview(
    region: Annotated[str, typer.Argument(help="region code, e.g. dc")],
    when: Annotated[
        datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="local date (default: today in the region)"),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="HTML file; the text part goes beside it as .txt")] = None,
) -> None:
    """Assemble and render a region's edition; write its HTML and text for a person to open."""
    local_date = edition_date(region, when)
    with session_scope(ctx.engine) as session:
        rendered = prepare_edition(session, ctx.settings, region, local_date)
    html_path = out or Path("var/preview") / f"{rendered.campaign}.html"
    text_path = html_path.with_suffix(".txt")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    # Opened in a browser, links holding the raw placeholder are dead: fill a sample token.
    html, text = sample_copy(rendered)
    html_path.write_text(html, encoding="utf-8")
    text_path.write_text(text, encoding="utf-8")
    typer.echo(f"{rendered.region_code} {rendered.local_date}: {rendered.subject}")
    size = html_size(rendered, ctx.settings.max_html_kb)
    if size.over:  # preview only warns; send, approve and the scheduler refuse
        typer.secho(
            f"warning: {size.describe()}; send, approve and the scheduler will refuse it",
            err=True,
            fg=typer.colors.YELLOW,
        )
    typer.echo(f"html: {html_path}")
    typer.echo(f"text: {text_path}")
    typer.echo(f"personal links (preferences, unsubscribe) are samples: token {SAMPLE_TOKEN!r}, the invalid-link page")


@app.command("revoke-links", epilog="Example: newsletter revoke-links reader@example.com")
def revoke_links(email: Annotated[str, typer.Argument(help="the subscriber's address")]) -> None:
    """Make every link already sent to this subscriber stop working (e.g. a forwarded mail).

    Their next email carries new links; they can also subscribe again.
    """
    from newsletter.subscribers.lifecycle import revoke_links_for_address

    try:
        with session_scope(ctx.engine) as session:
            subscriber = revoke_links_for_address(session, email, now=datetime.now(UTC))
            found = subscriber.email if subscriber is not None else None
    except InvalidAddress as exc:
        raise typer.BadParameter(str(exc), param_hint="EMAIL") from None
    if found is None:
        typer.secho(f"error: no subscriber has the address {email.strip()}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    typer.echo(f"revoked every link sent to {found} so far")
