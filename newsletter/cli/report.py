"""`newsletter report`: what happened after an edition went out, for people, scripts and forwarding."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.base import DateOption, app, ctx, edition_date, since_date
from newsletter.cli.output import JsonOption, emit_json
from newsletter.errors import NotFoundError
from newsletter.events.figures import Figures
from newsletter.events.report import (
    EditionReport,
    RegionPeriod,
    Tracking,
    edition_report,
    known_region,
    period_report,
)
from newsletter.events.report_page import NETWORK_LABELS, render_report_page


@app.command(epilog="Example: newsletter report dc --date 2026-11-29 --html dc.html; newsletter report --since 7d")
def report(
    region: Annotated[str | None, typer.Argument(help="region code, e.g. dc (optional with --since)")] = None,
    when: DateOption = None,
    since: Annotated[
        str | None, typer.Option("--since", help="editions of this local date (2026-11-29) or days back (7d) on")
    ] = None,
    json_output: JsonOption = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="also write the report as a self-contained HTML page")
    ] = None,
) -> None:
    """An edition's delivery, bounces, unsubscribes, opens and clicks (per story and share network).

    With --since: the same figures summed per region over the editions sent from that date.
    """
    tracking = Tracking(opens=ctx.settings.track_opens, clicks=ctx.settings.track_clicks)
    if since is not None:
        if when is not None or html is not None:
            raise typer.BadParameter("--date and --html describe one edition; leave them out with --since")
        if region is not None and not known_region(ctx.engine, region):
            raise NotFoundError(f"no region {region!r}")
        start = since_date(since, today=datetime.now(UTC).date())
        rows = period_report(ctx.engine, since=start, tracking=tracking, region_code=region)
        if json_output:
            emit_json({"since": start, "regions": [row.document() for row in rows]})
        else:
            _print_period(rows, start.isoformat())
        return
    if region is None:
        raise typer.BadParameter("name a REGION (and --date), or give --since, e.g. --since 7d", param_hint="REGION")
    found = edition_report(ctx.engine, region, edition_date(region, when), tracking=tracking)
    if html is not None:
        _write_page(html, render_report_page(found))
    if json_output:
        emit_json(found.document())
    else:
        _print_edition(found)
        if html is not None:
            typer.echo(f"html: {html}")


def _write_page(path: Path, page: str) -> None:
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        typer.secho(f"error: cannot write {path}: {exc.strerror or exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f} %"


def _figure_lines(f: Figures) -> list[str]:
    u = f.unsubscribes
    return [
        f"  handed over {f.handed_over}, delivered {f.delivered}, deferred {f.deferred}, "
        f"bounced {f.bounced_hard} hard / {f.bounced_soft} soft, dropped {f.dropped}, spam reports {f.spam_reports}",
        f"  unsubscribes: one-click {u['one_click']}, our pages {u['preference_page']}, provider {u['provider']}",
        f"  unique opens {f.unique_opens} ({_pct(f.open_rate)} of delivered; {f.machine_opens} machine opens), "
        f"unique clicks {f.unique_clicks} ({_pct(f.click_rate)})",
    ]


def _print_edition(r: EditionReport) -> None:
    typer.echo(f"report {r.region_code} {r.local_date} (#{r.edition_id}): {r.status.value}  {r.subject}")
    for line in _figure_lines(r.figures):
        typer.echo(line)
    networks = list(r.share_networks)
    typer.echo(f"  {'clicks per story':<48} {'reads':>5}" + "".join(f" {NETWORK_LABELS[n]:>8}" for n in networks))
    for story in r.stories:
        headline = story.headline if len(story.headline) <= 46 else story.headline[:45] + "…"
        typer.echo(f"    {headline:<46} {story.clicks:>5}" + "".join(f" {story.shares[n]:>8}" for n in networks))
    typer.echo(
        "  share networks: "
        + ", ".join(f"{NETWORK_LABELS[n]} {count}" for n, count in r.share_networks.items())
        + f"; other links {r.other_clicks}"
    )
    for name, hours in (("opens", r.opens_by_hour), ("clicks", r.clicks_by_hour)):
        busy = " ".join(f"{hour}h:{count}" for hour, count in enumerate(hours) if count)
        typer.echo(f"  {name} by hour since the send (first 48 h): {busy or 'none'}")
    for note in r.notes:
        typer.echo(f"  note: {note}")


def _print_period(rows: list[RegionPeriod], since: str) -> None:
    typer.echo(f"editions sent, local dates from {since}, per region")
    header = ("region", "editions", "handed", "deliv.", "bounced", "dropped", "spam", "unsub", "opens", "clicks")
    typer.echo(f"{header[0]:<8}" + "".join(f" {name:>9}" for name in header[1:]) + f" {'open %':>7} {'click %':>7}")
    for row in rows:
        f = row.figures
        values = (
            len(row.editions),
            f.handed_over,
            f.delivered,
            f.bounced_hard + f.bounced_soft,
            f.dropped,
            f.spam_reports,
            sum(f.unsubscribes.values()),
            f.unique_opens,
            f.unique_clicks,
        )
        rates = f" {_pct(f.open_rate):>7} {_pct(f.click_rate):>7}"
        typer.echo(f"{row.region_code:<8}" + "".join(f" {value:>9}" for value in values) + rates)
