"""The checker recomputes cost and feasibility itself and catches every hand-made fault."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trunkdrop.dispatch.checker import check_plan
from trunkdrop.dispatch.instances import read_instance
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


@pytest.fixture(scope="module")
def vrprdl_dir() -> Path:
    """The VRPRDL instances, found as the benchmark finds them; skip when absent."""
    from_env = os.environ.get("TRUNKDROP_VRPRDL_DIR")
    repo = Path(__file__).resolve().parents[3]
    directory = Path(from_env) if from_env else repo.parent / "shared" / "data" / "vrprdl"
    if not directory.is_dir():
        pytest.skip(f"VRPRDL instances not found in {directory}")
    return directory


# Depot 0; stop "a" at 1 (early) or 2 (late); stop "b" at 3; stop "c" at 4.
# Every leg costs 10 and takes 10 seconds, except legs touching location 2 (cost 20).
COST = (
    (0, 10, 20, 10, 10),
    (10, 0, 20, 10, 10),
    (20, 20, 0, 20, 20),
    (10, 10, 20, 0, 10),
    (10, 10, 20, 10, 0),
)
TIME = tuple(tuple(10 if i != j else 0 for j in range(5)) for i in range(5))


def problem() -> Problem:
    """Three stops, one with two alternative places; vans of capacity 10 until time 100."""
    return Problem(
        name="hand",
        locations=tuple(Location(i + 1) for i in range(5)),
        stops=(
            Stop("a", (Place(1, Window(0, 15)), Place(2, Window(50, 90))), demand=4),
            Stop("b", (Place(3, Window(0, 100)),), demand=4),
            Stop("c", (Place(4, Window(25, 40)),), demand=4),
        ),
        vehicle_types=(VehicleType(capacity=10, shift_start=0, shift_end=100),),
        cost=COST,
        travel_time=TIME,
    )


def good_plan() -> Plan:
    """a at 1 (t=10), c at 4 (wait to 25); then b alone: 10+10+10 + 10+10 = 50."""
    return Plan(routes=(Route(0, (1, 4)), Route(0, (3,))), cost=50)


def test_correct_plan_passes_with_recomputed_cost() -> None:
    """A feasible plan with the right cost has no violation and waiting is allowed."""
    report = check_plan(problem(), good_plan())
    assert report.violations == ()
    assert report.feasible
    assert report.cost == 50


def test_visit_after_the_window_closed_is_caught() -> None:
    """Reaching a place after its window closes is a violation naming stop and times."""
    plan = Plan(routes=(Route(0, (3, 1)), Route(0, (4,))), cost=50)
    report = check_plan(problem(), plan)
    assert not report.feasible
    assert report.violations == (
        "Route 1 reaches stop a at location 2 at 20, after its window 0-15 closed.",
    )


def test_over_capacity_is_caught() -> None:
    """Three parcels of 4 in a van of 10 is reported with the load and capacity."""
    plan = Plan(routes=(Route(0, (1, 4, 3)),), cost=40)
    report = check_plan(problem(), plan)
    assert report.violations == ("Route 1 carries 12 units, more than the van's 10.",)


def test_stop_served_twice_is_caught() -> None:
    """Serving a stop at two of its alternatives counts as serving it twice."""
    plan = Plan(routes=(Route(0, (1, 4)), Route(0, (3, 2))), cost=100)
    report = check_plan(problem(), plan)
    assert "Stop a is served 2 times (routes 1, 2)." in report.violations


def test_stop_never_served_is_caught() -> None:
    """A required stop left out is reported."""
    plan = Plan(routes=(Route(0, (1, 4)),), cost=30)
    report = check_plan(problem(), plan)
    assert report.violations == ("Stop b is never served.",)


def test_mis_added_cost_is_caught() -> None:
    """A claimed cost that differs from the recomputed one is a violation."""
    plan = Plan(routes=good_plan().routes, cost=49)
    report = check_plan(problem(), plan)
    assert report.cost == 50
    assert report.claimed_cost == 49
    assert report.violations == ("The plan claims cost 49 but its routes cost 50.",)


def test_late_return_to_depot_is_caught() -> None:
    """Coming back after the shift ends is reported."""
    late = Problem(
        name="late",
        locations=problem().locations,
        stops=problem().stops,
        vehicle_types=(VehicleType(capacity=10, shift_start=0, shift_end=30),),
        cost=COST,
        travel_time=TIME,
    )
    report = check_plan(late, good_plan())
    assert report.violations == ("Route 1 is back at the depot at 35, after the shift ends at 30.",)


def test_visit_to_a_location_of_no_stop_is_caught() -> None:
    """A route through the depot or an unknown index is reported."""
    plan = Plan(routes=(Route(0, (1, 4, 0)), Route(0, (3, 9))), cost=50)
    report = check_plan(problem(), plan)
    assert "Route 1 visits location 1, which is no stop's place." in report.violations
    assert "Route 2 visits location index 9, which does not exist." in report.violations


def test_unknown_van_type_is_caught() -> None:
    """A route on a van type that does not exist is reported."""
    plan = Plan(routes=(Route(3, (1, 4)), Route(0, (3,))), cost=50)
    report = check_plan(problem(), plan)
    assert "Route 1 uses van type 3, which does not exist." in report.violations


def test_limited_fleet_is_enforced() -> None:
    """Using more vans of a type than exist is reported."""
    one_van = Problem(
        name="one",
        locations=problem().locations,
        stops=problem().stops,
        vehicle_types=(VehicleType(capacity=10, shift_start=0, shift_end=100, count=1),),
        cost=COST,
        travel_time=TIME,
    )
    report = check_plan(one_van, good_plan())
    assert report.violations == ("The plan uses 2 vans of type 0; 1 exist.",)


def test_optional_stop_left_out_costs_its_prize() -> None:
    """Leaving out an optional stop is allowed and adds its prize to the cost."""
    base = problem()
    optional_b = Stop("b", base.stops[1].places, demand=4, required=False, prize=7)
    relaxed = Problem(
        name="optional",
        locations=base.locations,
        stops=(base.stops[0], optional_b, base.stops[2]),
        vehicle_types=base.vehicle_types,
        cost=COST,
        travel_time=TIME,
    )
    report = check_plan(relaxed, Plan(routes=(Route(0, (1, 4)),), cost=37))
    assert report.violations == ()
    assert report.cost == 37


def test_hand_broken_published_plan_is_caught(vrprdl_dir: Path) -> None:
    """On instance_0, a one-stop-per-van plan at the first reachable place is checked
    alike: the checker finds the broken window and the double service."""
    instance = read_instance(vrprdl_dir / "instance_0-triangle.vrp")
    depot = instance.vehicle_types[0].start_depot
    routes = []
    for stop in instance.stops:
        reachable = [
            place
            for place in stop.places
            if instance.travel_time[depot][place.location] <= place.window.close
            and max(instance.travel_time[depot][place.location], place.window.open)
            + instance.travel_time[place.location][depot]
            <= 720
        ]
        routes.append(Route(0, (reachable[0].location,)))
    cost = sum(2 * instance.cost[depot][route.locations[0]] for route in routes)
    assert check_plan(instance, Plan(tuple(routes), cost)).feasible

    first_place = instance.stops[0].places[0]  # window 0-46, 139 s away from the depot
    broken = Plan((Route(0, (first_place.location,)), *routes), cost)
    report = check_plan(instance, broken)
    assert any("after its window 0-46 closed" in violation for violation in report.violations)
    assert "Stop 2 is served 2 times (routes 1, 2)." in report.violations
    assert any("claims cost" in violation for violation in report.violations)
