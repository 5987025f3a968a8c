"""Plan routes for a Problem with PyVRP and HiGHS; the only module that imports pyvrp.

Each stop is a mutually exclusive PyVRP client group whose members are its reachable
places, required or optional with a prize (an optional stop no van can reach is left out).
A route costs what its van type says: a fixed cost, per distance and per second driven. PyVRP's iterated local search runs from several seeds in parallel
processes (one per core), with each place's neighbourhood widened by its alternatives'
neighbours, and keeps every feasible route it meets, with its places re-chosen jointly by a
small dynamic programme (the search moves one stop's place at a time). After each round a
set-covering model over that route pool, solved with HiGHS, recombines the routes of all
runs; stops the cover serves twice are dropped where that saves most, which gives plans no
partition of the pool holds. The next round restarts most workers from the recombined plan
while one explores afresh, starting on the core the recombination leaves idle, with one van
fewer than the best plan so far uses (plans with fewer routes lie in basins a free search
seldom reaches). A recombination may take up to a cap of a few seconds, since a large pool
often holds a plan better than any search found but its MIP needs that long; the last one
runs on every core, each solving the model over its own choice of columns.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
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

from trunkdrop.dispatch.problem import Place, Plan, Problem, Route

# A pooled route: its cost and the PyVRP client indices it visits, in order.
PooledRoute = tuple[int, tuple[int, ...]]
# Route pool keyed by the vehicle type and the set of stops served: only the cheapest
# sequence for a given set matters to the recombination model.
RoutePool = dict[tuple[int, frozenset[int]], PooledRoute]
# One route of a solution: vehicle type, cost, PyVRP client indices in order.
Visits = tuple[int, int, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class SolverSettings:
    """Knobs of the search. Defaults were only ever compared on the small instances
    (0-5, 10, 20), never tuned on the benchmark ones.

    rounds: search-then-recombine rounds sharing the budget.
    fresh_rounds: first rounds in which every worker starts from a random plan.
    explorers: workers that start from a random plan in the later rounds too, bringing
        routes from other basins; they start while the previous round's recombination
        runs. The others restart from the recombined plan, or, when that found nothing
        better in the last round, from the best plan an explorer found.
    partition_share, partition_min_seconds: the most time a recombination may take, as a
        share of its round (at least the minimum); time is planned for it from what the
        earlier ones took. Not found by trying values: the small instances recombine in
        milliseconds whatever the cap, so they cannot set it; 0.3 (3 s of a 10 s round) is
        what the MIP over a pool of 10-30 thousand routes needed to reach the pool's
        optimum when one such pool (a benchmark run's, saved and re-solved offline) was
        timed, where the former 0.08 stopped it with a plan of that pool 1% better left
        unfound. Only the worker restarting from the recombined plan waits for it.
    setup_reserve_seconds: kept back for starting processes and building the plan.
    num_neighbours, history_length, max_perturbations: PyVRP's granular neighbourhood
        size, late-acceptance history and perturbation size.
    alternative_neighbours: nearest neighbours of each alternative place added to a
        place's neighbourhood (0 keeps PyVRP's own).
    squeeze_fleet: in the later rounds the explorers get one van fewer than the best plan
        uses (see `_squeezed_fleet`).
    """

    rounds: int = 3
    fresh_rounds: int = 1
    explorers: int = 1
    partition_share: float = 0.3
    partition_min_seconds: float = 1.0
    setup_reserve_seconds: float = 0.4
    num_neighbours: int = 50
    history_length: int = 300
    max_perturbations: int = 25
    alternative_neighbours: int = 15
    squeeze_fleet: bool = True

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"At least one round is needed, got rounds={self.rounds}.")
        counts = {
            "fresh_rounds": self.fresh_rounds,
            "explorers": self.explorers,
            "alternative_neighbours": self.alternative_neighbours,
        }
        for name, value in counts.items():
            if value < 0:
                raise ValueError(f"{name} cannot be negative, got {value}.")
        positive = {
            "num_neighbours": self.num_neighbours,
            "history_length": self.history_length,
            "max_perturbations": self.max_perturbations,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}.")
        if not 0 <= self.partition_share < 1:
            raise ValueError(f"partition_share must be in [0, 1), got {self.partition_share}.")


@dataclass(frozen=True, slots=True)
class RoundLog:
    """What one round achieved: best local-search cost, cost after recombination, pool size."""

    search_cost: int | None
    partition_cost: int | None
    pool_size: int
    search_seconds: float = 0.0
    partition_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class SolveLog:
    """How a solve went, round by round."""

    rounds: tuple[RoundLog, ...] = field(default=())


def solve(
    problem: Problem,
    *,
    seconds: float,
    seed: int = 0,
    workers: int | None = None,
    settings: SolverSettings | None = None,
) -> Plan:
    """Plan routes for `problem` within about `seconds` of wall time on `workers` cores."""
    plan, _ = solve_with_log(
        problem, seconds=seconds, seed=seed, workers=workers, settings=settings
    )
    return plan


def solve_repeatable(
    problem: Problem, *, iterations: int, seed: int = 0, settings: SolverSettings | None = None
) -> Plan:
    """One search bounded by iterations instead of seconds, in this process: the same problem
    and seed always give the same plan, however busy the machine (simulations need that)."""
    if iterations < 1:
        raise ValueError(f"At least one iteration is needed, got {iterations}.")
    if not problem.stops:
        return Plan(routes=(), cost=0)
    model = _Translation(problem)
    outcome = _search_task(
        seed,
        0.0,
        None,
        settings or SolverSettings(),
        iterations=iterations,
        catalogue=model.catalogue,
        harvest=False,  # nothing recombines a single search's routes: keeping them is waste
    )
    return model.plan(outcome.visits)


def solve_with_log(
    problem: Problem,
    *,
    seconds: float,
    seed: int = 0,
    workers: int | None = None,
    settings: SolverSettings | None = None,
) -> tuple[Plan, SolveLog]:
    """Like `solve`, and also say how each round of search and recombination went."""
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"The time budget must be positive and finite, got {seconds} seconds.")
    started = time.perf_counter()
    settings = settings or SolverSettings()
    workers = _available_cores() if workers is None else workers
    if workers < 1:
        raise ValueError(f"At least one worker is needed, got {workers}.")
    if not problem.stops:
        return Plan(routes=(), cost=0), SolveLog()

    model = _Translation(problem)
    deadline = started + seconds - min(settings.setup_reserve_seconds, 0.1 * seconds)
    incumbent: _Incumbent | None = None
    pool: RoutePool = {}
    logs: list[RoundLog] = []
    # Time kept back for recombination after each search; learnt from the rounds so far,
    # since small pools solve in milliseconds and large ones may take seconds.
    expected_partition = settings.partition_min_seconds
    # Searches already running for the coming round, by worker number, and when that
    # round's searches end (None: decide when the round starts).
    early: dict[int, Future[_SearchOutcome]] = {}
    search_end: float | None = None
    explorers = min(settings.explorers, workers - 1)
    stalled: tuple[Visits, ...] | None = None
    # How far a recombination has run past the time it was given: moving a large pool to
    # its process and building its model are not bounded by the MIP's limit. The last one
    # is given that much less, so that the solve ends within its budget.
    overrun = 0.0
    with _worker_pool(workers, model.catalogue) as executor:
        for round_number in range(settings.rounds):
            rounds_left = settings.rounds - round_number
            round_started = time.perf_counter()
            round_seconds = (deadline - round_started) / rounds_left
            partition_cap = _partition_cap(settings, round_seconds)
            partition_seconds = min(expected_partition, partition_cap, 0.5 * round_seconds)
            if rounds_left == 1:
                partition_seconds = _last_partition_seconds(
                    settings, expected_partition, round_seconds
                )
            if search_end is None:
                search_end = round_started + max(round_seconds - partition_seconds, 0.05)
            if not early and incumbent is not None and search_end - round_started <= 0.1:
                break
            fresh = round_number < settings.fresh_rounds or incumbent is None
            restart = None if fresh or incumbent is None else incumbent.visits
            if restart is not None and stalled is not None:
                restart = stalled
            # After the first rounds most workers restart from the recombined plan; the
            # last `explorers` of them (when there are several workers) start afresh,
            # to bring routes from other basins into the pool.
            futures = [
                early.get(i)
                or executor.submit(
                    _search_task,
                    seed * 1009 + round_number * workers + i,
                    max(search_end - time.perf_counter(), 0.05),
                    None if i >= workers - explorers else restart,
                    settings,
                )
                for i in range(workers)
            ]
            outcomes = [future.result() for future in futures]
            early, search_end = {}, None
            # A restart from the recombined plan that found nothing better is stuck in that
            # plan's basin; next round the restarting workers take up the best plan of a
            # fresh start instead, a good plan from another basin.
            stalled = None
            if restart is not None and incumbent is not None:
                gains = [o.cost < incumbent.cost for o in outcomes[: workers - explorers]]
                others = [o for o in outcomes[workers - explorers :] if o.feasible]
                if others and not any(gains):
                    stalled = min(others, key=lambda outcome: outcome.cost).visits
            search_best: int | None = None
            for outcome in outcomes:
                _merge_pool(pool, outcome.pool)
                # Fingerprints may collide in the harvest; the best plan's routes must be in.
                # Not those of a plan that breaks windows (a squeezed fleet's, say): the
                # model takes every column for an on-time route.
                if outcome.feasible:
                    _merge_pool(pool, model.pool_of(outcome.visits))
                if outcome.feasible and (search_best is None or outcome.cost < search_best):
                    search_best = outcome.cost
                candidate = _Incumbent(outcome.cost, outcome.visits, outcome.feasible)
                if incumbent is None or candidate.better_than(incumbent):
                    incumbent = candidate
            assert incumbent is not None
            searched = time.perf_counter()
            time_left = deadline - searched
            # A recombination may run past its planned time up to the cap: a large pool's
            # MIP often needs a few seconds to reach the pool's optimum, which is worth more
            # than the same seconds of search (only the restarting worker waits for it).
            limit = time_left - overrun if rounds_left == 1 else min(partition_cap, time_left)
            if rounds_left > 1:
                # The next round's fresh starts do not need this round's recombination:
                # they begin now, on the cores it leaves idle, and end with the others.
                next_round = round_number + 1
                next_seconds = (deadline - searched - limit) / (rounds_left - 1)
                next_partition = min(partition_seconds, 0.5 * next_seconds)
                if rounds_left == 2:
                    next_partition = _last_partition_seconds(
                        settings, expected_partition, next_seconds
                    )
                search_end = searched + limit + max(next_seconds - next_partition, 0.05)
                # Worker 0 is never started early: the recombination needs a process too.
                first = 0 if next_round < settings.fresh_rounds else workers - explorers
                squeeze = _squeezed_fleet(model.catalogue, incumbent, settings)
                for i in range(max(first, 1), workers):
                    early[i] = executor.submit(
                        _search_task,
                        seed * 1009 + next_round * workers + i,
                        max(search_end - time.perf_counter(), 0.05),
                        None,
                        settings,
                        fleet_limit=squeeze if first > 0 else None,
                    )
            partition_cost: int | None = None
            if incumbent.feasible:
                # The last recombination has every core to itself: each worker solves the
                # model over its own choice of columns, and the best answer is kept.
                portfolio = workers if rounds_left == 1 else 1
                answers = [
                    executor.submit(
                        _partition_task,
                        pool,
                        incumbent.visits,
                        max(limit, 0.05),
                        _portfolio_steps(i),
                    )
                    for i in range(portfolio)
                ]
                found = [answer.result() for answer in answers]
                chosen = min(
                    (answer for answer in found if answer is not None),
                    key=lambda answer: answer.cost,
                    default=None,
                )
                if chosen is not None:
                    partition_cost = chosen.cost
                    if chosen.cost < incumbent.cost:
                        incumbent = chosen
                        # Its routes may have been trimmed or re-placed: new columns.
                        _merge_pool(pool, model.pool_of(incumbent.visits))
            done = time.perf_counter()
            overrun = max(overrun, (done - searched) - max(limit, 0.05))
            expected_partition = min(max(0.1, 1.5 * (done - searched)), partition_cap)
            logs.append(
                RoundLog(
                    search_best,
                    partition_cost,
                    len(pool),
                    round(searched - round_started, 3),
                    round(done - searched, 3),
                )
            )

    assert incumbent is not None
    return model.plan(incumbent.visits), SolveLog(rounds=tuple(logs))


def _last_partition_seconds(
    settings: SolverSettings, expected: float, round_seconds: float
) -> float:
    """Time kept for the last recombination, which cannot spill into a later round and
    works on the largest pool: the pool at the end is two to three times the size of the
    first round's, and the MIP's time grows faster than the pool, so three times what an
    earlier recombination is expected to take, within the usual cap. A pool that an earlier
    round recombined in a blink keeps little time idle at the end."""
    wanted = max(settings.partition_min_seconds, 3.0 * expected)
    return min(wanted, _partition_cap(settings, round_seconds), 0.5 * round_seconds)


def _partition_cap(settings: SolverSettings, round_seconds: float) -> float:
    """The most time a recombination may take in a round of `round_seconds`."""
    return max(settings.partition_min_seconds, settings.partition_share * round_seconds)


def _squeezed_fleet(
    catalogue: _Catalogue, incumbent: _Incumbent, settings: SolverSettings
) -> int | None:
    """How many vans a fresh explorer may use, None for as many as it likes.

    Where windows rather than capacity bind, plans fall into basins by their number of
    routes, and a search with vans to spare seldom closes a route: it would have to pass
    through plans that break windows, and from a random start it settles in whichever basin
    it meets first (on instance_35 most seeds end one route and 2% above the best plan
    known). So the explorers of the later rounds get one van fewer than the best plan so
    far; PyVRP's penalties then push them towards a plan with one route less, and the
    on-time routes they meet join the pool either way, still routes from other basins.
    Only for a single, unlimited van type, where the count is all that matters.
    """
    if not settings.squeeze_fleet or not incumbent.feasible:
        return None
    if len(catalogue.fleet) != 1 or catalogue.fleet[0] is not None:
        return None
    routes = sum(1 for _, _, clients in incumbent.visits if clients)
    return routes - 1 if routes > 1 else None


@dataclass(frozen=True, slots=True)
class _Incumbent:
    cost: int
    visits: tuple[Visits, ...]  # (vehicle type, cost, clients)
    feasible: bool = True

    def better_than(self, other: _Incumbent) -> bool:
        if self.feasible != other.feasible:
            return self.feasible
        return self.cost < other.cost


@dataclass(frozen=True, slots=True)
class _SearchOutcome:
    cost: int
    feasible: bool
    visits: tuple[Visits, ...]
    pool: RoutePool


class _Translation:
    """Our Problem as PyVRP ProblemData: one client per reachable place, one mutually
    exclusive client group per stop with more than one place."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        depots = sorted(
            {van.start_depot for van in problem.vehicle_types}
            | {van.end_depot for van in problem.vehicle_types}
        )
        depot_index = {location: number for number, location in enumerate(depots)}
        # Any: PyVRP annotates matrices as ndarray[int], which numpy's own types do not match.
        travel: Any = np.asarray(problem.travel_time, dtype=np.int64)
        cost: Any = np.asarray(problem.cost, dtype=np.int64)

        self.client_location: list[int] = []
        self.stop_of_client: list[int] = []
        clients: list[pyvrp.Client] = []
        groups: list[pyvrp.ClientGroup] = []
        for stop_number, stop in enumerate(problem.stops):
            places = [place for place in stop.places if self._reachable(place, travel)]
            if not places and not stop.required:
                continue  # no van can serve it: the plan leaves it out and says why
            if not places:
                places = list(stop.places)  # hopeless; let the search report it unserved
            alone = len(places) == 1
            group = None if alone else len(groups)
            members: list[int] = []
            for place in places:
                members.append(len(clients))
                self.client_location.append(place.location)
                self.stop_of_client.append(stop_number)
                clients.append(
                    pyvrp.Client(
                        location=place.location,
                        delivery=[stop.demand],
                        service_duration=problem.service_time(place.location),
                        tw_early=place.window.open,
                        tw_late=place.window.close,
                        prize=stop.prize,
                        required=stop.required and alone,
                        group=group,
                    )
                )
            if not alone:
                groups.append(pyvrp.ClientGroup(members, required=stop.required))

        self.data = pyvrp.ProblemData(
            locations=[pyvrp.Location(x=loc.x, y=loc.y) for loc in problem.locations],
            clients=clients,
            depots=[
                pyvrp.Depot(location=location, service_duration=problem.service_time(location))
                for location in depots
            ],
            vehicle_types=[
                pyvrp.VehicleType(
                    num_available=van.count or len(problem.stops),
                    capacity=[van.capacity],
                    start_depot=depot_index[van.start_depot],
                    end_depot=depot_index[van.end_depot],
                    tw_early=van.shift_start,
                    tw_late=van.shift_end,
                    fixed_cost=van.fixed_cost,
                    unit_distance_cost=van.unit_distance_cost,
                    unit_duration_cost=van.unit_duration_cost,
                )
                for van in problem.vehicle_types
            ],
            distance_matrices=[cost],
            duration_matrices=[travel],
            groups=groups,
        )
        self.catalogue = _Catalogue(
            data=self.data,
            stop_of_client=tuple(self.stop_of_client),
            required=tuple(stop.required for stop in problem.stops),
            prizes=tuple(stop.prize for stop in problem.stops),
            fleet=tuple(van.count for van in problem.vehicle_types),
            roads=_Roads(
                cost=problem.cost,
                travel=problem.travel_time,
                location=tuple(self.client_location),
                service=tuple(client.service_duration for client in clients),
                early=tuple(client.tw_early for client in clients),
                late=tuple(client.tw_late for client in clients),
                vans=tuple(
                    (
                        van.start_depot,
                        van.end_depot,
                        van.shift_start + problem.service_time(van.start_depot),
                        van.shift_end,
                    )
                    for van in problem.vehicle_types
                ),
                prices=tuple(
                    (van.fixed_cost, van.unit_distance_cost, van.unit_duration_cost)
                    for van in problem.vehicle_types
                ),
            ),
        )

    def _reachable(self, place: Place, travel: np.ndarray[Any, Any]) -> bool:
        """Whether some van could leave its depot, serve this place in its window and be
        back in time; places that fail are dropped before the search sees them."""
        service = self.problem.service_time(place.location)
        for van in self.problem.vehicle_types:
            start_service = van.shift_start + self.problem.service_time(van.start_depot)
            arrival = start_service + int(travel[van.start_depot, place.location])
            begin = max(arrival, place.window.open)
            back = begin + service + int(travel[place.location, van.end_depot])
            if begin <= place.window.close and back <= van.shift_end:
                return True
        return False

    def pool_of(self, visits: Sequence[Visits]) -> RoutePool:
        """The routes of one solution, keyed as in the route pool."""
        return {
            (kind, frozenset(self.stop_of_client[c] for c in clients)): (cost, clients)
            for kind, cost, clients in visits
            if clients
        }

    def plan(self, visits: Sequence[Visits]) -> Plan:
        routes: list[Route] = []
        total = 0
        for vehicle_type, _, clients in visits:
            if not clients:
                continue
            locations = tuple(self.client_location[client] for client in clients)
            total += _route_cost(self.catalogue.roads, vehicle_type, clients, on_time=False) or 0
            routes.append(Route(vehicle_type=vehicle_type, locations=locations))
        served = {self.stop_of_client[c] for _, _, clients in visits for c in clients}
        total += sum(
            stop.prize
            for number, stop in enumerate(self.problem.stops)
            if not stop.required and number not in served
        )
        return Plan(routes=tuple(routes), cost=total)


