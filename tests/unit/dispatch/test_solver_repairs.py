"""The solver's route repairs outside PyVRP: joint choice of places for a fixed order of
stops, and turning a set cover into a plan by dropping doubly served stops."""

from __future__ import annotations

from trunkdrop.dispatch.checker import check_plan
from trunkdrop.dispatch.problem import Location, Place, Problem, Stop, VehicleType, Window
from trunkdrop.dispatch.solver.catalogue import Incumbent
from trunkdrop.dispatch.solver.model import Translation
from trunkdrop.dispatch.solver.places import best_places, drop_repeats, route_cost
from trunkdrop.dispatch.solver.recombination import REDUCED_COST_STEPS, portfolio_steps
from trunkdrop.dispatch.solver.rounds import squeezed_fleet
from trunkdrop.dispatch.solver.settings import SolverSettings

# Depot 0; stop "a" at 1 or 2, stop "b" at 3 or 4. Going to the nearest place of each stop
# in turn (1 then 3) costs 7; the joint choice 2 then 4 costs 5.
JOINT = (
    (0, 1, 2, 1, 2),
    (1, 0, 3, 5, 5),
    (2, 3, 0, 5, 1),
    (1, 5, 5, 0, 4),
    (2, 5, 1, 4, 0),
)


def two_stop_problem(close_of_4: int) -> Problem:
    """Stops "a" (places 1, 2) and "b" (places 3, 4); travel times equal costs."""
    wide = Window(0, 100)
    return Problem(
        name="joint places",
        locations=tuple(Location(i + 1) for i in range(5)),
        stops=(
            Stop("a", (Place(1, wide), Place(2, wide)), demand=1),
            Stop("b", (Place(3, wide), Place(4, Window(0, close_of_4))), demand=1),
        ),
        vehicle_types=(VehicleType(capacity=5, shift_start=0, shift_end=100),),
        cost=JOINT,
        travel_time=JOINT,
    )


def locations_of(model: Translation, clients: tuple[int, ...]) -> list[int]:
    """The location index of each PyVRP client."""
    return [model.client_location[client] for client in clients]


def test_places_are_chosen_jointly() -> None:
    """For the order a, b the cheapest places are 2 then 4 (cost 5), not the nearest ones."""
    model = Translation(two_stop_problem(close_of_4=100))
    found = best_places(model.catalogue, 0, [0, 1])
    assert found is not None
    cost, clients = found
    assert cost == 5
    assert locations_of(model, clients) == [2, 4]


def test_place_choice_keeps_windows() -> None:
    """When place 4 closes before a van coming from stop a can reach it, b is met at 3."""
    model = Translation(two_stop_problem(close_of_4=2))
    found = best_places(model.catalogue, 0, [0, 1])
    assert found is not None
    cost, clients = found
    assert locations_of(model, clients) == [1, 3]
    assert cost == 7 == route_cost(model.catalogue.roads, 0, clients)


def test_no_place_choice_when_every_window_is_missed() -> None:
    """A shift too short to serve both stops in any way gives no choice at all."""
    problem = two_stop_problem(close_of_4=100)
    short = Problem(
        name="short shift",
        locations=problem.locations,
        stops=problem.stops,
        vehicle_types=(VehicleType(capacity=5, shift_start=0, shift_end=4),),
        cost=problem.cost,
        travel_time=problem.travel_time,
    )
    assert best_places(Translation(short).catalogue, 0, [0, 1]) is None


def line_problem() -> Problem:
    """Depot 0 and one-place stops at 1, 2, 3 on a line; a leg costs its length."""
    size = 4
    line = tuple(tuple(abs(i - j) for j in range(size)) for i in range(size))
    return Problem(
        name="line",
        locations=tuple(Location(i + 1) for i in range(size)),
        stops=tuple(Stop(str(i), (Place(i, Window(0, 100)),), demand=1) for i in range(1, 4)),
        vehicle_types=(VehicleType(capacity=5, shift_start=0, shift_end=100),),
        cost=line,
        travel_time=line,
    )


def test_doubly_served_stop_is_dropped_where_it_saves_most() -> None:
    """Routes 0-1-2-0 and 0-2-3-0 both serve stop 2; taking it out of the first saves 2,
    out of the second nothing, so the plan is 0-1-0 plus 0-2-3-0 and the checker agrees."""
    model = Translation(line_problem())
    visits = drop_repeats(model.catalogue, [(0, (0, 1)), (0, (1, 2))])
    assert visits is not None
    assert [(cost, locations_of(model, clients)) for _, cost, clients in visits] == [
        (2, [1]),
        (6, [2, 3]),
    ]
    plan = model.plan(visits)
    report = check_plan(model.problem, plan)
    assert report.violations == ()
    assert report.cost == plan.cost == 8


def test_squeezed_fleet_is_one_van_fewer_than_the_best_plan() -> None:
    """With one unlimited van type, an explorer gets one van fewer than the best plan's
    routes; none when that plan has a single route, breaks windows or squeezing is off."""
    catalogue = Translation(line_problem()).catalogue
    two_routes = Incumbent(8, ((0, 2, (0,)), (0, 6, (1, 2)), (0, 0, ())))
    assert squeezed_fleet(catalogue, two_routes, SolverSettings()) == 1
    one_route = Incumbent(6, ((0, 6, (0, 1, 2)),))
    assert squeezed_fleet(catalogue, one_route, SolverSettings()) is None
    late = Incumbent(8, two_routes.visits, feasible=False)
    assert squeezed_fleet(catalogue, late, SolverSettings()) is None
    assert squeezed_fleet(catalogue, two_routes, SolverSettings(squeeze_fleet=False)) is None


def test_limited_fleet_is_never_squeezed() -> None:
    """A van type of limited count is a real limit the search must keep: no squeezing."""
    problem = line_problem()
    limited = Problem(
        name="limited",
        locations=problem.locations,
        stops=problem.stops,
        vehicle_types=(VehicleType(capacity=5, shift_start=0, shift_end=100, count=3),),
        cost=problem.cost,
        travel_time=problem.travel_time,
    )
    catalogue = Translation(limited).catalogue
    incumbent = Incumbent(8, ((0, 2, (0,)), (0, 6, (1, 2))))
    assert squeezed_fleet(catalogue, incumbent, SolverSettings()) is None


def test_portfolio_members_take_different_columns() -> None:
    """The first member of a recombination portfolio takes the usual reduced-cost steps,
    the others other ones, every member ending with the exact model."""
    steps = [portfolio_steps(worker) for worker in range(3)]
    assert steps[0] == REDUCED_COST_STEPS
    assert len(set(steps)) == 3
    assert all(member[-1] == 1.0 for member in steps)
