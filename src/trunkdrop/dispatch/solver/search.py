"""One iterated local search run (PyVRP), harvesting every feasible route it meets."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import pyvrp
from pyvrp.exceptions import PenaltyBoundWarning
from pyvrp.IteratedLocalSearch import (
    IteratedLocalSearch,
    IteratedLocalSearchCallbacks,
    IteratedLocalSearchParams,
)
from pyvrp.PenaltyManager import PenaltyManager, PenaltyParams
from pyvrp.search import (
    OPERATORS,
    LocalSearch,
    NeighbourhoodParams,
    PerturbationManager,
    PerturbationParams,
    compute_neighbours,
)
from pyvrp.stop import MaxIterations, MaxRuntime

from trunkdrop.dispatch.solver.catalogue import Catalogue, RoutePool, SearchOutcome, Visits
from trunkdrop.dispatch.solver.places import improve_places
from trunkdrop.dispatch.solver.processes import worker_catalogue
from trunkdrop.dispatch.solver.settings import SolverSettings


class Harvest(IteratedLocalSearchCallbacks):
    """Keeps every feasible route of every solution the local search produces."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.stop_of_client = catalogue.stop_of_client
        self.pool: RoutePool = {}
        self.seen: set[int] = set()
        # Cheap C++-computed fingerprints of routes already looked at: walking a route's
        # visits in Python is what slows the search, and most routes recur unchanged.
        self.fingerprints: set[tuple[int, int, int, int, int]] = set()

    def on_iteration(self, current: Any, candidate: Any, best: Any, cost_evaluator: Any) -> None:
        self.collect(candidate)

    def collect(self, solution: Any) -> None:
        solution_hash = hash(solution)
        if solution_hash in self.seen:
            return
        self.seen.add(solution_hash)
        stop_of_client = self.stop_of_client
        pool = self.pool
        fingerprints = self.fingerprints
        for route in solution.routes():
            fingerprint = (
                route.vehicle_type(),
                route.distance(),
                route.duration(),
                route.num_clients(),
                route.end_time(),
            )
            if fingerprint in fingerprints or not route.is_feasible():
                continue
            fingerprints.add(fingerprint)
            clients = tuple(activity.idx for activity in route if activity.is_client())
            key = (route.vehicle_type(), frozenset(stop_of_client[c] for c in clients))
            cost = pyvrp_route_cost(route)
            known = pool.get(key)
            if known is None or cost < known[0]:
                # Re-choosing places jointly costs far less than the search step that
                # found the route, and often finds a cheaper column for the same stops.
                pool[key] = improve_places(self.catalogue, route.vehicle_type(), clients, cost)


def pyvrp_route_cost(route: Any) -> int:
    """What a PyVRP route costs in our objective: fixed, distance and duration costs."""
    return int(route.fixed_vehicle_cost()) + int(route.distance_cost()) + int(route.duration_cost())


def visits_of(solution: Any) -> tuple[Visits, ...]:
    return tuple(
        (
            route.vehicle_type(),
            pyvrp_route_cost(route),
            tuple(activity.idx for activity in route if activity.is_client()),
        )
        for route in solution.routes()
    )


