"""One self-contained HTML report a carrier's manager can act on: headline cards against door
delivery, charts (Vega-Lite specs written with Altair, drawn by the Vega builds vendored in
the package: no network needed to open it), route maps side by side with a legend and a
scale, a table per van, the KPIs as CSV, and the run's parameters."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import altair as alt

from trunkdrop.simulation.city import DEPOT

if TYPE_CHECKING:
    from trunkdrop.simulation.run import StrategyOutcome

BASELINE = "home"
# Headline KPIs: key, label, format, whether lower is better.
HEADLINES = (
    ("first_attempt_success", "first-attempt success", "{:.1%}", False),
    ("cost_per_parcel", "cost per parcel", "{:.2f} EUR", True),
    ("km_per_parcel", "km per parcel", "{:.2f}", True),
    ("co2_kg_per_parcel", "CO2 per parcel", "{:.3f} kg", True),
    ("van_hours_per_parcel", "van hours per parcel", "{:.3f}", True),
)
SCALE_KM = 5
# The product's targets (issue 17): a first attempt that succeeds at least this often, and a
# cost per delivered parcel no higher than door delivery's.
FIRST_ATTEMPT_TARGET = 0.99


def _data(rows: list[dict[str, Any]]) -> Any:
    """Inline rows for a chart (Altair's Data is untyped)."""
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def _vendored(name: str) -> str:
    return (resources.files("trunkdrop.simulation") / "vendor" / name).read_text("utf-8")


def _delta(key: str, value: float, base: float, lower_better: bool) -> tuple[str, str]:
    """The change against the baseline as text, and whether it is good, bad or even."""
    if key == "first_attempt_success":
        change = (value - base) * 100
        text = f"{change:+.1f} pp"
    else:
        change = (value - base) / base * 100 if base else 0.0
        text = f"{change:+.1f} %"
    if abs(change) < 0.05:
        return text, "even"
    better = change < 0 if lower_better else change > 0
    return text, "good" if better else "bad"


def target_verdicts(outcomes: list[StrategyOutcome]) -> list[str]:
    """One sentence per strategy saying in words which target it meets or misses:
    first-attempt success of at least 99 %, and a cost per parcel no higher than the door's."""
    base = next((o for o in outcomes if o.name == BASELINE), None)
    door_cost = None if base is None else base.kpis.get("cost_per_parcel")
    sentences = []
    for outcome in outcomes:
        success = outcome.kpis.get("first_attempt_success")
        cost = outcome.kpis.get("cost_per_parcel")
        met: list[str] = []
        missed: list[str] = []
        if success is not None:
            said = f"first-attempt success {success:.1%} (target ≥ {FIRST_ATTEMPT_TARGET:.0%})"
            (met if success >= FIRST_ATTEMPT_TARGET else missed).append(said)
        if cost is not None and door_cost is not None and outcome is not base:
            said = f"cost per parcel {cost:.2f} EUR (target ≤ door's {door_cost:.2f} EUR)"
            (met if cost <= door_cost else missed).append(said)
        if missed:
            text = f"{outcome.name} misses " + " and ".join(missed)
            text += f"; it meets {' and '.join(met)}." if met else "."
        elif met:
            text = f"{outcome.name} meets both targets: {' and '.join(met)}."
        else:
            text = f"{outcome.name}: no figures to judge."
        sentences.append(text)
    return sentences


def headline_cards(outcomes: list[StrategyOutcome]) -> str:
    """One card per strategy: each headline KPI and its change against door delivery."""
    base = next((o for o in outcomes if o.name == BASELINE), None)
    cards = []
    for outcome in outcomes:
        rows = []
        for key, label, fmt, lower_better in HEADLINES:
            value = outcome.kpis.get(key)
            shown = "–" if value is None else fmt.format(value)
            change = ""
            if base is not None and outcome is not base and value is not None:
                reference = base.kpis.get(key)
                if reference is not None:
                    text, verdict = _delta(key, value, reference, lower_better)
                    change = f'<span class="{verdict}">{html.escape(text)}</span>'
            rows.append(f"<tr><th>{label}</th><td>{html.escape(shown)}</td><td>{change}</td></tr>")
        caption = "baseline" if outcome is base else f"against {BASELINE}"
        cards.append(
            f'<div class="card"><h3>{html.escape(outcome.name)}</h3><p class="muted">{caption}</p>'
            f"<table>{''.join(rows)}</table></div>"
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def kpi_chart(outcomes: list[StrategyOutcome]) -> alt.HConcatChart:
    """Bars with their values: cost per parcel, first-attempt success, van hours per parcel."""
    rows = [
        {"strategy": o.name, "kpi": label, "value": o.kpis.get(key)}
        for o in outcomes
        for key, label, _, _ in HEADLINES
        if o.kpis.get(key) is not None
    ]
    data = _data(rows)
    charts = []
    for _, label, _, _ in HEADLINES:
        base = alt.Chart(data, title=label).transform_filter(alt.datum.kpi == label)
        bars = base.mark_bar().encode(
            x=alt.X("strategy:N", title=None, sort=[o.name for o in outcomes]),
            y=alt.Y("value:Q", title=label),
            color=alt.Color("strategy:N", legend=None),
            tooltip=["strategy:N", alt.Tooltip("value:Q", format=".3f")],
        )
        text = base.mark_text(dy=-6).encode(
            x=alt.X("strategy:N", sort=[o.name for o in outcomes]),
            y="value:Q",
            text=alt.Text("value:Q", format=".3~f"),
        )
        charts.append((bars + text).properties(width=150, height=180))
    return alt.hconcat(*charts)


def grouped_chart(title: str, series: dict[str, dict[str, int]], x_title: str) -> alt.Chart:
    """Grouped bars with axes and values: one bar per strategy and category."""
    rows = [
        {"strategy": name, "category": category, "count": count}
        for name, values in series.items()
        for category, count in values.items()
    ]
    if not rows:
        rows = [{"strategy": "", "category": "none", "count": 0}]
    chart: alt.Chart = (
        alt.Chart(_data(rows), title=title)
        .mark_bar()
        .encode(
            x=alt.X("category:N", title=x_title),
            xOffset="strategy:N",
            y=alt.Y("count:Q", title="parcels"),
            color=alt.Color("strategy:N", title="strategy"),
            tooltip=["strategy:N", "category:N", "count:Q"],
        )
        .properties(width=760, height=220)
    )
    return chart


def route_maps(outcomes: list[StrategyOutcome]) -> alt.HConcatChart:
    """Each strategy's routes on one projection, side by side: a colour per van (legend),
    the depot, and a 5 km scale bar."""
    lat0, lon0 = DEPOT
    km_lon = SCALE_KM / (111.32 * math.cos(math.radians(lat0)))
    panels = []
    for outcome in outcomes:
        rows = [
            {"van": f"van {n}", "order": i, "lat": lat, "lon": lon}
            for n, points in enumerate(outcome.routes, start=1)
            for i, (lat, lon) in enumerate(points)
        ]
        data = _data(rows or [{"van": "", "order": 0, "lat": lat0, "lon": lon0}])
        lines = (
            alt.Chart(data)
            .mark_line(strokeWidth=1.2, opacity=0.8)
            .encode(
                longitude="lon:Q",
                latitude="lat:Q",
                order="order:Q",
                color=alt.Color("van:N", title="van", legend=alt.Legend(columns=2)),
            )
        )
        stops = (
            alt.Chart(data)
            .mark_circle(size=10)
            .encode(longitude="lon:Q", latitude="lat:Q", color="van:N", tooltip=["van:N"])
        )
        depot = (
            alt.Chart(_data([{"lat": lat0, "lon": lon0, "name": "depot"}]))
            .mark_square(size=80, color="black")
            .encode(longitude="lon:Q", latitude="lat:Q", tooltip=["name:N"])
        )
        south, west = 48.06, 11.38
        scale = _data(
            [
                {"lat": south, "lon": west, "label": ""},
                {"lat": south, "lon": west + km_lon, "label": f"{SCALE_KM} km"},
            ]
        )
        bar = (
            alt.Chart(scale)
            .mark_line(color="black", strokeWidth=3)
            .encode(longitude="lon:Q", latitude="lat:Q")
        )
        label = (
            alt.Chart(scale)
            .mark_text(dy=-8, align="right")
            .encode(longitude="lon:Q", latitude="lat:Q", text="label:N")
        )
        panels.append(
            alt.layer(lines, stops, depot, bar, label)
            .project(type="mercator")
            .properties(
                width=360,
                height=320,
                title=f"{outcome.name}: {len(outcome.routes)} vans",
            )
            .resolve_scale(color="independent")
        )
    return alt.hconcat(*panels)


def van_tables(outcomes: list[StrategyOutcome]) -> str:
    """One table per strategy, a row per van: stops, delivered, km, hours, waiting."""
    parts = []
    for outcome in outcomes:
        head = "<tr><th>van</th><th>stops</th><th>delivered</th><th>km</th><th>hours</th><th>waiting h</th></tr>"
        rows = "".join(
            f"<tr><td>{v['van']}</td><td>{v['stops']}</td><td>{v['delivered']}</td>"
            f"<td>{v['km']:.1f}</td><td>{v['hours']:.2f}</td><td>{v['waiting_hours']:.2f}</td></tr>"
            for v in outcome.vans
        )
        parts.append(
            f"<details><summary>{html.escape(outcome.name)}: {len(outcome.vans)} vans</summary>"
            f"<table>{head}{rows}</table></details>"
        )
    return "".join(parts)


def kpi_csv(outcomes: list[StrategyOutcome]) -> str:
    """The KPIs as CSV: a row per KPI, a column per strategy (nested counts flattened)."""
    flat: list[dict[str, Any]] = []
    for outcome in outcomes:
        row: dict[str, Any] = {}
        for key, value in outcome.kpis.items():
            if isinstance(value, dict):
                for sub, count in value.items():
                    row[f"{key}.{sub}"] = count
            else:
                row[key] = value
        flat.append(row)
    keys = list(dict.fromkeys(key for row in flat for key in row))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kpi", *(o.name for o in outcomes)])
    for key in keys:
        writer.writerow([key, *(row.get(key, "") for row in flat)])
    return out.getvalue()


def write_report(
    path: Path,
    *,
    customers: int,
    seed: int,
    outcomes: list[StrategyOutcome],
    parameters: dict[str, Any] | None = None,
) -> None:
    """Write the report to `path` and the KPIs beside it as CSV (same name, .csv)."""
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    params = {"customers": customers, "seed": seed, **(parameters or {})}
    params["strategies"] = ", ".join(o.name for o in outcomes)
    params["seconds to simulate"] = ", ".join(f"{o.name} {o.seconds:.0f} s" for o in outcomes)
    csv_text = kpi_csv(outcomes)
    hourly = {o.name: {f"{h:02d}h": n for h, n in o.hourly.items()} for o in outcomes}
    reasons = {o.name: dict(o.kpis["failed_by_reason"]) for o in outcomes}
    unplanned = {o.name: dict(o.kpis.get("unplanned_by_reason", {})) for o in outcomes}
    charts = {
        "kpis": kpi_chart(outcomes),
        "maps": route_maps(outcomes),
        "hourly": grouped_chart("deliveries by hour", hourly, "hour"),
        "failures": grouped_chart("failed attempts by reason", reasons, "reason"),
        "unplanned": grouped_chart("parcels not planned, by reason", unplanned, "reason"),
    }
    specs = {name: chart.to_dict() for name, chart in charts.items()}
    embeds = "\n".join(
        f"vegaEmbed('#{name}', {json.dumps(spec)}, {{actions: false}});"
        for name, spec in specs.items()
    )
    param_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in params.items()
    )
    from trunkdrop.simulation.run import ROWS

    head = "".join(f"<th>{html.escape(o.name)}</th>" for o in outcomes)
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th>"
        + "".join(
            f"<td>{'–' if o.kpis.get(key) is None else html.escape(fmt.format(o.kpis[key]))}</td>"
            for o in outcomes
        )
        + "</tr>"
        for label, key, fmt in ROWS
    )
    csv_link = "data:text/csv;base64," + base64.b64encode(csv_text.encode()).decode()
    scripts = "".join(
        f"<script>{_vendored(name)}</script>"
        for name in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>trunkdrop — a day in Munich</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child {{ text-align: left; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
.card {{ border: 1px solid #ccc; border-radius: 6px; padding: 0.5rem 1rem; }}
.card h3 {{ margin: 0.2rem 0; }} .muted {{ color: #777; margin: 0; font-size: 0.85rem; }}
.good {{ color: #1a7f37; font-weight: 600; }} .bad {{ color: #c62828; font-weight: 600; }} .even {{ color: #777; }}
</style>{scripts}</head><body>
<h1>A day of deliveries in Munich</h1>
<p>Every strategy delivers the same orders through the same platform (services, state machine,
database, vehicle adapter); only the clock is simulated. Costs follow the carrier's cost model
(docs/costs.md); a parcel not delivered today is charged one more attempt.</p>
<h2>Headlines: each strategy against door delivery</h2>
<ul class="verdicts">{"".join(f"<li>{html.escape(v)}</li>" for v in target_verdicts(outcomes))}</ul>
{headline_cards(outcomes)}
<div id="kpis"></div>
<h2>Routes</h2><div id="maps"></div>
<h2>Deliveries over the day</h2><div id="hourly"></div>
<h2>Failed attempts and parcels not planned</h2><div id="failures"></div><div id="unplanned"></div>
<h2>Vans</h2>{van_tables(outcomes)}
<h2>All KPIs</h2><p><a download="trunkdrop-kpis.csv" href="{csv_link}">Download the KPIs as CSV</a></p>
<table><tr><th>KPI</th>{head}</tr>{rows}</table>
<h2>Run</h2><table>{param_rows}<tr><th>report written</th><td>{created}</td></tr></table>
<script>{embeds}</script>
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    path.with_suffix(".csv").write_text(csv_text, encoding="utf-8")