# --- worker processes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Roads:
    """Plain-Python copies of what timing and costing a route needs, for the route
    repairs done outside PyVRP (choosing places, dropping doubly served stops)."""

    cost: Sequence[Sequence[int]]
    travel: Sequence[Sequence[int]]
    location: tuple[int, ...]  # per client
    service: tuple[int, ...]
    early: tuple[int, ...]
    late: tuple[int, ...]
    vans: tuple[tuple[int, int, int, int], ...]  # start depot, end depot, leave at, back by
    prices: tuple[tuple[int, int, int], ...]  # fixed, per distance unit, per second


@dataclass(frozen=True, slots=True)
class _Catalogue:
    """What a worker process needs to know: the PyVRP data, which stop each client
    serves, which stops are required and what leaving an optional one out costs."""

    data: Any
    stop_of_client: tuple[int, ...]
    required: tuple[bool, ...]
    prizes: tuple[int, ...]
    fleet: tuple[int | None, ...]  # vans of each type, None for as many as needed
    roads: _Roads
    members: tuple[tuple[int, ...], ...] = field(init=False)

    def __post_init__(self) -> None:
        members: list[list[int]] = [[] for _ in self.required]
        for client, stop in enumerate(self.stop_of_client):
            members[stop].append(client)
        object.__setattr__(self, "members", tuple(tuple(group) for group in members))

    def missed_prizes(self, served: set[int]) -> int:
        return sum(
            prize
            for stop, (required, prize) in enumerate(zip(self.required, self.prizes, strict=True))
            if not required and stop not in served
        )