def search_task(
    seed: int,
    seconds: float,
    start_from: Sequence[Visits] | None,
    settings: SolverSettings,
    iterations: int | None = None,
    catalogue: Catalogue | None = None,
    harvest: bool = True,
    fleet_limit: int | None = None,
) -> SearchOutcome:
    catalogue = catalogue or worker_catalogue()
    assert catalogue is not None
    data = catalogue.data
    if fleet_limit is not None and data.num_vehicle_types == 1:
        # Fewer vans than the plans met so far need (see `squeezed_fleet`); the routes
        # found cost the same, so the harvest stays valid for the real problem.
        van = data.vehicle_type(0)
        data = data.replace(vehicle_types=[van.replace(num_available=fleet_limit)])
    pool = Harvest(catalogue)
    initial = None
    if start_from is not None:
        routes = [pyvrp.Route(data, list(clients), kind) for kind, _, clients in start_from]
        initial = pyvrp.Solution(data, routes)
        pool.collect(initial)
    rng = pyvrp.RandomNumberGenerator(seed=seed)
    neighbourhood = NeighbourhoodParams(num_neighbours=settings.num_neighbours)
    neighbours = group_neighbours(
        compute_neighbours(data, neighbourhood),
        catalogue.stop_of_client,
        settings.alternative_neighbours,
    )
    perturbation = PerturbationManager(
        PerturbationParams(max_perturbations=settings.max_perturbations)
    )
    search = LocalSearch(data, rng, neighbours, perturbation)
    for operator in OPERATORS:
        if operator.supports(data):
            search.add_operator(operator(data))
    penalty = penalty_params(data) if settings.scaled_penalties else PenaltyParams()
    # Where the default search starts; a scaled ceiling lets it climb when it must.
    penalties = PenaltyManager(PenaltyParams().midpoint_penalties(data), penalty)
    if initial is None:
        random = pyvrp.Solution.make_random(data, rng)
        initial = search(random, penalties.max_cost_evaluator(), exhaustive=True)
    ils = IteratedLocalSearchParams(
        history_length=settings.history_length,
        callbacks=pool if harvest else IteratedLocalSearchCallbacks(),
    )
    algorithm = IteratedLocalSearch(data, penalties, search, initial, ils)
    stop = MaxIterations(iterations) if iterations is not None else MaxRuntime(seconds)
    with warnings.catch_warnings():
        # A squeezed fleet may well be too small; an infeasible answer says so already.
        warnings.simplefilter("ignore", PenaltyBoundWarning)
        result = algorithm.run(stop, collect_stats=False)
    best = result.best
    if harvest:
        pool.collect(best)
    feasible = bool(best.is_feasible()) and bool(best.is_complete())
    cost = (
        int(best.fixed_vehicle_cost())
        + int(best.distance_cost())
        + int(best.duration_cost())
        + int(best.uncollected_prizes())
    )
    return SearchOutcome(cost, feasible, visits_of(best), pool.pool)


def penalty_params(data: pyvrp.ProblemData) -> PenaltyParams:
    """PyVRP's bounds on the penalty for a unit of excess load or lateness, the ceiling
    scaled to the problem's cost units.

    Its default ceiling suits costs counted in units of distance. A plan priced in
    micro-euros (250 to the metre, `dispatch.costs`) meets it at a tenth of a euro per litre
    over a van's capacity or per second late: overloading a van can then cost less than
    using a second one, and a plan that exists comes back infeasible (two 120-litre parcels,
    two 150-litre vans). Scaled by what a unit of distance costs, a violation weighs what it
    weighs in a plan in metres. Only for a second search (`SolverSettings.scaled_penalties`):
    as the first, it changed the simulated days' plans, made the 1,000-customer day 8 %
    slower and cost per parcel 0.6 % higher (seeds 1-6 at 300 customers)."""
    scale = max(
        [1, *(data.vehicle_type(k).unit_distance_cost for k in range(data.num_vehicle_types))]
    )
    return PenaltyParams(max_penalty=PenaltyParams().max_penalty * scale)


def group_neighbours(
    neighbours: dict[Any, list[Any]], stop_of_client: Sequence[int], extra: int
) -> dict[Any, list[Any]]:
    """PyVRP's granular neighbourhood, widened with the nearest neighbours of each client's
    alternatives: moving a stop to another of its places lands near *that* place, which the
    place it is served at now may be far from."""
    if extra <= 0:
        return neighbours
    members: dict[int, list[int]] = {}
    for client, stop in enumerate(stop_of_client):
        members.setdefault(stop, []).append(client)
    own = {activity.idx: near for activity, near in neighbours.items() if activity.is_client()}
    widened: dict[Any, list[Any]] = {}
    for activity, near in neighbours.items():
        if not activity.is_client():
            widened[activity] = near
            continue
        stop = stop_of_client[activity.idx]
        merged = list(near)
        seen = {other.idx for other in near if other.is_client()}
        for alternative in members[stop]:
            if alternative == activity.idx:
                continue
            for other in own.get(alternative, [])[:extra]:
                fresh = other.is_client() and other.idx not in seen
                if fresh and stop_of_client[other.idx] != stop:
                    merged.append(other)
                    seen.add(other.idx)
        widened[activity] = merged
    return widened
