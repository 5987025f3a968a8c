"""A solve as rounds of parallel search and recombination within a time budget."""

from __future__ import annotations

import math
import time
from concurrent.futures import Future

from trunkdrop.dispatch.problem import Plan, Problem
from trunkdrop.dispatch.solver.catalogue import (
    Catalogue,
    Incumbent,
    RoutePool,
    SearchOutcome,
    Visits,
)
from trunkdrop.dispatch.solver.model import Translation
from trunkdrop.dispatch.solver.processes import available_cores, worker_pool
from trunkdrop.dispatch.solver.recombination import merge_pool, partition_task, portfolio_steps
from trunkdrop.dispatch.solver.search import search_task
from trunkdrop.dispatch.solver.settings import RoundLog, SolveLog, SolverSettings


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
    model = Translation(problem)
    outcome = search_task(
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
    workers = available_cores() if workers is None else workers
    if workers < 1:
        raise ValueError(f"At least one worker is needed, got {workers}.")
    if not problem.stops:
        return Plan(routes=(), cost=0), SolveLog()

    model = Translation(problem)
    deadline = started + seconds - min(settings.setup_reserve_seconds, 0.1 * seconds)
    incumbent: Incumbent | None = None
    pool: RoutePool = {}
    logs: list[RoundLog] = []
    # Time kept back for recombination after each search; learnt from the rounds so far,
    # since small pools solve in milliseconds and large ones may take seconds.
    expected_partition = settings.partition_min_seconds
    # Searches already running for the coming round, by worker number, and when that
    # round's searches end (None: decide when the round starts).
    early: dict[int, Future[SearchOutcome]] = {}
    search_end: float | None = None
    explorers = min(settings.explorers, workers - 1)
    stalled: tuple[Visits, ...] | None = None
    # How far a recombination has run past the time it was given: moving a large pool to
    # its process and building its model are not bounded by the MIP's limit. The last one
    # is given that much less, so that the solve ends within its budget.
    overrun = 0.0
    with worker_pool(workers, model.catalogue) as executor:
        for round_number in range(settings.rounds):
            rounds_left = settings.rounds - round_number
            round_started = time.perf_counter()
            round_seconds = (deadline - round_started) / rounds_left
            partition_cap = partition_time_cap(settings, round_seconds)
            partition_seconds = min(expected_partition, partition_cap, 0.5 * round_seconds)
            if rounds_left == 1:
                partition_seconds = last_partition_seconds(
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
                    search_task,
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
                merge_pool(pool, outcome.pool)
                # Fingerprints may collide in the harvest; the best plan's routes must be in.
                # Not those of a plan that breaks windows (a squeezed fleet's, say): the
                # model takes every column for an on-time route.
                if outcome.feasible:
                    merge_pool(pool, model.pool_of(outcome.visits))
                if outcome.feasible and (search_best is None or outcome.cost < search_best):
                    search_best = outcome.cost
                candidate = Incumbent(outcome.cost, outcome.visits, outcome.feasible)
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
                    next_partition = last_partition_seconds(
                        settings, expected_partition, next_seconds
                    )
                search_end = searched + limit + max(next_seconds - next_partition, 0.05)
                # Worker 0 is never started early: the recombination needs a process too.
                first = 0 if next_round < settings.fresh_rounds else workers - explorers
                squeeze = squeezed_fleet(model.catalogue, incumbent, settings)
                for i in range(max(first, 1), workers):
                    early[i] = executor.submit(
                        search_task,
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
                        partition_task,
                        pool,
                        incumbent.visits,
                        max(limit, 0.05),
                        portfolio_steps(i),
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
                        merge_pool(pool, model.pool_of(incumbent.visits))
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


def last_partition_seconds(
    settings: SolverSettings, expected: float, round_seconds: float
) -> float:
    """Time kept for the last recombination, which cannot spill into a later round and
    works on the largest pool: the pool at the end is two to three times the size of the
    first round's, and the MIP's time grows faster than the pool, so three times what an
    earlier recombination is expected to take, within the usual cap. A pool that an earlier
    round recombined in a blink keeps little time idle at the end."""
    wanted = max(settings.partition_min_seconds, 3.0 * expected)
    return min(wanted, partition_time_cap(settings, round_seconds), 0.5 * round_seconds)


def partition_time_cap(settings: SolverSettings, round_seconds: float) -> float:
    """The most time a recombination may take in a round of `round_seconds`."""
    return max(settings.partition_min_seconds, settings.partition_share * round_seconds)


def squeezed_fleet(
    catalogue: Catalogue, incumbent: Incumbent, settings: SolverSettings
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