_WORKER: _Catalogue | None = None


def _init_worker(catalogue: _Catalogue) -> None:
    global _WORKER
    _WORKER = catalogue
    # HiGHS greets on stdout when first created; plan output (JSON) must stay clean.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


@contextlib.contextmanager
def _worker_pool(workers: int, catalogue: _Catalogue) -> Iterator[Executor]:
    # Forking is fastest, and safe while this process runs no other thread (a CLI or the
    # benchmark); inside a threaded server the fork server avoids inheriting held locks.
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        method = "fork"
    elif "forkserver" in methods:
        method = "forkserver"
    else:
        method = "spawn"
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(catalogue,),
    )
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


class _Harvest(IteratedLocalSearchCallbacks):
    """Keeps every feasible route of every solution the local search produces."""

    def __init__(self, catalogue: _Catalogue) -> None:
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
            cost = _pyvrp_route_cost(route)
            known = pool.get(key)
            if known is None or cost < known[0]:
                # Re-choosing places jointly costs far less than the search step that
                # found the route, and often finds a cheaper column for the same stops.
                pool[key] = _improve_places(self.catalogue, route.vehicle_type(), clients, cost)


def _pyvrp_route_cost(route: Any) -> int:
    """What a PyVRP route costs in our objective: fixed, distance and duration costs."""
    return int(route.fixed_vehicle_cost()) + int(route.distance_cost()) + int(route.duration_cost())


