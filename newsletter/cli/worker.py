"""The task queue's side of the CLI: the ``worker`` command, and a send handed to the workers.

Celery is loaded only by these commands (and by ``send`` / ``resume`` when
NEWSLETTER_QUEUE_URL is set), never by the others.
"""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.base import EXIT_ERROR, EXIT_INCOMPLETE, app, ctx, first_line
from newsletter.cli.sending import answered_since, send_progress
from newsletter.db.models import EditionStatus
from newsletter.errors import NotFoundError
from newsletter.queue.jobs import ERROR, SendJob
from newsletter.send.overview import readers_left
from newsletter.send.service import EditionSendStatus, SendOutcome, edition_status, send_finished

NoWaitOption = Annotated[
    bool, typer.Option("--no-wait", help="with NEWSLETTER_QUEUE_URL set: queue the send for the workers and return")
]


@app.command(epilog="Example: newsletter worker --concurrency 4")
def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="sends this worker runs at once (each with NEWSLETTER_CONCURRENCY requests in flight)"
        ),
    ] = 2,
) -> None:
    """Run a task-queue worker (NEWSLETTER_QUEUE_URL) until SIGTERM or Ctrl-C: it sends the queued editions."""
    from newsletter.queue.celery_app import run_worker

    run_worker(ctx.engine, ctx.settings, concurrency=concurrency)


def send_queued(job: SendJob, *, wait: bool) -> int:
    """Queue an edition's send for the workers; with ``wait``, follow it until its tasks end. Returns the exit status.

    Progress is read from the ledger (the truth, whichever worker sends), and so is
    the end: the follow ends when the edition is sent too, though some task's result
    be missing (lost with the broker). The exit status is the in-process send's:
    0 complete, 1 error, 3 left sending.
    """
    from newsletter.queue.celery_app import enqueue_send, wait_for

    settings = ctx.settings
    where = f"{job.region_code} --date {job.local_date}"
    # Read before the tasks exist: a worker may start on them at once.
    total, seen = readers_left(ctx.engine, job.region_code, job.local_date), _edition_view(job)
    before = seen.counts if seen else {}
    task_ids = enqueue_send(settings, job, copies=settings.queue_tasks, keep_results=wait)
    typer.echo(f"queued edition {job.region_code} {job.local_date} for the workers ({len(task_ids)} tasks)")
    if not wait:
        typer.echo(f"  follow it with `newsletter status {where}`")
        return 0
    # The in-process send's display (bar on a terminal, else a line every few seconds), fed from the ledger.
    with send_progress(total) as progress:

        def tick() -> bool:
            """Draw the ledger's progress; True once the edition says its send is over (see send_finished)."""
            view = _edition_view(job)
            tally = answered_since(before, view.counts if view else {})
            if tally:  # nothing recorded yet: no line (nor a bar at zero) to draw
                progress(tally)
            sent = view is not None and view.status is EditionStatus.SENT
            return sent and send_finished(ctx.engine, job.region_code, job.local_date)

        finished = wait_for(settings, task_ids, follow=tick)
        tick()  # the bar ends where the ledger does
    # Every reason a task gave (refused, or ended by an exception) goes into the one error line.
    refused = sorted(
        {first_line(line).removeprefix("error: ") for r in finished.results if r.outcome == ERROR for line in r.lines}
    )
    problems = refused + sorted({f"a task ended with {first_line(error)}" for error in finished.errors})
    # A task whose result is missing (lost with the broker) may have sent: never "refused" then.
    if refused and not finished.missing and not any(r.outcome != ERROR for r in finished.results):
        # Refused before anything began (not approved, missed, empty…): nothing to report.
        _error_line(problems)
        return EXIT_ERROR
    view = edition_status(ctx.engine, job.region_code, job.local_date)
    typer.echo(f"edition {view.region_code} {view.local_date} (#{view.edition_id}): {view.status.value}")
    typer.echo("  ledger: " + ", ".join(f"{state.value} {count}" for state, count in view.counts.items()))
    failed = bool(finished.errors) or view.status is EditionStatus.FAILED
    failed = failed or any(r.outcome == SendOutcome.FAILED.value for r in finished.results)
    if view.status is EditionStatus.SENT:
        if view.note:
            typer.echo(f"  note: {view.note}")
        if problems:
            _error_line(problems)
        return EXIT_ERROR if failed else 0
    # Not complete: why, and what to run next, is the error line.
    steps = [] if failed else [f"`newsletter resume {where}` continues where the workers stopped"]
    if view.unresolved_total and not failed:
        steps.append(
            f"`newsletter status {where}` lists the {view.unresolved_total} recipients without a known "
            f"answer; after checking the provider, `newsletter release {where}`, then `newsletter resume {where}`"
        )
    why = view.note or f"the edition is {view.status.value}"
    head = f"edition {job.region_code} {job.local_date} not complete: {why}"
    _error_line([head, *problems, *(f"next: {step}" for step in steps)])
    return EXIT_ERROR if failed else EXIT_INCOMPLETE


def _error_line(parts: list[str]) -> None:
    """A queued send's failure, as every failure of the CLI: one line on stderr, its parts joined by "; "."""
    typer.secho("error: " + "; ".join(parts), err=True, fg=typer.colors.RED)


def _edition_view(job: SendJob) -> EditionSendStatus | None:
    """Where the edition's send stands, as `newsletter status` reads it; None before its first send created it."""
    try:
        return edition_status(ctx.engine, job.region_code, job.local_date)
    except NotFoundError:
        return None
