"""Re-planning a van by insertion: it keeps its order, and each stop that would miss its
window moves to where it fits at least cost. Pure: a Problem and an order, no solver."""

from __future__ import annotations

from collections.abc import Sequence

from trunkdrop.dispatch.problem import Problem


def repair_route(
    problem: Problem, vehicle_type: int, order: Sequence[int], loose: Sequence[int]
) -> tuple[int, ...]:
    """The van's locations: `order` (locations, as the van drives them now) without the ones
    it would reach after their window closed, and each of those and of the `loose` stops
    (stop numbers with no place on the route yet, e.g. a fallback) inserted at the place and
    position that cost least while every window on the route and the shift still hold.

    A stop that fits nowhere goes to the end at the place whose window closes last: it stays
    on its van (re-planning never drops a parcel) and the driver's app skips it when its
    window is over. Loose stops are placed in the order given, then the late ones in theirs.
    """
    van = problem.vehicle_types[vehicle_type]
    route: list[int] = []
    late: list[int] = []
    clock, here = van.shift_start, van.start_depot
    for loc in order:
        window = problem.place_at[loc][1].window
        begin = max(clock + problem.travel_time[here][loc], window.open)
        if begin > window.close:
            late.append(problem.place_at[loc][0])
            continue
        route.append(loc)
        clock, here = begin + problem.service_time(loc), loc
    _, baseline_end = _walk(problem, vehicle_type, route)
    shift_end = max(van.shift_end, baseline_end or van.shift_end)
    for stop in [*loose, *late]:
        places = problem.stops[stop].places
        best: tuple[int, int, int] | None = None  # (cost, position, location)
        for place in places:
            for position in range(len(route) + 1):
                trial = [*route[:position], place.location, *route[position:]]
                cost, end = _walk(problem, vehicle_type, trial)
                if end is None or end > shift_end:
                    continue
                if best is None or cost < best[0]:
                    best = (cost, position, place.location)
        if best is None:
            last = max(places, key=lambda p: (p.window.close, -p.location))
            route.append(last.location)
        else:
            route.insert(best[1], best[2])
    return tuple(route)


def _walk(problem: Problem, vehicle_type: int, route: Sequence[int]) -> tuple[int, int | None]:
    """What the route costs (distance and duration, in the objective's units) and when the
    van is back; None when it reaches a place after its window closed."""
    van = problem.vehicle_types[vehicle_type]
    clock, here, distance = van.shift_start, van.start_depot, 0
    for loc in route:
        window = problem.place_at[loc][1].window
        clock = max(clock + problem.travel_time[here][loc], window.open)
        if clock > window.close:
            return 0, None
        clock += problem.service_time(loc)
        distance += problem.cost[here][loc]
        here = loc
    clock += problem.travel_time[here][van.end_depot]
    distance += problem.cost[here][van.end_depot]
    cost = van.unit_distance_cost * distance + van.unit_duration_cost * (clock - van.shift_start)
    return cost, clock
