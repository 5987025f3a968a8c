"""Recombining the pooled routes of all searches: a set-covering model solved with HiGHS."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import highspy
import numpy as np

from trunkdrop.dispatch.solver.catalogue import Catalogue, Incumbent, RoutePool, Visits
from trunkdrop.dispatch.solver.places import drop_repeats, improve_places
from trunkdrop.dispatch.solver.processes import worker_catalogue

# Fractions of the reduced-cost room tried in turn; 1.0 is the exact model.
REDUCED_COST_STEPS = (0.0, 0.2, 1.0)


def partition_task(
    pool: RoutePool,
    incumbent: Sequence[Visits],
    seconds: float,
    steps: Sequence[float] = REDUCED_COST_STEPS,
) -> Incumbent | None:
    catalogue = worker_catalogue()
    assert catalogue is not None
    return partition(catalogue, pool, incumbent, seconds, steps)


def portfolio_steps(worker: int) -> tuple[float, ...]:
    """The reduced-cost steps of the `worker`-th member of a recombination portfolio: the
    first takes the usual steps, the others other column sets, so that one of them reaches
    an improvement the others' branch and bound would find too late."""
    if worker == 0:
        return REDUCED_COST_STEPS
    if worker == 1:
        return (0.1, 0.4, 1.0)
    return (1.0,)


def merge_pool(pool: RoutePool, more: RoutePool) -> None:
    for key, entry in more.items():
        known = pool.get(key)
        if known is None or entry[0] < known[0]:
            pool[key] = entry


def partition(
    catalogue: Catalogue,
    pool: RoutePool,
    incumbent: Sequence[Visits],
    seconds: float,
    steps: Sequence[float] = REDUCED_COST_STEPS,
) -> Incumbent | None:
    """Choose pooled routes serving each required stop at least once (optional stops at most
    once, their prize earned) at least total cost, then take repeated stops out where that
    saves most: a cover can join routes that overlap, which no partition of the pool can.

    The LP relaxation of this model is nearly integral, so HiGHS first solves it over the
    whole pool; then small MIPs over the columns of least reduced cost find the integer
    optimum fast, and a last MIP over every column whose reduced cost leaves room for
    improvement proves it when time allows. Before that last MIP the places of its columns
    are re-chosen jointly, which can only make them cheaper.
    """
    deadline = time.perf_counter() + seconds
    model = PartitionModel(catalogue, pool)
    start = np.array(
        sorted(
            model.column[(kind, frozenset(catalogue.stop_of_client[c] for c in clients))]
            for kind, _, clients in incumbent
            if clients
        ),
        dtype=np.int64,
    )
    best = start
    best_cost = float(model.costs[best].sum())
    relaxed = model.relaxation(deadline)
    if relaxed is not None:
        bound, reduced = relaxed
        for share in steps:
            room = best_cost - 1.0 - bound  # integer costs: improving means 1 cheaper
            if room < -1e-6 or time.perf_counter() >= deadline:
                break
            exact = share >= 1.0
            limit = room if exact else min(room, share * room)
            columns = np.union1d(np.flatnonzero(reduced <= limit + 1e-6), best)
            if exact:
                model.improve_places(columns, deadline)
                best_cost = float(model.costs[best].sum())
            found = model.solve_mip(columns, best, deadline)
            if found is not None and model.costs[found].sum() < best_cost - 0.5:
                best = found
                best_cost = float(model.costs[best].sum())
    chosen = [model.route(number) for number in best]
    visits: Sequence[Visits] | None = drop_repeats(
        catalogue, [(kind, clients) for kind, _, clients in chosen]
    )
    if visits is None:  # a repeat no route could give up in time; keep what we had
        visits = incumbent
    served = {catalogue.stop_of_client[c] for _, _, clients in visits for c in clients}
    cost = sum(route_cost for _, route_cost, _ in visits) + catalogue.missed_prizes(served)
    return Incumbent(cost, tuple(visits))


