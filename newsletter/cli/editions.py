"""``newsletter editions list|show``: the stored editions, their figures and their sends (read only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from newsletter.cli.base import DateOption, app, ctx, edition_date, since_date
from newsletter.cli.output import JsonOption, emit_json
from newsletter.db.models import DeliveryState, EditionStatus
from newsletter.send.overview import EditionDetail, EditionRow, edition_detail, list_editions

editions_app = typer.Typer(
    no_args_is_help=True,
    help="The stored editions: status, subject, stories, size, approval and ledger counts.",
    epilog="Example: newsletter editions list --region dc --since 7d",
)
app.add_typer(editions_app, name="editions")


@editions_app.command("list", epilog="Example: newsletter editions list --status sent --since 2026-11-01 --json")
def list_command(
    region: Annotated[str | None, typer.Option(help="only this region's editions, e.g. dc")] = None,
    status: Annotated[EditionStatus | None, typer.Option(help="only editions in this status")] = None,
    since: Annotated[str | None, typer.Option(help="from this local date (2026-11-29) or days back (7d)")] = None,
    json_output: JsonOption = False,
) -> None:
    """Stored editions, newest first: status, subject, stories, HTML size, approval, ledger counts."""
    first = since_date(since, today=datetime.now(UTC).date()) if since is not None else None
    rows = list_editions(ctx.engine, region=region, status=status, since=first)
    if json_output:
        emit_json({"editions": [_row_document(row) for row in rows]})
        return
    if not rows:
        typer.echo("no editions stored" + (" matching these filters" if region or status or since else ""))
        return
    typer.echo(
        f"{'region':<8} {'date':<10} {'status':<9} {'stories':>7} {'KB':>6} {'approved':<20} "
        f"{'handed over':>11} {'failed':>6} {'unknown':>7}  subject"
    )
    for row in rows:
        unknown = row.counts[DeliveryState.UNKNOWN] + row.counts[DeliveryState.CLAIMED]
        typer.echo(
            f"{row.region:<8} {row.local_date.isoformat():<10} {row.status.value:<9} {row.stories:>7} "
            f"{_kb_text(row.size_kb):>6} {_when(row.approved_at):<20} {row.handed_over:>11} "
            f"{row.counts[DeliveryState.FAILED]:>6} {unknown:>7}  {row.subject}"
        )


@editions_app.command("show", epilog="Example: newsletter editions show dc --date 2026-11-29 --json")
def show_command(
    region: Annotated[str, typer.Argument(help="region code, e.g. dc")],
    when: DateOption = None,
    json_output: JsonOption = False,
) -> None:
    """One edition in full: texts, stories, size, approval, the send's timeline and its ledger counts."""
    detail = edition_detail(ctx.engine, region, edition_date(region, when))
    if json_output:
        emit_json(_detail_document(detail))
        return
    for line in _detail_lines(detail):
        typer.echo(line)


def _row_document(row: EditionRow) -> dict[str, Any]:
    return {
        "region": row.region,
        "local_date": row.local_date,
        "status": row.status,
        "subject": row.subject,
        "stories": row.stories,
        "size_kb": row.size_kb,
        "approved_at": row.approved_at,
        "sent_at": row.sent_at,
        "ledger": row.counts,
    }


def _detail_document(detail: EditionDetail) -> dict[str, Any]:
    return {
        "edition_id": detail.edition_id,
        **_row_document(detail.row),
        "preheader": detail.preheader,
        "subject_overridden": detail.subject_overridden,
        "preheader_overridden": detail.preheader_overridden,
        "story_headlines": detail.story_headlines,
        "ad_sponsors": detail.ad_sponsors,
        "created_at": detail.created_at,
        "assembled_at": detail.assembled_at,
        "send_started_at": detail.send_started_at,
        "note": detail.note,
    }


def _detail_lines(detail: EditionDetail) -> list[str]:
    row = detail.row
    override = "  (editor's override)"
    lines = [
        f"edition {row.region} {row.local_date} (#{detail.edition_id}): {row.status.value}",
        f"  subject:   {row.subject}" + (override if detail.subject_overridden else ""),
        f"  preheader: {detail.preheader}" + (override if detail.preheader_overridden else ""),
        f"  stories:   {row.stories}",
        *(f"    {n}. {headline}" for n, headline in enumerate(detail.story_headlines, 1)),
        f"  ads:       {', '.join(detail.ad_sponsors) or 'none'}",
        "  size:      " + ("not rendered yet" if row.size_kb is None else f"{row.size_kb:.1f} KB of HTML"),
        f"  approved:  {_when(row.approved_at, never='not approved')}",
        f"  created {_when(detail.created_at)}, assembled {_when(detail.assembled_at)}, "
        f"send started {_when(detail.send_started_at)}, sent {_when(row.sent_at)}",
        "  ledger:    " + ", ".join(f"{state.value} {count}" for state, count in row.counts.items()),
    ]
    if detail.note:
        lines.append(f"  note:      {detail.note}")
    return lines


def _kb_text(size_kb: float | None) -> str:
    return "-" if size_kb is None else f"{size_kb:.1f}"


def _when(moment: datetime | None, *, never: str = "-") -> str:
    return never if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
