"""Re-planning by insertion keeps a van's order and moves only the stops that miss a window."""

from __future__ import annotations

from trunkdrop.dispatch.insertion import cheapest_van, repair_route
from trunkdrop.dispatch.problem import Location, Place, Problem, Stop, VehicleType, Window

# Depot 0 and five places on a line, 10 s and 10 units apart: location i sits at i * 10.
SIZE = 6
LINE = tuple(tuple(abs(i - j) * 10 for j in range(SIZE)) for i in range(SIZE))


def problem(*stops: Stop, shift_end: int = 1_000) -> Problem:
    """One van from the depot at time 0; legs along the line."""
    return Problem(
        name="line",
        locations=tuple(Location(i) for i in range(SIZE)),
        stops=stops,
        vehicle_types=(VehicleType(capacity=10, shift_start=0, shift_end=shift_end),),
        cost=LINE,
        travel_time=LINE,
    )


def test_a_fallback_goes_where_its_window_holds_not_to_the_end() -> None:
    """A loose stop whose window closes early is inserted before the far stops; appending it
    (what a fallback got before) would reach it at 60, after its window closed at 25."""
    day = problem(
        Stop("near", (Place(1, Window(0, 1_000)),)),
        Stop("far", (Place(4, Window(0, 1_000)),)),
        Stop("fallback", (Place(2, Window(0, 25)),)),
    )
    assert repair_route(day, 0, [1, 4], [2]) == (1, 2, 4)


def test_the_order_stays_when_every_window_holds() -> None:
    """Stops that keep their windows are not re-ordered, even where another order is shorter:
    the driver follows the route they were given."""
    day = problem(
        Stop("a", (Place(3, Window(0, 1_000)),)),
        Stop("b", (Place(1, Window(0, 1_000)),)),
    )
    assert repair_route(day, 0, [3, 1], []) == (3, 1)


def test_a_late_stop_moves_forward_and_picks_its_cheapest_place() -> None:
    """A stop reached after its window closed is taken out and put back where it fits, at
    whichever of its places costs least (here the place on the way)."""
    day = problem(
        Stop("a", (Place(5, Window(0, 1_000)),)),
        Stop("late", (Place(4, Window(0, 30)), Place(3, Window(0, 100)))),
    )
    assert repair_route(day, 0, [5, 4], []) == (3, 5)


def test_a_stop_that_fits_nowhere_stays_on_the_van_at_the_end() -> None:
    """No parcel is dropped: a stop no position can serve in time goes last, at the place
    whose window closes latest."""
    day = problem(
        Stop("a", (Place(1, Window(0, 1_000)),)),
        Stop("hopeless", (Place(5, Window(0, 20)), Place(4, Window(0, 30)))),
    )
    assert repair_route(day, 0, [1], [1]) == (1, 4)


def two_vans(*stops: Stop, capacity: int = 10, starts: tuple[int, int] = (0, 0)) -> Problem:
    """Two vans from the depot, leaving at `starts`, each with a shift to 1,000."""
    return Problem(
        name="line",
        locations=tuple(Location(i) for i in range(SIZE)),
        stops=stops,
        vehicle_types=(
            VehicleType(capacity=capacity, shift_start=starts[0], shift_end=1_000),
            VehicleType(capacity=capacity, shift_start=starts[1], shift_end=1_000),
        ),
        cost=LINE,
        travel_time=LINE,
    )


def test_a_parcel_goes_on_the_van_that_reaches_its_place_in_time() -> None:
    """Van 0 leaves at 30 and cannot reach place 2 before its window closes at 25; van 1,
    out at 0, takes it between its two stops."""
    day = two_vans(
        Stop("far", (Place(5, Window(0, 1_000)),)),
        Stop("near", (Place(1, Window(0, 1_000)),)),
        Stop("moved", (Place(2, Window(0, 25)),)),
        Stop("later", (Place(3, Window(0, 1_000)),)),
        starts=(30, 0),
    )
    assert cheapest_van(day, {0: [5], 1: [1, 3]}, 2, {0: 1, 1: 2}) == (1, 1, 2)


def test_the_van_with_the_least_extra_cost_wins() -> None:
    """Both vans could serve place 4; van 1 already passes it at 5 and pays nothing extra."""
    day = two_vans(
        Stop("a", (Place(1, Window(0, 1_000)),)),
        Stop("b", (Place(5, Window(0, 1_000)),)),
        Stop("moved", (Place(4, Window(0, 1_000)),)),
    )
    assert cheapest_van(day, {0: [1], 1: [5]}, 2, {}) == (1, 0, 4)


def test_a_full_van_does_not_take_the_parcel() -> None:
    """The only van whose route fits carries its capacity already: no van qualifies."""
    day = two_vans(
        Stop("a", (Place(1, Window(0, 1_000)),), demand=1),
        Stop("moved", (Place(2, Window(0, 1_000)),), demand=1),
        capacity=1,
    )
    assert cheapest_van(day, {0: [1]}, 1, {0: 1}) is None


def test_no_van_that_would_break_another_window_takes_the_parcel() -> None:
    """Inserting the stop anywhere on van 0 makes its tight stop at 5 late (window closes
    at 50): the answer is no van, not a late delivery for someone else."""
    day = two_vans(
        Stop("tight", (Place(5, Window(0, 50)),)),
        Stop("moved", (Place(3, Window(40, 1_000)),)),
    )
    assert cheapest_van(day, {0: [5]}, 1, {0: 0}) == (0, 1, 3)
    day = two_vans(
        Stop("tight", (Place(5, Window(0, 50)),)),
        Stop("moved", (Place(3, Window(0, 20)),)),
    )
    assert cheapest_van(day, {0: [5]}, 1, {0: 0}) is None
