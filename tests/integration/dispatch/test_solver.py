"""The PyVRP + HiGHS solver returns plans the independent checker accepts, within budget."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from trunkdrop.dispatch.checker import check_plan
from trunkdrop.dispatch.instances import read_instance
from trunkdrop.dispatch.plan_cli import plan_command
from trunkdrop.dispatch.problem import Location, Place, Problem, Stop, VehicleType, Window
from trunkdrop.dispatch.solver.catalogue import RoutePool
from trunkdrop.dispatch.solver.model import Translation
from trunkdrop.dispatch.solver.places import route_cost
from trunkdrop.dispatch.solver.recombination import merge_pool, partition, portfolio_steps
from trunkdrop.dispatch.solver.rounds import solve, solve_repeatable, solve_with_log
from trunkdrop.dispatch.solver.search import search_task
from trunkdrop.dispatch.solver.settings import SolverSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vrprdl_dir() -> Path:
    """The VRPRDL instances, found as the benchmark finds them; skip when absent."""
    from_env = os.environ.get("TRUNKDROP_VRPRDL_DIR")
    repo = Path(__file__).resolve().parents[3]
    directory = Path(from_env) if from_env else repo.parent / "shared" / "data" / "vrprdl"
    if not directory.is_dir():
        pytest.skip(f"VRPRDL instances not found in {directory}")
    return directory


# Each small instance solved for about a second; costs a long run reaches, as a sanity bound.
SMALL = {"0": 901, "1": 1286, "2": 991, "3": 1062, "4": 1832, "5": 1294, "10": 1922}


@pytest.mark.parametrize("number", sorted(SMALL))
def test_small_instance_plan_is_feasible_and_checked(vrprdl_dir: Path, number: str) -> None:
    """A 1 s solve of each small instance is feasible per the checker, its claimed cost is
    the recomputed one, and it is within 1% of the best known cost."""
    problem = read_instance(vrprdl_dir / f"instance_{number}-triangle.vrp")
    plan = solve(problem, seconds=1.0, seed=int(number))
    report = check_plan(problem, plan)
    assert report.violations == ()
    assert report.cost == plan.cost
    assert report.cost <= SMALL[number] * 1.01


def test_recombination_runs_and_never_worsens(vrprdl_dir: Path) -> None:
    """On instance_20 (60 customers) every round's set partition is at most the best
    local-search cost, and the whole solve keeps to its time budget."""
    problem = read_instance(vrprdl_dir / "instance_20-triangle.vrp")
    started = time.perf_counter()
    plan, log = solve_with_log(problem, seconds=3.0, seed=1, settings=SolverSettings(rounds=2))
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0 + 1.0
    assert log.rounds
    for entry in log.rounds:
        assert entry.pool_size > 0
        assert entry.search_cost is not None
        assert entry.partition_cost is not None
        assert entry.partition_cost <= entry.search_cost
    report = check_plan(problem, plan)
    assert report.feasible
    assert report.cost == plan.cost <= 3761 * 1.01


def test_pooled_routes_cost_what_they_claim(vrprdl_dir: Path) -> None:
    """Every route harvested by a short search, places re-chosen, is on time and costs what
    the pool says: the recombination can trust the pool's costs."""
    model = Translation(read_instance(vrprdl_dir / "instance_10-triangle.vrp"))
    outcome = search_task(3, 0.0, None, SolverSettings(), iterations=200, catalogue=model.catalogue)
    assert outcome.pool
    for (kind, stops), (cost, clients) in outcome.pool.items():
        assert route_cost(model.catalogue.roads, kind, clients) == cost
        assert {model.stop_of_client[client] for client in clients} == stops