def _visits_of(solution: Any) -> tuple[Visits, ...]:
    return tuple(
        (
            route.vehicle_type(),
            _pyvrp_route_cost(route),
            tuple(activity.idx for activity in route if activity.is_client()),
        )
        for route in solution.routes()
    )


def _search_task(
    seed: int,
    seconds: float,
    start_from: Sequence[Visits] | None,
    settings: SolverSettings,
    iterations: int | None = None,
    catalogue: _Catalogue | None = None,
    harvest: bool = True,
    fleet_limit: int | None = None,
) -> _SearchOutcome:
    catalogue = catalogue or _WORKER
    assert catalogue is not None
    data = catalogue.data
    if fleet_limit is not None and data.num_vehicle_types == 1:
        # Fewer vans than the plans met so far need (see `_squeezed_fleet`); the routes
        # found cost the same, so the harvest stays valid for the real problem.
        van = data.vehicle_type(0)
        data = data.replace(vehicle_types=[van.replace(num_available=fleet_limit)])
    pool = _Harvest(catalogue)
    initial = None
    if start_from is not None:
        routes = [pyvrp.Route(data, list(clients), kind) for kind, _, clients in start_from]
        initial = pyvrp.Solution(data, routes)
        pool.collect(initial)
    rng = pyvrp.RandomNumberGenerator(seed=seed)
    neighbourhood = NeighbourhoodParams(num_neighbours=settings.num_neighbours)
    neighbours = _group_neighbours(
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
    penalty = PenaltyParams()
    penalties = PenaltyManager(penalty.midpoint_penalties(data), penalty)
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
    return _SearchOutcome(cost, feasible, _visits_of(best), pool.pool)


def _group_neighbours(
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


# Fractions of the reduced-cost room tried in turn; 1.0 is the exact model.
_REDUCED_COST_STEPS = (0.0, 0.2, 1.0)


def _partition_task(
    pool: RoutePool,
    incumbent: Sequence[Visits],
    seconds: float,
    steps: Sequence[float] = _REDUCED_COST_STEPS,
) -> _Incumbent | None:
    catalogue = _WORKER
    assert catalogue is not None
    return _partition(catalogue, pool, incumbent, seconds, steps)


def _portfolio_steps(worker: int) -> tuple[float, ...]:
    """The reduced-cost steps of the `worker`-th member of a recombination portfolio: the
    first takes the usual steps, the others other column sets, so that one of them reaches
    an improvement the others' branch and bound would find too late."""
    if worker == 0:
        return _REDUCED_COST_STEPS
    if worker == 1:
        return (0.1, 0.4, 1.0)
    return (1.0,)


def _merge_pool(pool: RoutePool, more: RoutePool) -> None:
    for key, entry in more.items():
        known = pool.get(key)
        if known is None or entry[0] < known[0]:
            pool[key] = entry


def _partition(
    catalogue: _Catalogue,
    pool: RoutePool,
    incumbent: Sequence[Visits],
    seconds: float,
    steps: Sequence[float] = _REDUCED_COST_STEPS,
) -> _Incumbent | None:
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
    model = _PartitionModel(catalogue, pool)
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
    visits: Sequence[Visits] | None = _drop_repeats(
        catalogue, [(kind, clients) for kind, _, clients in chosen]
    )
    if visits is None:  # a repeat no route could give up in time; keep what we had
        visits = incumbent
    served = {catalogue.stop_of_client[c] for _, _, clients in visits for c in clients}
    cost = sum(route_cost for _, route_cost, _ in visits) + catalogue.missed_prizes(served)
    return _Incumbent(cost, tuple(visits))


class _PartitionModel:
    """The set-covering model over a route pool, as column-wise arrays for HiGHS; a
    column's cost and route may be lowered by re-choosing its places (`improve_places`)."""

    def __init__(self, catalogue: _Catalogue, pool: RoutePool) -> None:
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
            cost, clients = _improve_places(
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


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# A partial route in the place-choosing DP: clock after service, cost so far, location,
# client served last and the label it extends (None at the depot).
_Label = tuple[int, int, int, int, Any]


def _route_cost(
    roads: _Roads, kind: int, clients: Sequence[int], on_time: bool = True
) -> int | None:
    """What driving `clients` in this order with a van of type `kind` costs, or None when
    a window or the shift end is missed (waiting for a window to open is allowed; with
    `on_time=False` the cost of a late route is given all the same).

    The van leaves as late as every window allows (its duration is what the driver is
    paid for): the earliest walk gives the end, and the windows' slack the latest start."""
    if not clients:
        return 0
    here, end, clock, back_by = roads.vans[kind]
    fixed, per_distance, per_second = roads.prices[kind]
    leave = clock
    distance = 0
    unhurried = 0  # from departure to here, without waiting
    latest = back_by  # latest departure that keeps every window
    late = False
    for client in clients:
        location = roads.location[client]
        distance += roads.cost[here][location]
        leg = roads.travel[here][location]
        unhurried += leg
        latest = min(latest, roads.late[client] - unhurried)
        begin = max(clock + leg, roads.early[client])
        late = late or begin > roads.late[client]
        unhurried += roads.service[client]
        clock = begin + roads.service[client]
        here = location
    leg = roads.travel[here][end]
    clock += leg
    unhurried += leg
    late = late or clock > back_by
    if late and on_time:
        return None
    latest = min(latest, back_by - unhurried)
    duration = max(unhurried, clock - max(latest, leave))
    return fixed + per_distance * (distance + roads.cost[here][end]) + per_second * duration


def _best_places(
    catalogue: _Catalogue, kind: int, stops: Sequence[int]
) -> tuple[int, tuple[int, ...]] | None:
    """The cheapest choice of one place per stop for visiting `stops` in this order, or None
    when no choice keeps every window. Labels are (clock, cost) Pareto fronts per place:
    the local search changes one stop's place at a time, this changes them jointly."""
    roads = catalogue.roads
    start, end, clock, back_by = roads.vans[kind]
    cost, travel = roads.cost, roads.travel
    labels: list[_Label] = [(clock, 0, start, -1, None)]
    for stop in stops:
        extended: list[_Label] = []
        for client in catalogue.members[stop]:
            location = roads.location[client]
            early, late, service = roads.early[client], roads.late[client], roads.service[client]
            reached: list[_Label] = []
            for label in labels:
                here = label[2]
                begin = max(label[0] + travel[here][location], early)
                if begin <= late:
                    reached.append(
                        (begin + service, label[1] + cost[here][location], location, client, label)
                    )
            reached.sort(key=lambda entry: (entry[0], entry[1]))
            cheapest = math.inf
            for entry in reached:
                if entry[1] < cheapest:
                    extended.append(entry)
                    cheapest = entry[1]
        if not extended:
            return None
        labels = extended
    best: tuple[int, _Label] | None = None
    for label in labels:
        here = label[2]
        if label[0] + travel[here][end] <= back_by:
            total = label[1] + cost[here][end]
            if best is None or total < best[0]:
                best = (total, label)
    if best is None:
        return None
    clients: list[int] = []
    walk: _Label | None = best[1]
    while walk is not None and walk[3] >= 0:
        clients.append(walk[3])
        walk = walk[4]
    return best[0], tuple(reversed(clients))


def _improve_places(
    catalogue: _Catalogue, kind: int, clients: Sequence[int], cost: int
) -> PooledRoute:
    """The route (of known `cost`) with its places re-chosen when that is cheaper. The
    choice minimises the cost matrix; what it does to the van's time is judged after."""
    better = _best_places(catalogue, kind, [catalogue.stop_of_client[c] for c in clients])
    if better is None or better[1] == tuple(clients):
        return cost, tuple(clients)
    if catalogue.roads.prices[kind] != (0, 1, 0):
        priced = _route_cost(catalogue.roads, kind, better[1])
        if priced is None:
            return cost, tuple(clients)
        better = (priced, better[1])
    if better[0] < cost:
        return better
    return cost, tuple(clients)


def _drop_repeats(
    catalogue: _Catalogue, routes: Sequence[tuple[int, Sequence[int]]]
) -> list[Visits] | None:
    """Turn a set cover into a plan: while a stop is served twice, take it out of the route
    where that saves most and keeps the route on time; then re-choose every route's places.
    None when some repeat cannot be removed from any route in time."""
    roads = catalogue.roads
    current = [list(clients) for _, clients in routes]
    kinds = [kind for kind, _ in routes]
    costs = [
        _route_cost(roads, kind, clients) for kind, clients in zip(kinds, current, strict=True)
    ]
    while True:
        servers: dict[int, list[int]] = {}
        for number, clients in enumerate(current):
            for client in clients:
                servers.setdefault(catalogue.stop_of_client[client], []).append(number)
        repeats = {stop: numbers for stop, numbers in servers.items() if len(numbers) > 1}
        if not repeats:
            break
        move: tuple[int, int, int, int] | None = None  # saving, route, client, new cost
        for stop, numbers in repeats.items():
            for number in numbers:
                old = costs[number]
                if old is None:
                    continue
                clients = current[number]
                client = next(c for c in clients if catalogue.stop_of_client[c] == stop)
                shorter = [c for c in clients if c != client]
                new = _route_cost(roads, kinds[number], shorter)
                if new is not None and (move is None or old - new > move[0]):
                    move = (old - new, number, client, new)
        if move is None:
            return None
        _, number, client, new = move
        current[number].remove(client)
        costs[number] = new
    visits: list[Visits] = []
    for kind, clients, cost in zip(kinds, current, costs, strict=True):
        if clients:
            if cost is None:  # untouched and already late: a route the search judged feasible
                return None
            cost, chosen = _improve_places(catalogue, kind, clients, cost)
            visits.append((kind, cost, chosen))
    return visits
