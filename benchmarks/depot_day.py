"""A synthetic Munich depot day: how fast a feasible plan appears, what it costs after the
budget, and what the same day would cost without roaming (every trunk stop at its first place).

    .venv/bin/python benchmarks/depot_day.py [--seconds 60] [--seed 0] [--stops 1000] [--vans 20]

The day: 60 % home stops (a door window over the service hours 08:00-21:00, or an attended
slot of 2-3 h), 40 % trunk stops whose car stands at 2-4 places during the day, each with its
own window, drawn from plausible car days (home in the morning, work, errands, home in the
evening; a place no van could reach from the depot within its window is not offered, so a
stop's first place is the first one a van can reach). Points lie within about 12 km of
Munich's centre; the vans (1,500 l, shifts 08:00-21:00) leave a depot in the north of the
city. Distances are great-circle × 1.3 at 25 km/h (GreatCircleMatrix), service takes 180 s
at a trunk and 240 s at a door, and the problem is built with the planner's own
`build_problem`, as a real depot day would be.

Time to the first feasible plan is measured from outside the solver: solve() runs with
growing budgets (0.25, 0.5, 1, 2, ... s, never more than --seconds) until the checker
accepts a plan; the figure is that run's wall time, and the previous rejected run's wall
time is a lower bound. Then each variant is solved once with the full budget. The last line
printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

from trunkdrop.dispatch.checker import check_plan
from trunkdrop.dispatch.flows import SERVICE_SECONDS, Candidate, DayProblem, Van, build_problem
from trunkdrop.dispatch.matrix import GreatCircleMatrix, Point
from trunkdrop.dispatch.problem import Plan
from trunkdrop.dispatch.solver import SolveLog, solve_with_log

CENTRE: Point = (48.1374, 11.5755)
DEPOT: Point = (48.1847, 11.5963)
RADIUS_KM = 12.0
DAY_START = 8 * 3600  # service hours and van shifts: 08:00-21:00
DAY_END = 21 * 3600
HOME_SHARE = 0.6
MIN_PLACE_SECONDS = 30 * 60  # a car standing somewhere for less is not worth offering
VAN_CAPACITY_L = 1_500
KM_PER_DEGREE = 111.32


# --- the synthetic day ---------------------------------------------------------------------


def _hm(hours: float) -> int:
    """Seconds since midnight, rounded to 5 minutes."""
    return round(hours * 3600 / 300) * 300


def _offset(origin: Point, east_km: float, north_km: float) -> Point:
    lat = origin[0] + north_km / KM_PER_DEGREE
    lon = origin[1] + east_km / (KM_PER_DEGREE * math.cos(math.radians(origin[0])))
    return (round(lat, 6), round(lon, 6))


def _km_from_centre(point: Point) -> float:
    north = (point[0] - CENTRE[0]) * KM_PER_DEGREE
    east = (point[1] - CENTRE[1]) * KM_PER_DEGREE * math.cos(math.radians(CENTRE[0]))
    return math.hypot(north, east)


def _in_city(rng: random.Random, *, centre_weight: float = 0.5) -> Point:
    """A point within RADIUS_KM of the centre; `centre_weight` 0.5 is uniform over the disc,
    1.0 crowds points towards the centre (offices)."""
    r = RADIUS_KM * rng.random() ** centre_weight
    angle = rng.uniform(0, 2 * math.pi)
    return _offset(CENTRE, r * math.cos(angle), r * math.sin(angle))


def _near(rng: random.Random, origin: Point, km: float) -> Point:
    """A point within `km` of `origin`, kept inside the city disc."""
    for _ in range(20):
        r = km * math.sqrt(rng.random())
        angle = rng.uniform(0, 2 * math.pi)
        point = _offset(origin, r * math.cos(angle), r * math.sin(angle))
        if _km_from_centre(point) <= RADIUS_KM:
            return point
    return origin


def _litres(rng: random.Random) -> int:
    """A parcel's volume: mostly small, some medium, a few bulky."""
    draw = rng.random()
    if draw < 0.6:
        return rng.randint(2, 10)
    if draw < 0.9:
        return rng.randint(10, 40)
    return rng.randint(40, 120)