def test_squeezed_search_keeps_its_fleet_and_pools_only_on_time_routes(
    vrprdl_dir: Path,
) -> None:
    """A search allowed fewer vans than a plan needs uses at most that many routes, and every
    route it pools is on time, even when its own best plan breaks windows."""
    model = Translation(read_instance(vrprdl_dir / "instance_10-triangle.vrp"))
    free = search_task(3, 0.0, None, SolverSettings(), iterations=200, catalogue=model.catalogue)
    routes = sum(1 for _, _, clients in free.visits if clients)
    for limit in (routes - 1, 1):
        squeezed = search_task(
            3,
            0.0,
            None,
            SolverSettings(),
            iterations=200,
            catalogue=model.catalogue,
            fleet_limit=limit,
        )
        assert sum(1 for _, _, clients in squeezed.visits if clients) <= limit
        for (kind, _), (cost, clients) in squeezed.pool.items():
            assert route_cost(model.catalogue.roads, kind, clients) == cost
    assert not squeezed.feasible  # one van cannot serve instance_10 on time


@pytest.mark.parametrize("worker", [0, 1, 2])
def test_every_portfolio_member_recombines_into_a_checked_plan(
    vrprdl_dir: Path, worker: int
) -> None:
    """Whatever its column steps, a recombination of two searches' routes is a plan the
    checker accepts, costing at most the better search's plan."""
    problem = read_instance(vrprdl_dir / "instance_10-triangle.vrp")
    model = Translation(problem)
    outcomes = [
        search_task(seed, 0.0, None, SolverSettings(), iterations=150, catalogue=model.catalogue)
        for seed in (1, 2)
    ]
    pool: RoutePool = {}
    for outcome in outcomes:
        merge_pool(pool, outcome.pool)
    best = min(outcomes, key=lambda outcome: outcome.cost)
    chosen = partition(model.catalogue, pool, best.visits, 5.0, portfolio_steps(worker))
    assert chosen is not None
    assert chosen.cost <= best.cost
    plan = model.plan(chosen.visits)
    report = check_plan(problem, plan)
    assert report.violations == ()
    assert report.cost == plan.cost == chosen.cost


def test_repeatable_solve_is_repeatable(vrprdl_dir: Path) -> None:
    """The iteration-bounded solve gives the same checked plan for the same seed."""
    problem = read_instance(vrprdl_dir / "instance_5-triangle.vrp")
    first = solve_repeatable(problem, iterations=300, seed=7)
    second = solve_repeatable(problem, iterations=300, seed=7)
    assert first == second
    assert check_plan(problem, first).feasible


def test_single_worker_solves_too(vrprdl_dir: Path) -> None:
    """With one worker process the solver still returns a checked, feasible plan."""
    problem = read_instance(vrprdl_dir / "instance_3-triangle.vrp")
    plan = solve(problem, seconds=1.0, workers=1)
    assert check_plan(problem, plan).feasible


def tiny_problem() -> Problem:
    """Stop "a" may be met early at 1 (too far to reach in time) or late at 2."""
    cost = ((0, 1, 4, 3), (1, 0, 3, 2), (4, 3, 0, 1), (3, 2, 1, 0))
    travel = tuple(tuple(10 * entry for entry in row) for row in cost)
    return Problem(
        name="tiny",
        locations=tuple(Location(i + 1) for i in range(4)),
        stops=(
            Stop("a", (Place(1, Window(0, 5)), Place(2, Window(60, 80))), demand=1),
            Stop("b", (Place(3, Window(0, 100)),), demand=1),
        ),
        vehicle_types=(VehicleType(capacity=5, shift_start=0, shift_end=120),),
        cost=cost,
        travel_time=travel,
    )


def test_unreachable_alternative_is_avoided() -> None:
    """The solver serves a stop at the alternative that can still be reached in time."""
    problem = tiny_problem()
    plan = solve(problem, seconds=0.5, workers=1)
    report = check_plan(problem, plan)
    assert report.feasible
    assert sorted(location for route in plan.routes for location in route.locations) == [2, 3]
    assert report.cost == 8  # depot -> 3 -> 2 -> depot, waiting at 2 until it opens


