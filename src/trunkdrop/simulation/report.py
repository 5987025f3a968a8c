"""One self-contained HTML report: KPI tables, route maps drawn as SVG from coordinates (no
tile server), deliveries over the day and failure reasons as SVG bar charts."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from trunkdrop.simulation.city import DEPOT, DISTRICTS

if TYPE_CHECKING:
    from trunkdrop.simulation.run import StrategyOutcome

COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]
BOUNDS = (48.05, 48.25, 11.36, 11.72)  # lat min/max, lon min/max of the drawing


def _xy(lat: float, lon: float, width: int, height: int) -> tuple[float, float]:
    lat0, lat1, lon0, lon1 = BOUNDS
    return ((lon - lon0) / (lon1 - lon0) * width, (lat1 - lat) / (lat1 - lat0) * height)


def route_map(outcome: StrategyOutcome, width: int = 420, height: int = 360) -> str:
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="routes of {html.escape(outcome.name)}"><rect width="100%" height="100%" fill="#f7f7f4"/>']  # fmt: skip
    for name, (lat, lon), _ in DISTRICTS:
        x, y = _xy(lat, lon, width, height)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="#bbb"><title>{html.escape(name)}</title></circle>'
        )
    for n, points in enumerate(outcome.routes):
        colour = COLOURS[n % len(COLOURS)]
        path = " ".join(
            f"{x:.1f},{y:.1f}" for x, y in (_xy(lat, lon, width, height) for lat, lon in points)
        )
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.2" stroke-opacity="0.8"/>'
        )
        for lat, lon in points[1:-1]:
            x, y = _xy(lat, lon, width, height)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.6" fill="{colour}"/>')
    dx, dy = _xy(*DEPOT, width, height)
    parts.append(
        f'<rect x="{dx - 4:.1f}" y="{dy - 4:.1f}" width="8" height="8" fill="#000"><title>depot</title></rect>'
    )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    title: str, series: dict[str, dict[str, int]], width: int = 860, height: int = 240
) -> str:
    """Grouped bars: categories on the x axis, one bar per strategy."""
    categories = sorted(
        {c for values in series.values() for c in values}, key=lambda c: (len(c), c)
    )
    if not categories:
        return f"<p>{html.escape(title)}: nothing to show.</p>"
    top = max(1, max(v for values in series.values() for v in values.values()))
    pad, group = 40, (width - 60) / len(categories)
    bar = group * 0.8 / max(1, len(series))
    parts = [f'<svg viewBox="0 0 {width} {height + 40}" width="{width}" height="{height + 40}" role="img" '
             f'aria-label="{html.escape(title)}">']  # fmt: skip
    for c, category in enumerate(categories):
        x0 = pad + c * group
        for s, (name, values) in enumerate(series.items()):
            value = values.get(category, 0)
            h = value / top * (height - 20)
            parts.append(
                f'<rect x="{x0 + s * bar:.1f}" y="{height - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[s % len(COLOURS)]}"><title>{html.escape(name)}: {value}</title></rect>'
            )
        parts.append(
            f'<text x="{x0 + group * 0.4:.1f}" y="{height + 14}" font-size="10" text-anchor="middle">{html.escape(category)}</text>'
        )
    parts.append(f'<text x="{pad}" y="12" font-size="11">max {top}</text></svg>')
    return "".join(parts)


def write_report(path: Path, *, customers: int, seed: int, outcomes: list[StrategyOutcome]) -> None:
    from trunkdrop.simulation.run import ROWS

    head = "".join(f"<th>{html.escape(o.name)}</th>" for o in outcomes)
    rows = []
    for label, key, fmt in ROWS:
        cells = "".join(
            f"<td>{'–' if o.kpis.get(key) is None else html.escape(fmt.format(o.kpis[key]))}</td>"
            for o in outcomes
        )
        rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    legend = " ".join(
        f'<span style="color:{COLOURS[i % len(COLOURS)]}">■</span> {html.escape(o.name)}'
        for i, o in enumerate(outcomes)
    )
    hourly = {o.name: {f"{h:02d}h": n for h, n in o.hourly.items()} for o in outcomes}
    reasons = {o.name: dict(o.kpis["failed_by_reason"]) for o in outcomes}
    maps = "".join(
        f"<figure><figcaption>{html.escape(o.name)}: {len(o.routes)} vans</figcaption>{route_map(o)}</figure>"
        for o in outcomes
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>trunkdrop — a day in Munich</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 0.25rem 0.75rem; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child {{ text-align: left; }} figure {{ display: inline-block; margin: 0 1rem 1rem 0; }}
</style></head><body>
<h1>A day of deliveries in Munich</h1>
<p>{customers} customers, seed {seed}. Every strategy delivers the same orders through the same platform
(services, state machine, database, vehicle adapter); only the clock is simulated.</p>
<h2>KPIs</h2>
<table><tr><th>KPI</th>{head}</tr>{"".join(rows)}</table>
<h2>Routes</h2><p>Depot ■ at the Frankfurter Ring; grey dots are district centres.</p>{maps}
<h2>Deliveries over the day</h2><p>{legend}</p>{bar_chart("deliveries by hour", hourly)}
<h2>Failed attempts by reason</h2><p>{legend}</p>{bar_chart("failed attempts by reason", reasons)}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