def home_stop(rng: random.Random, delivery_id: str) -> list[Candidate]:
    """A door delivery: the whole service day (70 %) or an attended slot of 2-3 h."""
    point = _in_city(rng)
    if rng.random() < 0.7:
        open_s, end_s = DAY_START, DAY_END
    else:
        length = rng.choice((2 * 3600, int(2.5 * 3600), 3 * 3600))
        open_s = rng.randrange(DAY_START, DAY_END - length + 1, 1800)
        end_s = open_s + length
    return [Candidate(delivery_id, "home", None, point, open_s, end_s - SERVICE_SECONDS["home"])]


def _car_day(rng: random.Random) -> list[tuple[Point, int, int]]:
    """Where a car stands and when, over the whole day (not yet clipped to service hours)."""
    home = _in_city(rng)
    stays: list[tuple[Point, int, int]] = []
    if rng.random() < 0.7:  # a commuter: home, work (about 08-17), errands, home
        work = _in_city(rng, centre_weight=1.0)
        commute = _hm(rng.uniform(0.25, 0.75))
        work_start = _hm(rng.triangular(7.0, 10.0, 8.0))
        work_end = work_start + _hm(rng.uniform(7.5, 9.5))
        stays.append((home, 0, work_start - commute))
        stays.append((work, work_start, work_end))
        clock = work_end
        errands = rng.choice((0, 1, 1, 2))
        anchors: tuple[Point, ...] = (home, work)
    else:  # home office, part time or retired: home, errands, home
        clock = _hm(rng.uniform(9.0, 14.0))
        stays.append((home, 0, clock))
        errands = rng.choice((1, 1, 2))
        anchors = (home,)
    for _ in range(errands):
        clock += _hm(rng.uniform(0.15, 0.4))
        stay = _hm(rng.uniform(0.5, 2.0))
        stays.append((_near(rng, rng.choice(anchors), 2.5), clock, clock + stay))
        clock += stay
    clock += _hm(rng.uniform(0.15, 0.5))
    stays.append((home, clock, 24 * 3600))
    return stays


def _reachable(point: Point, open_s: int, close_s: int, service: int) -> bool:
    """Whether a van leaving the depot at 08:00 can start service at `point` by `close_s`
    and be back by 21:00 (what the solver checks before it offers a place to the search)."""
    seconds = GreatCircleMatrix().matrices([DEPOT, point]).seconds
    begin = max(DAY_START + int(seconds[0, 1]), open_s)
    return begin <= close_s and begin + service + int(seconds[1, 0]) <= DAY_END


def trunk_stop(rng: random.Random, delivery_id: str) -> list[Candidate]:
    """A trunk delivery: 2-4 places of one car day, each open while the car stands there
    (within service hours, at least half an hour), the service done before it leaves.
    Places no van could reach from the depot in their window are not offered."""
    service = SERVICE_SECONDS["trunk"]
    for _ in range(100):
        places = []
        for point, arrive, leave in _car_day(rng):
            open_s, close_s = max(arrive, DAY_START), min(leave, DAY_END)
            if close_s - open_s >= MIN_PLACE_SECONDS and _reachable(
                point, open_s, close_s - service, service
            ):
                places.append((point, open_s, close_s - service))
        while len(places) > 4:  # drop the latest errand, keep the evening at home
            del places[-2]
        if len(places) >= 2:
            return [
                Candidate(delivery_id, "trunk", seq, point, open_s, close_s)
                for seq, (point, open_s, close_s) in enumerate(places, start=1)
            ]
    raise RuntimeError("no car day with two usable places in 100 draws")


@dataclass(frozen=True, slots=True)
class Day:
    stops: list[tuple[list[Candidate], int]]  # (places in time order, litres)
    vans: list[Van]
    home_stops: int
    trunk_stops: int


def synthetic_day(*, stops: int, vans: int, seed: int) -> Day:
    """The same seed always gives the same day."""
    rng = random.Random(seed)
    homes = round(stops * HOME_SHARE)
    out: list[tuple[list[Candidate], int]] = []
    for number in range(stops):
        delivery_id = f"d{number:05d}"
        options = home_stop(rng, delivery_id) if number < homes else trunk_stop(rng, delivery_id)
        out.append((options, _litres(rng)))
    rng.shuffle(out)
    fleet = [Van(f"van{v:02d}", VAN_CAPACITY_L, DEPOT, DAY_START, DAY_END) for v in range(vans)]
    return Day(out, fleet, homes, stops - homes)


