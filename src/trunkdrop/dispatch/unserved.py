"""Why a plan leaves a stop out: one stable reason code per unserved stop, from the problem
and the plan alone (pure; no solver, no database)."""

from __future__ import annotations

import enum

from trunkdrop.dispatch.checker import load_profile
from trunkdrop.dispatch.problem import Place, Plan, Problem, VehicleType


class Unserved(enum.StrEnum):
    """Why no van serves a stop. Stable codes: carriers and the simulation key on them."""

    # No van leaving its depot at the start of its shift reaches any of the stop's places
    # before that place's window closes: more vans cannot help.
    window_unreachable = "window_unreachable"
    # A van reaches a place in its window but cannot be back at the depot by the shift's end.
    shift = "shift"
    # The vans that could reach it in time have no room left for the parcel.
    capacity = "capacity"
    # It could be served on its own, but every van's day is full: a van more would serve it.
    no_van = "no_van"


def unserved_stops(problem: Problem, plan: Plan) -> dict[int, Unserved]:
    """Each stop of `problem` that `plan` does not serve (by stop index), with its reason."""
    served = {
        problem.place_at[location][0]
        for route in plan.routes
        for location in route.locations
        if location in problem.place_at
    }
    # A route's room is what its fullest moment leaves (pickups join as deliveries leave).
    loads = [max(load_profile(problem, route)) for route in plan.routes]
    used = [0] * len(problem.vehicle_types)
    for route in plan.routes:
        used[route.vehicle_type] += 1
    # Room left per van type: in the vans it drives, and whole in the vans it leaves home.
    room: list[int] = []
    for kind, van in enumerate(problem.vehicle_types):
        room.extend(
            van.capacity - load
            for route, load in zip(plan.routes, loads, strict=True)
            if route.vehicle_type == kind
        )
        if van.count is None or used[kind] < van.count:
            room.append(van.capacity)
    reasons: dict[int, Unserved] = {}
    for number, stop in enumerate(problem.stops):
        if number in served:
            continue
        in_window = [
            (place, van)
            for place in stop.places
            for van in problem.vehicle_types
            if _arrival(problem, place, van) <= place.window.close
        ]
        if not in_window:
            reasons[number] = Unserved.window_unreachable
        elif not any(_back_in_time(problem, place, van) for place, van in in_window):
            reasons[number] = Unserved.shift
        elif all(left < max(stop.demand, stop.pickup) for left in room):
            reasons[number] = Unserved.capacity
        else:
            reasons[number] = Unserved.no_van
    return reasons


def _arrival(problem: Problem, place: Place, van: VehicleType) -> int:
    """When a van leaving its depot at the start of its shift starts serving at `place`."""
    leave = van.shift_start + problem.service_time(van.start_depot)
    return max(leave + problem.travel_time[van.start_depot][place.location], place.window.open)


def _back_in_time(problem: Problem, place: Place, van: VehicleType) -> bool:
    begin = _arrival(problem, place, van)
    service = problem.service_time(place.location)
    return begin + service + problem.travel_time[place.location][van.end_depot] <= van.shift_end
