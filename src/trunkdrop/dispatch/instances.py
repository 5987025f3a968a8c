"""Read the published VRPRDL benchmark files (Reyes et al.; Ozbaygin et al.) into a Problem.

Ids in the files are 1-based; a location keeps its file id as `Location.id` and a stop its
cluster id as its name, so plans can be printed in the file's own numbering.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from trunkdrop.dispatch.problem import (
    Location,
    Place,
    Problem,
    ProblemError,
    Stop,
    VehicleType,
    Window,
)

HEADERS = ("NAME", "TYPE", "DIMENSION", "CAPACITY", "TIME_HORIZON", "NUM_CUSTOMERS")
SECTIONS = (
    "NODE_COORD_SECTION",
    "EDGE_WEIGHT_SECTION",
    "EDGE_TRAVEL_TIME_SECTION",
    "TIME_WINDOW_SECTION",
    "CLUSTER_SECTION",
    "DEMAND_SECTION",
    "DEPOT_SECTION",
)


class InstanceFormatError(ValueError):
    """An instance file that cannot be read or does not follow the VRPRDL format."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        where = f"{path}" if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    fields: tuple[str, ...]


def read_instance(path: Path) -> Problem:
    """Read one VRPRDL instance file; raise InstanceFormatError saying where it is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise InstanceFormatError(path, f"cannot read the file ({reason})") from error
    return parse_instance(text, path)


def parse_instance(text: str, path: Path) -> Problem:
    """Parse the text of a VRPRDL instance; `path` is only used in error messages."""
    headers, sections = _split(text, path)
    reader = _Reader(path, headers, sections)
    return reader.problem()


def _split(text: str, path: Path) -> tuple[dict[str, _Row], dict[str, list[_Row]]]:
    headers: dict[str, _Row] = {}
    sections: dict[str, list[_Row]] = {}
    current: list[_Row] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line == "EOF":
            break
        if line in SECTIONS:
            if line in sections:
                raise InstanceFormatError(path, f"section {line} appears twice", number)
            current = sections[line] = []
            continue
        if current is None:
            key, colon, value = line.partition(":")
            key = key.strip()
            if not colon or key not in HEADERS:
                raise InstanceFormatError(
                    path, f"expected a header such as 'NAME: ...' but found {line[:40]!r}", number
                )
            headers[key] = _Row(number, (value.strip(),))
            continue
        if line.endswith("_SECTION"):
            raise InstanceFormatError(path, f"unknown section {line}", number)
        current.append(_Row(number, tuple(line.split())))
    for key in HEADERS:
        if key not in headers:
            raise InstanceFormatError(path, f"the header {key} is missing")
    for section in SECTIONS:
        if section not in sections:
            raise InstanceFormatError(path, f"the section {section} is missing")
    return headers, sections


class _Reader:
    def __init__(
        self, path: Path, headers: dict[str, _Row], sections: dict[str, list[_Row]]
    ) -> None:
        self.path = path
        self.headers = headers
        self.sections = sections

    def fail(self, message: str, line: int | None = None) -> InstanceFormatError:
        return InstanceFormatError(self.path, message, line)

    def header_int(self, key: str, minimum: int) -> int:
        row = self.headers[key]
        value = self.integer(row.fields[0], row.line, key)
        if value < minimum:
            raise self.fail(f"{key} must be at least {minimum}, got {value}", row.line)
        return value

    def integer(self, text: str, line: int, what: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise self.fail(f"{what} must be a whole number, got {text!r}", line) from None

    def number(self, text: str, line: int, what: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise self.fail(f"{what} must be a number, got {text!r}", line) from None

    def location_id(self, text: str, line: int, size: int) -> int:
        value = self.integer(text, line, "a location id")
        if not 1 <= value <= size:
            raise self.fail(f"location id {value} is outside 1..{size} (DIMENSION)", line)
        return value

    def rows(self, section: str, count: int, width: int | None) -> Iterator[_Row]:
        rows = self.sections[section]
        if len(rows) != count:
            raise self.fail(
                f"{section} has {len(rows)} lines but {count} were expected",
                rows[-1].line if rows else None,
            )
        for row in rows:
            if width is not None and len(row.fields) != width:
                raise self.fail(
                    f"{section} lines need {width} values, this one has {len(row.fields)}",
                    row.line,
                )
            yield row

    def matrix(self, section: str, size: int) -> tuple[tuple[int, ...], ...]:
        return tuple(
            tuple(self.integer(text, row.line, f"a {section} entry") for text in row.fields)
            for row in self.rows(section, size, size)
        )

    def problem(self) -> Problem:
        name = self.headers["NAME"].fields[0]
        kind = self.headers["TYPE"]
        if kind.fields[0] != "VRPRDL":
            raise self.fail(f"TYPE must be VRPRDL, got {kind.fields[0]!r}", kind.line)
        size = self.header_int("DIMENSION", 1)
        capacity = self.header_int("CAPACITY", 0)
        horizon = self.header_int("TIME_HORIZON", 0)
        clusters = self.header_int("NUM_CUSTOMERS", 1)

        locations: list[Location] = []
        for expected, row in enumerate(self.rows("NODE_COORD_SECTION", size, 3), start=1):
            self.expect_id(row, expected, "NODE_COORD_SECTION")
            x = self.number(row.fields[1], row.line, "x")
            y = self.number(row.fields[2], row.line, "y")
            locations.append(Location(id=expected, x=x, y=y))
        cost = self.matrix("EDGE_WEIGHT_SECTION", size)
        travel_time = self.matrix("EDGE_TRAVEL_TIME_SECTION", size)

        windows: list[Window] = []
        for expected, row in enumerate(self.rows("TIME_WINDOW_SECTION", size, 3), start=1):
            self.expect_id(row, expected, "TIME_WINDOW_SECTION")
            open_, close = (
                self.integer(text, row.line, "a window bound") for text in row.fields[1:]
            )
            try:
                windows.append(Window(open_, close))
            except ProblemError as error:
                raise self.fail(str(error), row.line) from error

        members: list[tuple[int, ...]] = []
        for expected, row in enumerate(self.rows("CLUSTER_SECTION", clusters, None), start=1):
            self.expect_id(row, expected, "CLUSTER_SECTION")
            if len(row.fields) < 2:
                raise self.fail(f"cluster {expected} lists no location", row.line)
            members.append(tuple(self.location_id(text, row.line, size) for text in row.fields[1:]))

        demands: list[int] = []
        for expected, row in enumerate(self.rows("DEMAND_SECTION", clusters, 2), start=1):
            self.expect_id(row, expected, "DEMAND_SECTION")
            demands.append(self.integer(row.fields[1], row.line, "a demand"))

        depot_rows = self.sections["DEPOT_SECTION"]
        depot_ids = [
            self.location_id(text, row.line, size)
            for row in depot_rows
            for text in row.fields
            if text != "-1"  # TSPLIB habit of ending the depot list with -1
        ]
        if len(depot_ids) != 1:
            raise self.fail(
                f"DEPOT_SECTION must name exactly one depot, found {len(depot_ids)}",
                depot_rows[0].line if depot_rows else None,
            )
        depot = depot_ids[0] - 1
        depot_line = self.sections["CLUSTER_SECTION"][0].line
        if members[0] != (depot + 1,):
            raise self.fail(f"cluster 1 must be the depot alone ({depot + 1})", depot_line)

        try:
            stops = tuple(
                Stop(
                    name=str(cluster),
                    places=tuple(Place(loc - 1, windows[loc - 1]) for loc in locs),
                    demand=demands[cluster - 1],
                )
                for cluster, locs in enumerate(members[1:], start=2)
            )
            van = VehicleType(
                capacity=capacity,
                shift_start=max(0, windows[depot].open),
                shift_end=min(horizon, windows[depot].close),
                start_depot=depot,
                end_depot=depot,
            )
            return Problem(
                name=name,
                locations=tuple(locations),
                stops=stops,
                vehicle_types=(van,),
                cost=cost,
                travel_time=travel_time,
            )
        except ProblemError as error:
            raise self.fail(str(error)) from error

    def expect_id(self, row: _Row, expected: int, section: str) -> None:
        found = self.integer(row.fields[0], row.line, f"the {section} id")
        if found != expected:
            raise self.fail(f"{section} should list id {expected} here, found {found}", row.line)


def with_home(problem: Problem) -> Problem:
    """The VRPHRDL variant of a VRPRDL instance: each customer's home is one more place,
    open the whole horizon (the first van type's shift).

    Where the home is: the first place of the customer's itinerary. In the published
    instances (Reyes et al.) a customer's day starts and ends at home (the first and last
    places share coordinates), and the files name no home otherwise. Open the whole
    horizon: VRPHRDL's home delivery is to the door, which someone is taken to answer at
    any time (Reyes et al. define it so). The home is a new location, a copy of the first
    place's rows and columns in both matrices, since a location belongs to one place. Every
    VRPRDL plan is so a VRPHRDL plan too: the best VRPHRDL value is at most the VRPRDL one.
    """
    van = problem.vehicle_types[0]
    horizon = Window(van.shift_start, van.shift_end)
    size = len(problem.locations)
    origin = [size + i for i in range(len(problem.stops))]  # new index per stop
    source = list(range(size)) + [stop.places[0].location for stop in problem.stops]

    def extend(matrix: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
        return tuple(
            tuple(0 if i == j else matrix[source[i]][source[j]] for j in range(len(source)))
            for i in range(len(source))
        )

    locations = problem.locations + tuple(
        replace(problem.locations[stop.places[0].location], id=size + n + 1)
        for n, stop in enumerate(problem.stops)
    )
    stops = tuple(
        replace(stop, places=(*stop.places, Place(home, horizon)))
        for stop, home in zip(problem.stops, origin, strict=True)
    )
    return replace(
        problem,
        name=f"{problem.name}-home",
        locations=locations,
        stops=stops,
        cost=extend(problem.cost),
        travel_time=extend(problem.travel_time),
        service_times=tuple(problem.service_times[s] for s in source)
        if problem.service_times
        else (),
    )