def first_place_only(day: Day) -> Day:
    """The same day planned without roaming: every stop at its first place only."""
    return replace(day, stops=[(options[:1], litres) for options, litres in day.stops])


# --- measuring -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """One solve, checked independently."""

    budget: float
    wall: float
    cost: int
    feasible: bool
    vans_used: int
    violations: int
    first_violation: str
    rounds: list[dict[str, Any]]


def run(day: DayProblem, seconds: float, seed: int) -> Outcome:
    started = time.perf_counter()
    plan, log = solve_with_log(day.problem, seconds=seconds, seed=seed)
    wall = time.perf_counter() - started
    return _outcome(day, plan, log, seconds, wall)


def _outcome(day: DayProblem, plan: Plan, log: SolveLog, budget: float, wall: float) -> Outcome:
    report = check_plan(day.problem, plan)
    return Outcome(
        budget=budget,
        wall=round(wall, 2),
        cost=report.cost,
        feasible=report.feasible,
        vans_used=sum(1 for route in plan.routes if route.locations),
        violations=len(report.violations),
        first_violation=report.violations[0] if report.violations else "",
        rounds=[
            {
                "search_cost": r.search_cost,
                "partition_cost": r.partition_cost,
                "pool": r.pool_size,
                "search_s": r.search_seconds,
                "partition_s": r.partition_seconds,
            }
            for r in log.rounds
        ],
    )


@dataclass(frozen=True, slots=True)
class Ladder:
    """Solves with growing budgets until the first plan the checker accepts."""

    runs: list[Outcome]
    found: bool

    @property
    def wall(self) -> float | None:
        """Wall seconds of the first run that gave a feasible plan (an upper bound)."""
        return self.runs[-1].wall if self.found else None

    @property
    def lower_bound(self) -> float | None:
        """Wall seconds of the last run that gave none (0 when the first run already did)."""
        if not self.found:
            return None
        return self.runs[-2].wall if len(self.runs) > 1 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "wall_seconds": self.wall,
            "budget_seconds": self.runs[-1].budget if self.found else None,
            "lower_bound_seconds": self.lower_bound,
            "runs": [
                {"budget": o.budget, "wall": o.wall, "feasible": o.feasible, "cost": o.cost}
                for o in self.runs
            ],
        }


def first_feasible(day: DayProblem, limit: float, seed: int, label: str) -> Ladder:
    """Solve with budgets 0.25, 0.5, 1, 2, ... s (never more than `limit`) until the checker
    accepts a plan."""
    runs: list[Outcome] = []
    budget = min(0.25, limit)
    while True:
        outcome = run(day, budget, seed)
        runs.append(outcome)
        print(
            f"  {label}, budget {budget:5.2f} s: wall {outcome.wall:6.2f} s, "
            f"{'feasible' if outcome.feasible else 'infeasible'}, cost {outcome.cost}",
            file=sys.stderr,
        )
        if outcome.feasible or budget >= limit:
            return Ladder(runs, outcome.feasible)
        budget = min(budget * 2, limit)


def build(day: Day, name: str) -> tuple[DayProblem, float]:
    started = time.perf_counter()
    problem = build_problem(
        name=name, depot=DEPOT, vans=day.vans, stops=day.stops, matrix=GreatCircleMatrix()
    )
    return problem, time.perf_counter() - started


