"""Re-planning a van by insertion: it keeps its order, and each stop that would miss its
window moves to where it fits at least cost. Pure: a Problem and an order, no solver."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def cheapest_van(
    problem: Problem,
    orders: Mapping[int, Sequence[int]],
    stop: int,
    loads: Mapping[int, int],
) -> tuple[int, int, int] | None:
    """Which van takes `stop` at the least extra cost: (van, position, location). `orders`
    holds each candidate van's locations as it drives them, `loads` what it carries. A van
    qualifies only if every window on its route and its shift still hold with the stop in
    it and the stop's parcel fits; no other stop moves. None when no van qualifies."""
    demand = problem.stops[stop].demand + problem.stops[stop].pickup
    best: tuple[int, int, int, int] | None = None  # (extra cost, van, position, location)
    for vehicle_type, order in orders.items():
        van = problem.vehicle_types[vehicle_type]
        if loads.get(vehicle_type, 0) + demand > van.capacity:
            continue
        base, end = _walk(problem, vehicle_type, order)
        if end is None:
            continue  # already late somewhere: a re-plan of its own comes first
        for place in problem.stops[stop].places:
            for position in range(len(order) + 1):
                trial = [*order[:position], place.location, *order[position:]]
                cost, end = _walk(problem, vehicle_type, trial)
                if end is None or end > van.shift_end:
                    continue
                if best is None or cost - base < best[0]:
                    best = (cost - base, vehicle_type, position, place.location)
    return None if best is None else best[1:]


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
