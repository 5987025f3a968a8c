"""The routing problem types refuse impossible input at construction, in plain English."""

from __future__ import annotations

import dataclasses

import pytest

from trunkdrop.dispatch.problem import (
    Location,
    MatrixError,
    Place,
    Problem,
    ProblemError,
    Stop,
    StopError,
    VehicleError,
    VehicleType,
    Window,
    WindowError,
)

SQUARE = ((0, 5, 7), (5, 0, 3), (7, 3, 0))


def make_problem(**changes: object) -> Problem:
    """A depot (0) and two one-place stops (1 and 2), with `changes` applied."""
    fields: dict[str, object] = {
        "name": "tiny",
        "locations": (Location(1), Location(2), Location(3)),
        "stops": (
            Stop("a", (Place(1, Window(0, 100)),), demand=3),
            Stop("b", (Place(2, Window(10, 50)),), demand=4),
        ),
        "vehicle_types": (VehicleType(capacity=10, shift_start=0, shift_end=200),),
        "cost": SQUARE,
        "travel_time": SQUARE,
    }
    fields.update(changes)
    return Problem(**fields)  # type: ignore[arg-type]


def test_valid_problem_maps_each_place_to_its_stop() -> None:
    """A well-formed problem builds and knows which stop owns each location."""
    problem = make_problem()
    assert problem.place_at[2] == (1, Place(2, Window(10, 50)))
    assert 0 not in problem.place_at
    assert problem.service_time(1) == 0


def test_window_closing_before_it_opens_is_refused() -> None:
    """A window whose close precedes its open raises WindowError naming both times."""
    with pytest.raises(WindowError, match=r"cannot close \(5\) before it opens \(9\)"):
        Window(9, 5)


def test_window_opening_before_time_zero_is_refused() -> None:
    """Negative times make no sense for a window."""
    with pytest.raises(WindowError, match="before time 0"):
        Window(-1, 5)


def test_stop_without_places_is_refused() -> None:
    """A stop needs at least one place to deliver at."""
    with pytest.raises(StopError, match="Stop 'x' has no place"):
        Stop("x", ())


def test_stop_listing_a_location_twice_is_refused() -> None:
    """Alternatives of one stop must be distinct locations."""
    with pytest.raises(StopError, match="twice"):
        Stop("x", (Place(1, Window(0, 5)), Place(1, Window(7, 9))))


def test_negative_demand_is_refused() -> None:
    """A parcel cannot take negative space."""
    with pytest.raises(StopError, match="negative demand"):
        Stop("x", (Place(1, Window(0, 5)),), demand=-1)


def test_demand_larger_than_every_van_is_refused() -> None:
    """A stop no van can carry is named together with the biggest capacity."""
    big = Stop("huge", (Place(1, Window(0, 100)),), demand=11)
    with pytest.raises(StopError, match=r"Stop 'huge' needs 11 .* biggest van holds 10"):
        make_problem(stops=(big,))


def test_matrix_with_too_few_rows_is_refused() -> None:
    """A cost matrix must have one row per location."""
    with pytest.raises(MatrixError, match="cost matrix has 2 rows for 3 locations"):
        make_problem(cost=SQUARE[:2])


def test_matrix_row_of_wrong_length_is_refused() -> None:
    """Every travel-time row must have one entry per location."""
    ragged = (SQUARE[0], (5, 0), SQUARE[2])
    with pytest.raises(MatrixError, match="Row 1 of the travel-time matrix has 2 entries"):
        make_problem(travel_time=ragged)


def test_negative_matrix_entry_is_refused() -> None:
    """Costs and travel times cannot be negative."""
    negative = ((0, -5, 7), (5, 0, 3), (7, 3, 0))
    with pytest.raises(MatrixError, match="negative"):
        make_problem(cost=negative)


def test_place_at_unknown_location_is_refused() -> None:
    """A place must point at one of the problem's locations."""
    lost = Stop("lost", (Place(7, Window(0, 100)),))
    with pytest.raises(StopError, match="location index 7"):
        make_problem(stops=(lost,))


def test_location_shared_by_two_stops_is_refused() -> None:
    """Each location belongs to at most one stop, so a route is unambiguous."""
    first = Stop("a", (Place(1, Window(0, 100)),))
    second = Stop("b", (Place(1, Window(0, 100)),))
    with pytest.raises(StopError, match="belongs to both stop 'a' and stop 'b'"):
        make_problem(stops=(first, second))


def test_place_at_the_depot_is_refused() -> None:
    """Parcels are not delivered at the depot."""
    at_depot = Stop("home", (Place(0, Window(0, 100)),))
    with pytest.raises(StopError, match="depot"):
        make_problem(stops=(at_depot,))


def test_shift_ending_before_it_starts_is_refused() -> None:
    """A van type's shift must not end before it starts."""
    with pytest.raises(VehicleError, match=r"cannot end \(10\) before it starts \(20\)"):
        VehicleType(capacity=5, shift_start=20, shift_end=10)


def test_depot_outside_the_locations_is_refused() -> None:
    """Depots must be locations of the problem."""
    van = VehicleType(capacity=10, shift_start=0, shift_end=200, end_depot=9)
    with pytest.raises(VehicleError, match="end depot 9"):
        make_problem(vehicle_types=(van,))


def test_problem_without_vans_is_refused() -> None:
    """At least one van type is needed to plan anything."""
    with pytest.raises(VehicleError, match="no van type"):
        make_problem(vehicle_types=())


def test_service_times_must_match_locations() -> None:
    """Service times are per location when given."""
    with pytest.raises(MatrixError, match="2 service times for 3 locations"):
        make_problem(service_times=(0, 1))


def test_every_problem_error_is_a_value_error() -> None:
    """Callers can catch ValueError for any invalid problem."""
    assert issubclass(ProblemError, ValueError)
    for error in (WindowError, StopError, VehicleError, MatrixError):
        assert issubclass(error, ProblemError)


def test_problem_types_are_frozen() -> None:
    """Problems and their parts cannot be changed after construction."""
    window = Window(0, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        window.open = 3  # type: ignore[misc]
    problem = make_problem()
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.name = "other"  # type: ignore[misc]