def _load() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table and a JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="budget of each main solve")
    parser.add_argument("--seed", type=int, default=0, help="seeds the day and the solver")
    parser.add_argument("--stops", type=int, default=1000)
    parser.add_argument("--vans", type=int, default=20)
    args = parser.parse_args(argv)
    if args.stops < 1 or args.vans < 1 or not args.seconds > 0:
        parser.error("--stops, --vans and --seconds must be positive")

    load_before = _load()
    day = synthetic_day(stops=args.stops, vans=args.vans, seed=args.seed)
    roaming, roaming_build = build(day, f"munich-{args.seed}")
    fixed, fixed_build = build(first_place_only(day), f"munich-{args.seed}-first-place")
    places = sum(len(stop.places) for stop in roaming.problem.stops)
    trunk_places = places - day.home_stops
    print(
        f"day: {args.stops} stops ({day.home_stops} home, {day.trunk_stops} trunk with "
        f"{trunk_places} places, {trunk_places / max(day.trunk_stops, 1):.2f} each), "
        f"{args.vans} vans of {VAN_CAPACITY_L} l, {len(roaming.problem.locations)} locations; "
        f"built in {roaming_build:.1f} s (first-place-only: {fixed_build:.1f} s); "
        f"load {load_before}",
        file=sys.stderr,
    )

    print("time to the first feasible plan:", file=sys.stderr)
    roaming_first = first_feasible(roaming, args.seconds, args.seed, "roaming")
    fixed_first = first_feasible(fixed, args.seconds, args.seed, "first place only")
    print(f"full budget, {args.seconds:g} s each:", file=sys.stderr)
    with_roaming = run(roaming, args.seconds, args.seed)
    without = run(fixed, args.seconds, args.seed)
    load_after = _load()

    saving = (
        round(100.0 * (without.cost - with_roaming.cost) / without.cost, 2)
        if without.cost and with_roaming.feasible and without.feasible
        else None
    )

    def _first(ladder: Ladder) -> str:
        if not ladder.found:
            return f"none in {args.seconds:g} s"
        if len(ladder.runs) == 1:  # the shortest solve already had one
            return f"<= {ladder.wall:.1f}"
        return f"{ladder.lower_bound:.1f}-{ladder.wall:.1f}"

    rows = [
        ("plan", "first feasible s", "budget s", "wall s", "cost m", "vans", "feasible"),
        *(
            (
                label,
                _first(ladder),
                f"{o.budget:g}",
                f"{o.wall:.1f}",
                str(o.cost),
                str(o.vans_used),
                str(o.feasible),
            )
            for label, ladder, o in (
                ("roaming", roaming_first, with_roaming),
                ("first place only", fixed_first, without),
            )
        ),
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(
                cell.ljust(w) if c == 0 else cell.rjust(w)
                for c, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print(
        "first feasible s: wall time of the shortest solve (budgets 0.25, 0.5, 1, ... s) "
        "whose plan the checker accepts (after the wall time of the last one it rejected)"
    )
    if saving is not None:
        print(
            f"roaming saves {without.cost - with_roaming.cost} m "
            f"({saving:.2f} %) against first place only at {args.seconds:g} s"
        )
    else:
        print("saving: not comparable (a plan is infeasible)")
    for label, outcome in (("roaming", with_roaming), ("first place only", without)):
        if outcome.violations:
            print(f"{label}: {outcome.violations} violations, e.g. {outcome.first_violation}")
    print(
        f"build {roaming_build:.1f} s ({len(roaming.problem.locations)} locations); "
        f"load average before {load_before}, after {load_after}; cores {os.cpu_count()}"
    )
    summary = {
        "stops": args.stops,
        "home_stops": day.home_stops,
        "trunk_stops": day.trunk_stops,
        "trunk_places": trunk_places,
        "locations": len(roaming.problem.locations),
        "vans": args.vans,
        "seconds": args.seconds,
        "seed": args.seed,
        "build_seconds": round(roaming_build, 2),
        "first_feasible_seconds": roaming_first.wall,
        "first_feasible": roaming_first.as_json(),
        "first_place_first_feasible": fixed_first.as_json(),
        "roaming_cost_m": with_roaming.cost,
        "roaming_feasible": with_roaming.feasible,
        "roaming_vans_used": with_roaming.vans_used,
        "roaming_wall_seconds": with_roaming.wall,
        "roaming_rounds": with_roaming.rounds,
        "first_place_cost_m": without.cost,
        "first_place_feasible": without.feasible,
        "first_place_vans_used": without.vans_used,
        "first_place_wall_seconds": without.wall,
        "first_place_rounds": without.rounds,
        "saving_percent": saving,
        "load_before": load_before,
        "load_after": load_after,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
