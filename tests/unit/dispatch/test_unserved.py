"""Stops no van can serve are left out of the plan, each with the reason why."""

from __future__ import annotations

from dataclasses import replace

from trunkdrop.dispatch.checker import check_plan
from trunkdrop.dispatch.problem import (
    Location,
    Place,
    Plan,
    Problem,
    Route,
    Stop,
    VehicleType,
    Window,
)
from trunkdrop.dispatch.solver import solve_repeatable
from trunkdrop.dispatch.unserved import Unserved, unserved_stops

SIZE = 6
# Depot 0, stops at 1..5; every leg takes 100 s and costs 100.
LEGS = tuple(tuple(0 if i == j else 100 for j in range(SIZE)) for i in range(SIZE))


def zone(
    *, windows: dict[int, Window] | None = None, count: int = 2, capacity: int = 10
) -> Problem:
    """Five optional stops (windows given per location, else all day), `count` vans leaving at 1000."""
    windows = windows or {}
    stops = tuple(
        Stop(f"s{i}", (Place(i, windows.get(i, Window(0, 20_000))),), demand=2, required=False)
        for i in range(1, SIZE)
    )
    base = Problem(
        name="zone",
        locations=tuple(Location(i) for i in range(SIZE)),
        stops=stops,
        vehicle_types=(
            VehicleType(
                capacity=capacity, shift_start=1000, shift_end=20_000, count=count,
                fixed_cost=5_000, unit_duration_cost=2,
            ),
        ),
        cost=LEGS,
        travel_time=LEGS,
    )  # fmt: skip
    prize = base.sure_prize()
    return replace(base, stops=tuple(replace(s, prize=prize) for s in stops))


def test_one_unreachable_window_leaves_the_rest_of_the_zone_planned() -> None:
    """A window that closes before any van can get there: that stop is left out, every other one is served."""
    problem = zone(windows={3: Window(0, 900)})
    plan = solve_repeatable(problem, iterations=200, seed=1)
    assert check_plan(problem, plan).feasible
    served = {location for route in plan.routes for location in route.locations}
    assert served == {1, 2, 4, 5}
    assert unserved_stops(problem, plan) == {2: Unserved.window_unreachable}


def test_a_place_reached_in_its_window_but_too_far_to_return_is_a_shift_reason() -> None:
    """A window opening so late that the van cannot be back by the shift's end: reason shift."""
    problem = zone(windows={2: Window(19_950, 19_990)})
    plan = Plan(routes=(Route(0, (1, 3, 4, 5)),), cost=0)
    assert unserved_stops(problem, plan) == {1: Unserved.shift}


def test_no_room_left_in_any_van_is_a_capacity_reason() -> None:
    """Every van that could go is full: reason capacity."""
    problem = zone(count=1, capacity=8)
    plan = Plan(routes=(Route(0, (1, 2, 3, 4)),), cost=0)
    assert unserved_stops(problem, plan) == {4: Unserved.capacity}


def test_room_but_no_time_left_is_a_no_van_reason() -> None:
    """Vans with room but no time to fit the stop in: reason no_van."""
    problem = zone(windows={5: Window(1100, 1100), 1: Window(1100, 1100)}, count=1)
    plan = Plan(routes=(Route(0, (1, 2, 3, 4)),), cost=0)
    assert unserved_stops(problem, plan) == {4: Unserved.no_van}


def test_the_sure_prize_outweighs_a_whole_extra_van() -> None:
    """Serving a stop alone on a van of its own costs less than the prize of leaving it out."""
    problem = zone()
    van = problem.vehicle_types[0]
    alone = van.fixed_cost + 2 * 100 + van.unit_duration_cost * 200
    assert problem.sure_prize() > alone


def test_the_checker_counts_fixed_distance_and_duration_costs() -> None:
    """A route's cost is its van's fixed cost, distance times its rate and its shortest duration times its rate."""
    problem = zone(windows={2: Window(5_000, 6_000)})
    plan = Plan(routes=(Route(0, (1, 2)),), cost=0)
    report = check_plan(problem, plan)
    # The van leaves at 4800 (not 1000), waits nowhere: 300 s on the road; 300 cost units.
    unserved = sum(stop.prize for stop in problem.stops[2:])
    assert report.cost == 5_000 + 300 + 2 * 300 + unserved
