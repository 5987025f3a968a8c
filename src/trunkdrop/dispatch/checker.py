"""Recompute a plan's cost and feasibility from the Problem alone, trusting nothing the
solver says: every rule is checked again here with plain arithmetic."""

from __future__ import annotations

from dataclasses import dataclass

from trunkdrop.dispatch.problem import Plan, Problem, Route


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What the checker found: the recomputed cost, the claimed one, and every violation."""

    cost: int
    claimed_cost: int
    violations: tuple[str, ...]

    @property
    def feasible(self) -> bool:
        """True when the plan breaks no rule and its claimed cost is the real one."""
        return not self.violations


def load_profile(problem: Problem, route: Route) -> list[int]:
    """What the van carries leaving the depot, then after each stop of `route`.

    Every delivery's load rides from the depot; at each stop its delivery leaves and its
    pickup joins, so a van can collect more than it had room for at the start."""
    stops = [
        problem.stops[problem.place_at[location][0]]
        for location in route.locations
        if location in problem.place_at
    ]
    load = sum(stop.demand for stop in stops)
    profile = [load]
    for stop in stops:
        load += stop.pickup - stop.demand
        profile.append(load)
    return profile


def check_plan(problem: Problem, plan: Plan) -> CheckReport:
    """Check `plan` against `problem`: stops served once, windows, capacity, shifts, cost."""
    violations: list[str] = []
    served: dict[int, list[int]] = {}
    used_per_type: dict[int, int] = {}
    cost = 0
    for number, route in enumerate(plan.routes, start=1):
        if not 0 <= route.vehicle_type < len(problem.vehicle_types):
            violations.append(
                f"Route {number} uses van type {route.vehicle_type}, which does not exist."
            )
            continue
        used_per_type[route.vehicle_type] = used_per_type.get(route.vehicle_type, 0) + 1
        cost += _check_route(problem, number, route, served, violations)

    for type_number, used in sorted(used_per_type.items()):
        allowed = problem.vehicle_types[type_number].count
        if allowed is not None and used > allowed:
            violations.append(f"The plan uses {used} vans of type {type_number}; {allowed} exist.")

    for stop_number, stop in enumerate(problem.stops):
        routes = served.get(stop_number, [])
        if len(routes) > 1:
            listed = ", ".join(str(route) for route in routes)
            violations.append(f"Stop {stop.name} is served {len(routes)} times (routes {listed}).")
        elif not routes:
            if stop.required:
                violations.append(f"Stop {stop.name} is never served.")
            else:
                cost += stop.prize

    if plan.cost != cost:
        violations.append(f"The plan claims cost {plan.cost} but its routes cost {cost}.")
    return CheckReport(cost=cost, claimed_cost=plan.cost, violations=tuple(violations))


def _check_route(
    problem: Problem,
    number: int,
    route: Route,
    served: dict[int, list[int]],
    violations: list[str],
) -> int:
    """Walk one route at the earliest times (waiting is allowed); return its cost.

    The van's time is counted from the latest departure that keeps every window (the
    earliest walk tells the end, the windows' slack how late it can leave)."""
    van = problem.vehicle_types[route.vehicle_type]
    size = len(problem.locations)
    label = f"Route {number}"
    cost = 0
    here = van.start_depot
    clock = van.shift_start + problem.service_time(here)
    # Time from departure to each service start without waiting, and how late the van may
    # leave and still start every service in its window.
    unhurried = problem.service_time(here)
    latest_departure = van.shift_end
    for location in route.locations:
        if not 0 <= location < size:
            violations.append(f"{label} visits location index {location}, which does not exist.")
            continue
        owner = problem.place_at.get(location)
        if owner is None:
            violations.append(
                f"{label} visits location {problem.locations[location].id}, "
                "which is no stop's place."
            )
            continue
        stop_number, place = owner
        stop = problem.stops[stop_number]
        served.setdefault(stop_number, []).append(number)
        cost += problem.cost[here][location]
        arrival = clock + problem.travel_time[here][location]
        unhurried += problem.travel_time[here][location]
        latest_departure = min(latest_departure, place.window.close - unhurried)
        unhurried += problem.service_time(location)
        start = max(arrival, place.window.open)
        if start > place.window.close:
            violations.append(
                f"{label} reaches stop {stop.name} at location "
                f"{problem.locations[location].id} at {arrival}, after its window "
                f"{place.window.open}-{place.window.close} closed."
            )
        clock = start + problem.service_time(location)
        here = location

    cost += problem.cost[here][van.end_depot]
    back = clock + problem.travel_time[here][van.end_depot]
    if back > van.shift_end:
        violations.append(
            f"{label} is back at the depot at {back}, after the shift ends at {van.shift_end}."
        )
    load = max(load_profile(problem, route))
    if load > van.capacity:
        violations.append(f"{label} carries {load} units, more than the van's {van.capacity}.")
    unhurried += problem.travel_time[here][van.end_depot]
    latest_departure = min(latest_departure, van.shift_end - unhurried)
    duration = max(unhurried, back - max(latest_departure, van.shift_start))
    return van.fixed_cost + van.unit_distance_cost * cost + van.unit_duration_cost * duration