class PartitionModel:
    """The set-covering model over a route pool, as column-wise arrays for HiGHS; a
    column's cost and route may be lowered by re-choosing its places (`improve_places`)."""

    def __init__(self, catalogue: Catalogue, pool: RoutePool) -> None:
        self.catalogue = catalogue
        self.keys = list(pool)
        self.route_costs = [pool[key][0] for key in self.keys]
        self.clients = [pool[key][1] for key in self.keys]
        self.placed: set[int] = set()
        self.column = {key: number for number, key in enumerate(self.keys)}
        stops = sorted(
            {stop for _, served in self.keys for stop in served}
            | {stop for stop, required in enumerate(catalogue.required) if required}
        )
        row_of = {stop: number for number, stop in enumerate(stops)}
        lower = [1.0 if catalogue.required[stop] else 0.0 for stop in stops]
        # Required stops may be covered twice (the repeat is removed afterwards); an optional
        # one at most once, since its prize is earned once.
        upper = [math.inf if catalogue.required[stop] else 1.0 for stop in stops]
        # One more row per van type of limited count: use at most that many routes of it.
        fleet_row: dict[int, int] = {}
        for kind, count in enumerate(catalogue.fleet):
            if count is not None:
                fleet_row[kind] = len(lower)
                lower.append(0.0)
                upper.append(float(count))
        self.row_lower = np.array(lower)
        self.row_upper = np.array(upper)
        starts = [0]
        indices: list[int] = []
        costs: list[float] = []
        for key in self.keys:
            kind, served = key
            indices.extend(sorted(row_of[stop] for stop in served))
            if kind in fleet_row:
                indices.append(fleet_row[kind])
            starts.append(len(indices))
            costs.append(pool[key][0] - sum(catalogue.prizes[stop] for stop in served))
        self.starts = np.array(starts, dtype=np.int64)
        self.indices = np.array(indices, dtype=np.int32)
        self.costs = np.array(costs, dtype=np.float64)

    def route(self, number: int) -> Visits:
        """Column `number` as a route: vehicle type, cost, clients."""
        kind, _ = self.keys[number]
        return kind, self.route_costs[number], self.clients[number]

    def improve_places(self, columns: np.ndarray[Any, Any], deadline: float) -> None:
        """Re-choose the places of these columns' routes where cheaper, until `deadline`."""
        for number in columns:
            if number in self.placed:
                continue
            if time.perf_counter() >= deadline:
                return
            self.placed.add(int(number))
            kind, _ = self.keys[number]
            cost, clients = improve_places(
                self.catalogue, kind, self.clients[number], self.route_costs[number]
            )
            saving = self.route_costs[number] - cost
            if saving > 0:
                self.route_costs[number] = cost
                self.clients[number] = clients
                self.costs[number] -= saving

    def _lp(self, columns: np.ndarray[Any, Any]) -> Any:
        lengths = (self.starts[1:] - self.starts[:-1])[columns]
        lp = highspy.HighsLp()
        lp.num_col_ = len(columns)
        lp.num_row_ = len(self.row_lower)
        lp.col_cost_ = self.costs[columns]
        lp.col_lower_ = np.zeros(len(columns))
        lp.col_upper_ = np.ones(len(columns))
        lp.row_lower_ = self.row_lower
        lp.row_upper_ = self.row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
        lp.a_matrix_.index_ = np.concatenate(
            [self.indices[self.starts[c] : self.starts[c + 1]] for c in columns]
        ).astype(np.int32)
        lp.a_matrix_.value_ = np.ones(int(lengths.sum()))
        return lp

    @staticmethod
    def _highs(deadline: float) -> Any:
        highs = highspy.Highs()  # type: ignore[no-untyped-call]
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("threads", 1)
        highs.setOptionValue("time_limit", max(deadline - time.perf_counter(), 0.01))
        return highs

    def relaxation(self, deadline: float) -> tuple[float, np.ndarray[Any, Any]] | None:
        """The LP bound and every column's reduced cost, or None when out of time."""
        highs = self._highs(deadline)
        highs.passModel(self._lp(np.arange(len(self.keys))))
        highs.run()
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        duals = np.asarray(highs.getSolution().row_dual, dtype=np.float64)
        covered = np.add.reduceat(duals[self.indices], self.starts[:-1])
        return float(highs.getInfo().objective_function_value), self.costs - covered

    def solve_mip(
        self, columns: np.ndarray[Any, Any], start: np.ndarray[Any, Any], deadline: float
    ) -> np.ndarray[Any, Any] | None:
        """Best integer choice among `columns` (pool numbers), started from `start`."""
        lp = self._lp(columns)
        lp.integrality_ = [highspy.HighsVarType.kInteger] * len(columns)
        highs = self._highs(deadline)
        # Presolve probing on these models costs seconds and gains nothing.
        highs.setOptionValue("presolve", "off")
        highs.setOptionValue("mip_rel_gap", 0.0)
        highs.passModel(lp)
        initial = highspy.HighsSolution()
        initial.col_value = list(np.isin(columns, start).astype(np.float64))
        initial.value_valid = True
        highs.setSolution(initial)
        highs.run()
        if highs.getInfo().primal_solution_status != 2:  # 2: a feasible point is known
            return None
        values = np.asarray(highs.getSolution().col_value)
        return columns[values > 0.5]
