"""Choosing each stop's place jointly along a route (a small dynamic programme), timing and
pricing a route outside PyVRP, and dropping stops a recombined plan serves twice."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from trunkdrop.dispatch.solver.catalogue import Catalogue, PooledRoute, Roads, Visits

# A partial route in the place-choosing DP: clock after service, cost so far, location,
# client served last and the label it extends (None at the depot).
_Label = tuple[int, int, int, int, Any]


def route_cost(roads: Roads, kind: int, clients: Sequence[int], on_time: bool = True) -> int | None:
    """What driving `clients` in this order with a van of type `kind` costs, or None when
    a window or the shift end is missed (waiting for a window to open is allowed; with
    `on_time=False` the cost of a late route is given all the same).

    The van leaves as late as every window allows (its duration is what the driver is
    paid for): the earliest walk gives the end, and the windows' slack the latest start."""
    if not clients:
        return 0
    here, end, clock, back_by = roads.vans[kind]
    fixed, per_distance, per_second = roads.prices[kind]
    leave = clock
    distance = 0
    unhurried = 0  # from departure to here, without waiting
    latest = back_by  # latest departure that keeps every window
    late = False
    for client in clients:
        location = roads.location[client]
        distance += roads.cost[here][location]
        leg = roads.travel[here][location]
        unhurried += leg
        latest = min(latest, roads.late[client] - unhurried)
        begin = max(clock + leg, roads.early[client])
        late = late or begin > roads.late[client]
        unhurried += roads.service[client]
        clock = begin + roads.service[client]
        here = location
    leg = roads.travel[here][end]
    clock += leg
    unhurried += leg
    late = late or clock > back_by
    if late and on_time:
        return None
    latest = min(latest, back_by - unhurried)
    duration = max(unhurried, clock - max(latest, leave))
    return fixed + per_distance * (distance + roads.cost[here][end]) + per_second * duration


def best_places(
    catalogue: Catalogue, kind: int, stops: Sequence[int]
) -> tuple[int, tuple[int, ...]] | None:
    """The cheapest choice of one place per stop for visiting `stops` in this order, or None
    when no choice keeps every window. Labels are (clock, cost) Pareto fronts per place:
    the local search changes one stop's place at a time, this changes them jointly."""
    roads = catalogue.roads
    start, end, clock, back_by = roads.vans[kind]
    cost, travel = roads.cost, roads.travel
    labels: list[_Label] = [(clock, 0, start, -1, None)]
    for stop in stops:
        extended: list[_Label] = []
        for client in catalogue.members[stop]:
            location = roads.location[client]
            early, late, service = roads.early[client], roads.late[client], roads.service[client]
            reached: list[_Label] = []
            for label in labels:
                here = label[2]
                begin = max(label[0] + travel[here][location], early)
                if begin <= late:
                    reached.append(
                        (begin + service, label[1] + cost[here][location], location, client, label)
                    )
            reached.sort(key=lambda entry: (entry[0], entry[1]))
            cheapest = math.inf
            for entry in reached:
                if entry[1] < cheapest:
                    extended.append(entry)
                    cheapest = entry[1]
        if not extended:
            return None
        labels = extended
    best: tuple[int, _Label] | None = None
    for label in labels:
        here = label[2]
        if label[0] + travel[here][end] <= back_by:
            total = label[1] + cost[here][end]
            if best is None or total < best[0]:
                best = (total, label)
    if best is None:
        return None
    clients: list[int] = []
    walk: _Label | None = best[1]
    while walk is not None and walk[3] >= 0:
        clients.append(walk[3])
        walk = walk[4]
    return best[0], tuple(reversed(clients))


def improve_places(
    catalogue: Catalogue, kind: int, clients: Sequence[int], cost: int
) -> PooledRoute:
    """The route (of known `cost`) with its places re-chosen when that is cheaper. The
    choice minimises the cost matrix; what it does to the van's time is judged after."""
    better = best_places(catalogue, kind, [catalogue.stop_of_client[c] for c in clients])
    if better is None or better[1] == tuple(clients):
        return cost, tuple(clients)
    if catalogue.roads.prices[kind] != (0, 1, 0):
        priced = route_cost(catalogue.roads, kind, better[1])
        if priced is None:
            return cost, tuple(clients)
        better = (priced, better[1])
    if better[0] < cost:
        return better
    return cost, tuple(clients)


def drop_repeats(
    catalogue: Catalogue, routes: Sequence[tuple[int, Sequence[int]]]
) -> list[Visits] | None:
    """Turn a set cover into a plan: while a stop is served twice, take it out of the route
    where that saves most and keeps the route on time; then re-choose every route's places.
    None when some repeat cannot be removed from any route in time."""
    roads = catalogue.roads
    current = [list(clients) for _, clients in routes]
    kinds = [kind for kind, _ in routes]
    costs = [route_cost(roads, kind, clients) for kind, clients in zip(kinds, current, strict=True)]
    while True:
        servers: dict[int, list[int]] = {}
        for number, clients in enumerate(current):
            for client in clients:
                servers.setdefault(catalogue.stop_of_client[client], []).append(number)
        repeats = {stop: numbers for stop, numbers in servers.items() if len(numbers) > 1}
        if not repeats:
            break
        move: tuple[int, int, int, int] | None = None  # saving, route, client, new cost
        for stop, numbers in repeats.items():
            for number in numbers:
                old = costs[number]
                if old is None:
                    continue
                clients = current[number]
                client = next(c for c in clients if catalogue.stop_of_client[c] == stop)
                shorter = [c for c in clients if c != client]
                new = route_cost(roads, kinds[number], shorter)
                if new is not None and (move is None or old - new > move[0]):
                    move = (old - new, number, client, new)
        if move is None:
            return None
        _, number, client, new = move
        current[number].remove(client)
        costs[number] = new
    visits: list[Visits] = []
    for kind, clients, cost in zip(kinds, current, costs, strict=True):
        if clients:
            if cost is None:  # untouched and already late: a route the search judged feasible
                return None
            cost, chosen = improve_places(catalogue, kind, clients, cost)
            visits.append((kind, cost, chosen))
    return visits
