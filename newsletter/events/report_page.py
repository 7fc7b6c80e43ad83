"""An edition's report as one self-contained HTML page an editor can forward.

Inline CSS and inline SVG charts, no script, no external resource: the page looks the
same opened from a mail attachment, offline. Every value reaches the page through
Jinja2's autoescaping (story headlines are content, and content may hold markup).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from newsletter.events.report import TIMELINE_HOURS, EditionReport
from newsletter.render.share import NETWORKS

# The timeline chart's drawing area, in SVG user units.
CHART_WIDTH, CHART_HEIGHT, BAR_GAP = 576, 120, 2
NETWORK_LABELS = {"x": "X", "email": "Email", "whatsapp": "WhatsApp", "linkedin": "LinkedIn"}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    hour: int
    value: int


def hourly_bars(values: list[int]) -> list[Bar]:
    """One bar per hour, scaled to the busiest hour; empty hours get no bar."""
    peak = max(values, default=0) or 1
    step = CHART_WIDTH / TIMELINE_HOURS
    bars = []
    for hour, value in enumerate(values):
        if value:
            height = round(CHART_HEIGHT * value / peak, 2)
            bars.append(
                Bar(round(hour * step, 2), round(CHART_HEIGHT - height, 2), step - BAR_GAP, height, hour, value)
            )
    return bars


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("newsletter.events", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report_page(report: EditionReport) -> str:
    """The HTML page of one edition's report."""
    started = report.send_started_at
    template = _environment().get_template("report.html.j2")
    return template.render(
        r=report.document(),
        started=f"{started:%Y-%m-%d %H:%M} UTC" if started else None,
        networks=[(network.value, NETWORK_LABELS[network.value]) for network in NETWORKS],
        opens=hourly_bars(report.opens_by_hour),
        clicks=hourly_bars(report.clicks_by_hour),
        chart={"width": CHART_WIDTH, "height": CHART_HEIGHT, "hours": TIMELINE_HOURS},
    )
