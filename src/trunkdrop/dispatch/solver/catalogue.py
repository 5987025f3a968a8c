"""What every stage shares: a route pool's shape, the plain copy of the roads and prices
that routes are timed and priced with, and what a worker process knows of the problem."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# A pooled route: its cost and the PyVRP client indices it visits, in order.
PooledRoute = tuple[int, tuple[int, ...]]
# Route pool keyed by the vehicle type and the set of stops served: only the cheapest
# sequence for a given set matters to the recombination model.
RoutePool = dict[tuple[int, frozenset[int]], PooledRoute]
# One route of a solution: vehicle type, cost, PyVRP client indices in order.
Visits = tuple[int, int, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Incumbent:
    cost: int
    visits: tuple[Visits, ...]  # (vehicle type, cost, clients)
    feasible: bool = True

    def better_than(self, other: Incumbent) -> bool:
        if self.feasible != other.feasible:
            return self.feasible
        return self.cost < other.cost


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    cost: int
    feasible: bool
    visits: tuple[Visits, ...]
    pool: RoutePool


# --- worker processes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Roads:
    """Plain-Python copies of what timing and costing a route needs, for the route
    repairs done outside PyVRP (choosing places, dropping doubly served stops)."""

    cost: Sequence[Sequence[int]]
    travel: Sequence[Sequence[int]]
    location: tuple[int, ...]  # per client
    service: tuple[int, ...]
    early: tuple[int, ...]
    late: tuple[int, ...]
    vans: tuple[tuple[int, int, int, int], ...]  # start depot, end depot, leave at, back by
    prices: tuple[tuple[int, int, int], ...]  # fixed, per distance unit, per second


@dataclass(frozen=True, slots=True)
class Catalogue:
    """What a worker process needs to know: the PyVRP data, which stop each client
    serves, which stops are required and what leaving an optional one out costs."""

    data: Any
    stop_of_client: tuple[int, ...]
    required: tuple[bool, ...]
    prizes: tuple[int, ...]
    fleet: tuple[int | None, ...]  # vans of each type, None for as many as needed
    roads: Roads
    members: tuple[tuple[int, ...], ...] = field(init=False)

    def __post_init__(self) -> None:
        members: list[list[int]] = [[] for _ in self.required]
        for client, stop in enumerate(self.stop_of_client):
            members[stop].append(client)
        object.__setattr__(self, "members", tuple(tuple(group) for group in members))

    def missed_prizes(self, served: set[int]) -> int:
        return sum(
            prize
            for stop, (required, prize) in enumerate(zip(self.required, self.prizes, strict=True))
            if not required and stop not in served
        )
