"""The routing problem and its plans, in our own terms: integer seconds and cost units.

A stop is one parcel whose car stands at several places during the day, each with its own
window; the parcel is delivered at exactly one of them. Nothing here knows about any solver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

Matrix = tuple[tuple[int, ...], ...]


class ProblemError(ValueError):
    """A routing problem that cannot be planned as given."""


class WindowError(ProblemError):
    """A time window that closes before it opens, or opens before time zero."""


class StopError(ProblemError):
    """A stop without places, with a negative demand, or that no van can carry."""


class VehicleError(ProblemError):
    """A van type with an impossible shift, capacity, count or depot."""


class MatrixError(ProblemError):
    """A cost or travel-time matrix of the wrong shape or with negative entries."""


@dataclass(frozen=True, slots=True)
class Location:
    """A point on the map; `id` is the caller's label (e.g. the 1-based id in a file)."""

    id: int
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True, slots=True)
class Window:
    """When service may start, in integer seconds: from `open` to `close`, both included."""

    open: int
    close: int

    def __post_init__(self) -> None:
        if self.open < 0:
            raise WindowError(f"A window cannot open before time 0, got {self.open}.")
        if self.close < self.open:
            raise WindowError(
                f"A window cannot close ({self.close}) before it opens ({self.open})."
            )


@dataclass(frozen=True, slots=True)
class Place:
    """One place a stop's car stands at: a location index and the window it is there."""

    location: int
    window: Window


@dataclass(frozen=True, slots=True)
class Stop:
    """One parcel: delivered at exactly one of its mutually exclusive places.

    An optional stop (`required=False`) may be left out; leaving it out costs its `prize`.
    `demand` is loaded at the depot and leaves the van here; `pickup` joins the van here
    and rides back to the depot (a return or a send collected from a trunk).
    """

    name: str
    places: tuple[Place, ...]
    demand: int = 0
    required: bool = True
    prize: int = 0
    pickup: int = 0

    def __post_init__(self) -> None:
        if not self.places:
            raise StopError(f"Stop {self.name!r} has no place to deliver at.")
        if self.demand < 0:
            raise StopError(f"Stop {self.name!r} has a negative demand ({self.demand}).")
        if self.pickup < 0:
            raise StopError(f"Stop {self.name!r} has a negative pickup ({self.pickup}).")
        if self.prize < 0:
            raise StopError(f"Stop {self.name!r} has a negative prize ({self.prize}).")
        seen: set[int] = set()
        for place in self.places:
            if place.location in seen:
                raise StopError(f"Stop {self.name!r} lists location index {place.location} twice.")
            seen.add(place.location)


@dataclass(frozen=True, slots=True)
class VehicleType:
    """Alike vans: capacity, shift (leave the start depot at or after `shift_start`, be
    back at the end depot by `shift_end`), depots as location indices, and how many
    (`count=None` for as many as needed).

    What a route of this van costs: `fixed_cost` once if it is used, `unit_distance_cost`
    per unit of the cost matrix driven, and `unit_duration_cost` per second from leaving
    the depot to coming back (waiting included; the van leaves as late as its route allows).
    The defaults make the objective the cost matrix alone (the published benchmarks').
    """

    capacity: int
    shift_start: int
    shift_end: int
    start_depot: int = 0
    end_depot: int = 0
    count: int | None = None
    fixed_cost: int = 0
    unit_distance_cost: int = 1
    unit_duration_cost: int = 0

    def __post_init__(self) -> None:
        if self.capacity < 0:
            raise VehicleError(f"A van cannot have a negative capacity ({self.capacity}).")
        if self.shift_start < 0:
            raise VehicleError(f"A shift cannot start before time 0 ({self.shift_start}).")
        if self.shift_end < self.shift_start:
            raise VehicleError(
                f"A shift cannot end ({self.shift_end}) before it starts ({self.shift_start})."
            )
        if self.count is not None and self.count < 1:
            raise VehicleError(f"A van type needs at least one van, got count={self.count}.")
        prices = {
            "fixed_cost": self.fixed_cost,
            "unit_distance_cost": self.unit_distance_cost,
            "unit_duration_cost": self.unit_duration_cost,
        }
        for name, value in prices.items():
            if value < 0:
                raise VehicleError(f"A van's {name} cannot be negative, got {value}.")


