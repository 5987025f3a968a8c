"""`trunkdrop simulate`: the same orders and seed under each strategy, KPIs side by side."""

from __future__ import annotations

import json
import multiprocessing
import queue
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from trunkdrop.dispatch.costs import CostModel
from trunkdrop.simulation.city import draw_city
from trunkdrop.simulation.engine import STRATEGIES, RunConfig, run_strategy
from trunkdrop.simulation.kpis import hourly_deliveries, kpis, van_table


@dataclass
class StrategyOutcome:
    name: str
    kpis: dict[str, Any]
    hourly: dict[int, int]
    routes: list[list[tuple[float, float]]]
    seconds: float
    vans: list[dict[str, Any]] = field(default_factory=list)
    seconds_by_phase: dict[str, float] = field(default_factory=dict)


def simulate(
    *,
    customers: int,
    seed: int,
    strategies: list[str],
    solver_iterations: int,
    jobs: int = 2,
    workdir: Path | None = None,
    console: Console | None = None,
) -> list[StrategyOutcome]:
    """Run each strategy's day on the same city; strategies run side by side on `jobs` cores
    (each has its own database, clock and seeded ids, so the numbers do not depend on it)."""
    console = console or Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="trunkdrop-sim-") as tmp:
        base = workdir or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        manager = multiprocessing.get_context("spawn").Manager()
        updates = manager.Queue()
        with (
            Progress(
                TextColumn("[bold]{task.fields[strategy]:<19}"), BarColumn(), TextColumn("{task.description}"),
                TimeElapsedColumn(), console=console, transient=False,
            ) as progress,
            ProcessPoolExecutor(max_workers=max(1, min(jobs, len(strategies))),
                                mp_context=multiprocessing.get_context("spawn")) as pool,
        ):  # fmt: skip
            tasks = {
                name: progress.add_task("waiting", total=1.0, strategy=name) for name in strategies
            }
            futures = [
                pool.submit(
                    _run_one, name, customers, seed, solver_iterations, base / f"{name}.db", updates
                )
                for name in strategies
            ]
            while not all(f.done() for f in futures):
                _drain(updates, progress, tasks)
                time.sleep(0.2)
            _drain(updates, progress, tasks)
            outcomes = [f.result() for f in futures]
        manager.shutdown()
    return outcomes


def _drain(updates: Any, progress: Progress, tasks: dict[str, Any]) -> None:
    while True:
        try:
            name, what, share = updates.get_nowait()
        except queue.Empty:
            return
        progress.update(tasks[name], completed=share, description=what)


def _run_one(
    name: str, customers: int, seed: int, iterations: int, database: Path, updates: Any
) -> StrategyOutcome:
    """One strategy's day, in its own process."""
    city = draw_city(customers, seed)
    started = time.perf_counter()
    run = run_strategy(
        RunConfig(
            strategy=name,
            customers=city,
            seed=seed,
            database=database,
            solver_iterations=iterations,
        ),
        lambda what, share: updates.put((name, what, share)),
    )
    figured = time.perf_counter()
    with run.platform.uow() as s:
        figures = kpis(s, run.record, CostModel.from_settings(run.platform.settings))
        hourly = hourly_deliveries(s, run.platform.settings.timezone)
        routes = _route_points(s, run)
        vans = van_table(s, run.record)
    run.close()
    seconds = round(time.perf_counter() - started, 1)
    # Where the run's time went (wall seconds), beside the KPIs: they stay the day's own,
    # the same for the same seed however busy the machine.
    phases = {phase: round(wall, 1) for phase, (wall, _, _) in run.record.phase_seconds.items()} | {
        "figures": round(time.perf_counter() - figured, 1)
    }
    return StrategyOutcome(name, figures, hourly, routes, seconds, vans, phases)


