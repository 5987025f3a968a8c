"""Mixed vans: deliveries leave and pickups join along one route, and the van's capacity
holds at every point of it, not only for the total it carries."""

from __future__ import annotations

from dataclasses import replace

from trunkdrop.dispatch.checker import check_plan, load_profile
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
from trunkdrop.dispatch.unserved import unserved_stops

SIZE = 17  # the depot and 16 stops
LEG = tuple(tuple(0 if i == j else 10 for j in range(SIZE)) for i in range(SIZE))


def mixed(
    *, delivery_window: Window = Window(0, 10_000), pickup_window: Window = Window(0, 10_000)
) -> Problem:
    """One van of capacity 10; 8 deliveries (locations 1-8) and 8 pickups (9-16) of 1 each."""
    deliveries = tuple(Stop(f"d{n}", (Place(n, delivery_window),), demand=1) for n in range(1, 9))
    pickups = tuple(Stop(f"p{n}", (Place(n, pickup_window),), pickup=1) for n in range(9, 17))
    return Problem(
        name="mixed",
        locations=tuple(Location(i, float(i), 0.0) for i in range(SIZE)),
        stops=deliveries + pickups,
        vehicle_types=(VehicleType(capacity=10, shift_start=0, shift_end=10_000, count=1),),
        cost=LEG,
        travel_time=LEG,
    )


def test_load_profile_drops_deliveries_and_adds_pickups() -> None:
    """The profile starts with every delivery aboard and moves by each stop's two loads."""
    route = Route(vehicle_type=0, locations=(1, 9, 10, 2))
    assert load_profile(mixed(), route) == [2, 1, 2, 3, 2]


def test_pickups_first_breaks_capacity_in_the_checker() -> None:
    """A route that collects all eight pickups before delivering overfills the van."""
    order = (*range(9, 17), *range(1, 9))
    plan = Plan(routes=(Route(0, order),), cost=170)
    report = check_plan(mixed(), plan)
    assert max(load_profile(mixed(), plan.routes[0])) == 16
    assert any("carries 16 units" in v for v in report.violations)


def test_one_van_serves_all_because_deliveries_leave_before_pickups_join() -> None:
    """16 units in a van of 10 fit only when deliveries leave before pickups join."""
    problem = mixed()
    plan = solve_repeatable(problem, iterations=2_000, seed=1)
    report = check_plan(problem, plan)
    assert report.feasible, report.violations
    assert len(plan.routes) == 1
    assert sorted(plan.routes[0].locations) == list(range(1, SIZE))
    assert max(load_profile(problem, plan.routes[0])) <= 10
    # Carried as deliveries from the depot, the same parcels could never fit.
    as_deliveries = replace(
        problem,
        stops=tuple(replace(s, demand=s.demand + s.pickup, pickup=0) for s in problem.stops),
    )
    assert sum(s.demand for s in as_deliveries.stops) > 10


def test_pickups_forced_first_are_left_out_rather_than_overfilling() -> None:
    """When windows force pickups before deliveries, the plan serves only what fits."""
    problem = mixed(delivery_window=Window(500, 10_000), pickup_window=Window(0, 400))
    prize = problem.sure_prize()
    problem = replace(
        problem, stops=tuple(replace(s, required=False, prize=prize) for s in problem.stops)
    )
    plan = solve_repeatable(problem, iterations=2_000, seed=1)
    report = check_plan(problem, plan)
    assert report.feasible, report.violations
    for route in plan.routes:
        assert max(load_profile(problem, route)) <= 10
    served = [location for route in plan.routes for location in route.locations]
    # k deliveries aboard leave room for 10 - k pickups before the first delivery, so no
    # plan serves more than 10 of the 16 stops, whatever the search prefers.
    assert len(served) == 10
    assert len(unserved_stops(problem, plan)) == 6