@dataclass(frozen=True, slots=True)
class Route:
    """One van's route: the vehicle type and the location indices visited, depots excluded."""

    vehicle_type: int
    locations: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """The routes driven and their total cost as claimed by whoever made the plan."""

    routes: tuple[Route, ...]
    cost: int


@dataclass(frozen=True)
class Problem:
    """Stops, vans and the two square matrices over `locations`.

    `cost[i][j]` is what driving from location i to j costs (the objective);
    `travel_time[i][j]` is how many seconds it takes (feasibility). `service_times` gives
    the seconds spent at each location; empty means zero everywhere.
    """

    name: str
    locations: tuple[Location, ...]
    stops: tuple[Stop, ...]
    vehicle_types: tuple[VehicleType, ...]
    cost: Matrix = field(repr=False)
    travel_time: Matrix = field(repr=False)
    service_times: tuple[int, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        size = len(self.locations)
        if size == 0:
            raise ProblemError(f"Problem {self.name!r} has no locations.")
        _check_matrix("cost", self.cost, size)
        _check_matrix("travel-time", self.travel_time, size)
        if self.service_times:
            if len(self.service_times) != size:
                raise MatrixError(
                    f"There are {len(self.service_times)} service times for {size} locations."
                )
            if any(seconds < 0 for seconds in self.service_times):
                raise MatrixError("Service times cannot be negative.")
        if not self.vehicle_types:
            raise VehicleError(f"Problem {self.name!r} has no van type.")
        depots: set[int] = set()
        for number, van in enumerate(self.vehicle_types):
            for role, depot in (("start", van.start_depot), ("end", van.end_depot)):
                if not 0 <= depot < size:
                    raise VehicleError(
                        f"Van type {number} has {role} depot {depot}, "
                        f"but locations run from 0 to {size - 1}."
                    )
                depots.add(depot)
        biggest = max(van.capacity for van in self.vehicle_types)
        owners: dict[int, str] = {}
        for stop in self.stops:
            if max(stop.demand, stop.pickup) > biggest:
                raise StopError(
                    f"Stop {stop.name!r} needs {max(stop.demand, stop.pickup)} units of space "
                    f"but the biggest van holds {biggest}."
                )
            for place in stop.places:
                if not 0 <= place.location < size:
                    raise StopError(
                        f"Stop {stop.name!r} has a place at location index {place.location}, "
                        f"but locations run from 0 to {size - 1}."
                    )
                if place.location in depots:
                    raise StopError(
                        f"Stop {stop.name!r} has a place at depot location {place.location}."
                    )
                if place.location in owners:
                    raise StopError(
                        f"Location index {place.location} belongs to both stop "
                        f"{owners[place.location]!r} and stop {stop.name!r}."
                    )
                owners[place.location] = stop.name

    @cached_property
    def place_at(self) -> dict[int, tuple[int, Place]]:
        """Maps a location index to (stop index, place) for every place of every stop."""
        return {
            place.location: (number, place)
            for number, stop in enumerate(self.stops)
            for place in stop.places
        }

    def service_time(self, location: int) -> int:
        """Seconds spent serving at `location`."""
        return self.service_times[location] if self.service_times else 0

    def sure_prize(self) -> int:
        """A prize that makes serving a stop always worth it: more than serving one more stop
        can ever add to the cost (a detour of two of the dearest legs, the longest shift
        in van time, and a van's fixed cost). An optional stop with this prize is left
        out only when no plan can serve it."""
        dearest = max(max(row) for row in self.cost)
        return 1 + max(
            van.fixed_cost
            + van.unit_distance_cost * 2 * dearest
            + van.unit_duration_cost * (van.shift_end - van.shift_start)
            for van in self.vehicle_types
        )


def _check_matrix(kind: str, matrix: Sequence[Sequence[int]], size: int) -> None:
    if len(matrix) != size:
        raise MatrixError(f"The {kind} matrix has {len(matrix)} rows for {size} locations.")
    for number, row in enumerate(matrix):
        if len(row) != size:
            raise MatrixError(
                f"Row {number} of the {kind} matrix has {len(row)} entries for {size} locations."
            )
        if min(row) < 0:
            raise MatrixError(f"Row {number} of the {kind} matrix has a negative entry.")