def _route_points(session: Any, run: Any) -> list[list[tuple[float, float]]]:
    from trunkdrop.dispatch import replans
    from trunkdrop.dispatch import service as dispatch
    from trunkdrop.simulation.city import DEPOT

    lines = []
    for driver in run.record.drivers:
        points = [DEPOT]
        for stop in dispatch.stops_of(session=session, route_id=driver.route_id):
            if stop.status in ("done", "failed"):
                point = replans.stop_point(session, stop)
                if point is not None:
                    points.append(point)
        points.append(DEPOT)
        lines.append(points)
    return lines


ROWS = [
    ("first-attempt success", "first_attempt_success", "{:.1%}"),
    ("delivered", "delivered", "{}"),
    ("  into a trunk", "delivered_trunk", "{}"),
    ("  at the door", "delivered_home", "{}"),
    ("to a pickup point", "pickup_points_used", "{}"),
    ("returned to sender", "returned_to_sender", "{}"),
    ("not reached today", "not_reached", "{}"),
    ("failed attempts", "failed_attempts", "{}"),
    ("collections (returns, sends)", "collections", "{}"),
    ("  booked at the door", "door_pickups", "{}"),
    ("  returns collected", "returns_collected", "{}"),
    ("  sends collected", "sends_collected", "{}"),
    ("  first-attempt success", "collection_first_attempt_success", "{:.1%}"),
    ("not planned", "unplanned", "{}"),
    ("cost per parcel EUR", "cost_per_parcel", "{:.3f}"),
    ("cost of the day EUR", "cost_eur", "{:.2f}"),
    ("  + repeat attempts EUR", "repeat_attempts_eur", "{:.2f}"),
    ("km", "km", "{:.1f}"),
    ("km per parcel", "km_per_parcel", "{:.3f}"),
    ("CO2 kg per parcel", "co2_kg_per_parcel", "{:.4f}"),
    ("vans", "vans", "{}"),
    ("van hours", "van_hours", "{:.1f}"),
    ("  of them waiting", "waiting_hours", "{:.1f}"),
    ("van hours per parcel", "van_hours_per_parcel", "{:.4f}"),
    ("grants issued", "grants_issued", "{}"),
    ("grants redeemed", "grants_redeemed", "{}"),
    ("grants expired", "grants_expired", "{}"),
    ("grants revoked", "grants_revoked", "{}"),
    ("access refused", "access_refused", "{}"),
    ("unlock→lock median s", "unlock_to_lock_s_median", "{}"),
    ("unlock→lock p95 s", "unlock_to_lock_s_p95", "{}"),
    ("incidents", "incidents", "{}"),
]


def table(outcomes: list[StrategyOutcome]) -> Table:
    t = Table(title="A day of deliveries in Munich: KPIs by strategy")
    t.add_column("KPI")
    for o in outcomes:
        t.add_column(o.name, justify="right")
    for label, key, fmt in ROWS:
        t.add_row(
            label,
            *[("–" if o.kpis.get(key) is None else fmt.format(o.kpis[key])) for o in outcomes],
        )
    reasons = sorted({r for o in outcomes for r in o.kpis["failed_by_reason"]})
    for reason in reasons:
        t.add_row(
            f"  failed: {reason}",
            *[str(o.kpis["failed_by_reason"].get(reason, 0)) for o in outcomes],
        )
    for reason in sorted({r for o in outcomes for r in o.kpis["unplanned_by_reason"]}):
        t.add_row(
            f"  not planned: {reason}",
            *[str(o.kpis["unplanned_by_reason"].get(reason, 0)) for o in outcomes],
        )
    t.add_row("seconds to simulate", *[f"{o.seconds:.1f}" for o in outcomes])
    return t


def summary(customers: int, seed: int, outcomes: list[StrategyOutcome]) -> str:
    return json.dumps(
        {
            "customers": customers,
            "seed": seed,
            "strategies": {o.name: o.kpis for o in outcomes},
            "seconds_by_phase": {o.name: o.seconds_by_phase for o in outcomes},
        }
    )


__all__ = ["STRATEGIES", "simulate", "summary", "table"]