def test_limited_vans_from_two_depots_are_respected() -> None:
    """With one van at each of two depots, the plan uses at most one route per van type,
    each starting from its own depot, and the checker accepts it."""
    size = 6  # depots 0 and 1, places 2..5 on a line
    cost = tuple(tuple(abs(i - j) for j in range(size)) for i in range(size))
    problem = Problem(
        name="two vans",
        locations=tuple(Location(i + 1) for i in range(size)),
        stops=tuple(Stop(str(i), (Place(i, Window(0, 100)),), demand=1) for i in range(2, 6)),
        vehicle_types=(
            VehicleType(capacity=3, shift_start=0, shift_end=100, start_depot=0, count=1),
            VehicleType(capacity=3, shift_start=0, shift_end=100, start_depot=1, count=1),
        ),
        cost=cost,
        travel_time=cost,
    )
    plan = solve(problem, seconds=1.0, workers=1)
    report = check_plan(problem, plan)
    assert report.violations == ()
    assert sorted(route.vehicle_type for route in plan.routes) == [0, 1]


def test_solving_from_a_thread_works(vrprdl_dir: Path) -> None:
    """Called from a worker thread (as a web server would), the solver avoids forking the
    threaded process and still returns a checked, feasible plan."""
    problem = read_instance(vrprdl_dir / "instance_0-triangle.vrp")
    with ThreadPoolExecutor(max_workers=1) as threads:
        plan = threads.submit(solve, problem, seconds=1.5).result()
    assert check_plan(problem, plan).feasible


def test_problem_without_stops_gives_empty_plan() -> None:
    """Nothing to deliver means no route and no cost."""
    problem = Problem(
        name="empty",
        locations=(Location(1),),
        stops=(),
        vehicle_types=(VehicleType(capacity=1, shift_start=0, shift_end=10),),
        cost=((0,),),
        travel_time=((0,),),
    )
    plan = solve(problem, seconds=1.0)
    assert plan.routes == ()
    assert plan.cost == 0


def test_non_positive_budget_is_refused() -> None:
    """A zero or negative time budget raises a plain ValueError."""
    with pytest.raises(ValueError, match="time budget must be positive and finite"):
        solve(tiny_problem(), seconds=0)


def test_plan_command_prints_one_json_object(
    vrprdl_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan --json` prints exactly one JSON object with 1-based location ids, depot excluded."""
    code = plan_command(vrprdl_dir / "instance_1-triangle.vrp", 1.0, 0, True)
    output = capsys.readouterr().out
    assert code == 0
    document = json.loads(output)
    assert output.strip().count("\n") == 0
    assert set(document) == {
        "instance",
        "cost",
        "feasible",
        "routes",
        "loads",
        "unplanned",
        "seconds",
    }
    # The benchmark files hold deliveries only, one load entry per stop of each route.
    assert [len(r) for r in document["loads"]] == [len(r) for r in document["routes"]]
    assert {load for route in document["loads"] for load in route} == {"delivery"}
    assert document["unplanned"] == []
    assert document["instance"] == "instance_1-triangle"
    assert document["feasible"] is True
    ids = [location for route in document["routes"] for location in route]
    assert 1 not in ids
    assert len(ids) == 15
    assert isinstance(document["cost"], int)


def test_plan_command_prints_routes_as_text(
    vrprdl_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --json the command prints the checked cost and one line per route."""
    code = plan_command(vrprdl_dir / "instance_2-triangle.vrp", 0.5, 0, False)
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].startswith("instance_2-triangle: cost ")
    assert "feasible (checked)" in lines[0]
    assert all(line.startswith("route ") for line in lines[1:])


def test_plan_command_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing instance file gives one line on stderr naming it and exit code 2."""
    missing = tmp_path / "absent.vrp"
    assert plan_command(missing, 1.0, 0, True) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"error: instance file {missing} does not exist"


def test_plan_command_malformed_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that is not a VRPRDL instance gives one line naming it and exit code 2."""
    bad = tmp_path / "bad.vrp"
    bad.write_text("this is not an instance\n", encoding="utf-8")
    assert plan_command(bad, 1.0, 0, False) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bad}, line 1: ")
    assert "\n" not in err


@pytest.mark.parametrize("seconds", [0.0, -3.0, float("nan"), float("inf")])
def test_plan_command_bad_seconds_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seconds: float
) -> None:
    """A non-positive or non-finite --seconds is refused with exit code 2."""
    assert plan_command(tmp_path / "x.vrp", seconds, 0, True) == 2
    assert "--seconds must be a positive number" in capsys.readouterr().err
