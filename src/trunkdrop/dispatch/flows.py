"""Planning a depot's day from the booked deliveries (re-planning it when things change is
in `replans`).

Spans domains: it reads deliveries and their itineraries, builds our routing problem
(integer seconds from local midnight and metres), solves it, checks the plan
independently, and stores routes whose stops carry ETAs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.deliveries import lookups
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.domain import is_pickup
from trunkdrop.deliveries.models import Delivery
from trunkdrop.dispatch import routes
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.checker import check_plan
from trunkdrop.dispatch.costs import CostModel
from trunkdrop.dispatch.matrix import MatrixProvider, Point
from trunkdrop.dispatch.models import Route
from trunkdrop.dispatch.problem import (
    Location,
    Place,
    Plan,
    Problem,
    ProblemError,
    Stop,
    VehicleType,
    Window,
)
from trunkdrop.dispatch.reach import TRUNK_SERVICE_S
from trunkdrop.dispatch.schemas import PlanCreate
from trunkdrop.dispatch.solver import SolverSettings, solve, solve_repeatable
from trunkdrop.dispatch.unserved import Unserved, unserved_stops
from trunkdrop.errors import Conflict, Forbidden, InvalidInput, NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties.models import Party, Role

# Planned time at a stop: parking, walking, the car's unlock and lock (10–40 s each way).
SERVICE_SECONDS = {"trunk": TRUNK_SERVICE_S, "home": 240}
# A door may stay shut; a trunk whose car reported where it stands does not. The planner
# prices that risk at the repeat attempt it is expected to cause (`CostModel.door_risk_eur`),
# as a detour at the km rate; this many metres when km carry no price.
DOOR_RISK_M = 3_000


@dataclass(frozen=True)
class Candidate:
    """One way to serve a delivery: a trunk place of its itinerary, or the home address."""

    delivery_id: str
    mode: str
    option_seq: int | None
    point: Point
    open_s: int
    close_s: int
    penalty_m: int = 0


@dataclass(frozen=True)
class Van:
    driver_id: str
    capacity_l: int
    start: Point
    start_s: int
    end_s: int
    route_id: str | None = None


@dataclass(frozen=True)
class DayProblem:
    problem: Problem
    candidates: dict[int, Candidate]  # location index -> what serving it means
    vans: list[Van]


@dataclass(frozen=True)
class DaySolution:
    """A solved day: each used van's locations in order (by van number), and the deliveries
    no van could serve with the reason (`dispatch.unserved.Unserved`)."""

    routes: list[tuple[int, tuple[int, ...]]]
    unplanned: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DayPlan:
    """A stored day's plan: its routes and the deliveries it left out, with the reason."""

    routes: list[Route]
    unplanned: tuple[tuple[str, str], ...] = ()


def seconds_of_day(moment: datetime, day: date, tz: str) -> int:
    midnight = datetime.combine(day, time(0), ZoneInfo(tz))
    return int((moment - midnight).total_seconds())


def candidates_for(
    *,
    session: Session,
    delivery: Delivery,
    day: date,
    settings: Settings,
    home_as_option: bool,
    after_s: int = 0,
) -> list[Candidate]:
    """The ways this delivery can still be served: itinerary places from the current one on,
    and the fallback address during service hours when the booking allows it."""
    found: list[Candidate] = []
    if delivery.mode == "trunk":
        for option in lookups.options_of(session=session, delivery_id=delivery.id):
            if delivery.current_option is not None and option.seq < delivery.current_option:
                continue
            open_s = max(seconds_of_day(option.window_start, day, settings.timezone), after_s)
            close_s = (
                seconds_of_day(option.window_end, day, settings.timezone) - SERVICE_SECONDS["trunk"]
            )
            if close_s >= open_s >= 0:
                found.append(
                    Candidate(
                        delivery.id,
                        "trunk",
                        option.seq,
                        (option.latitude, option.longitude),
                        open_s,
                        close_s,
                    )
                )
    if (
        delivery.fallback_latitude is not None
        and delivery.fallback_longitude is not None
        and (home_as_option or delivery.mode == "home")
    ):
        open_s = max(settings.service_day_start_hour * 3600, after_s)
        close_s = settings.service_day_end_hour * 3600 - SERVICE_SECONDS["home"]
        if delivery.door_window_start is not None and delivery.door_window_end is not None:
            open_s = max(
                seconds_of_day(delivery.door_window_start, day, settings.timezone), after_s
            )
            close_s = (
                seconds_of_day(delivery.door_window_end, day, settings.timezone)
                - SERVICE_SECONDS["home"]
            )
        if close_s >= open_s:
            found.append(
                Candidate(
                    delivery.id,
                    "home",
                    None,
                    (delivery.fallback_latitude, delivery.fallback_longitude),
                    open_s,
                    close_s,
                    penalty_m=CostModel.from_settings(settings).door_risk_m(DOOR_RISK_M)
                    if found
                    else 0,
                )
            )
    return found


def build_problem(
    *,
    name: str,
    depot: Point,
    vans: list[Van],
    stops: list[tuple[list[Candidate], int]],
    matrix: MatrixProvider,
    optional: bool = False,
    costs: CostModel | None = None,
    pickups: frozenset[str] = frozenset(),
) -> DayProblem:
    """Locations: the depot, each van's start, then every candidate place (one location each).

    With `optional`, a stop no plan can serve is left out instead of failing the whole plan:
    each stop carries a prize larger than serving it can ever cost. With `costs` the plan
    minimises the carrier's cost (vans, km, driver hours); without, metres alone. A stop
    whose delivery id is in `pickups` (a return or a send) is a load collected there and
    carried back, not one carried out from the depot."""
    points: list[Point] = [depot]
    starts: list[int] = []
    for van in vans:
        if van.start == depot:
            starts.append(0)
        else:
            starts.append(len(points))
            points.append(van.start)
    candidates: dict[int, Candidate] = {}
    problem_stops: list[Stop] = []
    for options, demand in stops:
        places = []
        for candidate in options:
            index = len(points)
            points.append(candidate.point)
            candidates[index] = candidate
            places.append(Place(index, Window(candidate.open_s, candidate.close_s)))
        name = options[0].delivery_id
        collected = name in pickups
        problem_stops.append(
            Stop(
                name=name,
                places=tuple(places),
                demand=0 if collected else demand,
                pickup=demand if collected else 0,
            )
        )
    m = matrix.matrices(points)
    cost = m.metres.copy()
    for index, candidate in candidates.items():
        cost[:, index] += candidate.penalty_m
        cost[index, index] = 0
    service = [
        SERVICE_SECONDS[candidates[i].mode] if i in candidates else 0 for i in range(len(points))
    ]
    prices = (
        {}
        if costs is None
        else {
            "fixed_cost": costs.fixed_cost,
            "unit_distance_cost": costs.unit_distance_cost,
            "unit_duration_cost": costs.unit_duration_cost,
        }
    )
    problem = Problem(
        name=name,
        locations=tuple(Location(i, lon, lat) for i, (lat, lon) in enumerate(points)),
        stops=(),
        vehicle_types=tuple(
            VehicleType(
                capacity=v.capacity_l,
                shift_start=v.start_s,
                shift_end=v.end_s,
                start_depot=s,
                end_depot=0,
                count=1,
                **prices,
            )
            for v, s in zip(vans, starts, strict=True)
        ),
        cost=tuple(map(tuple, cost.tolist())),
        travel_time=tuple(map(tuple, m.seconds.tolist())),
        service_times=tuple(service),
    )
    if optional:
        prize = problem.sure_prize()
        problem_stops = [replace(stop, required=False, prize=prize) for stop in problem_stops]
    problem = replace(problem, stops=tuple(problem_stops))
    return DayProblem(problem=problem, candidates=candidates, vans=vans)


def arrival_times(problem: Problem, vehicle_type: int, locations: tuple[int, ...]) -> list[int]:
    """When service starts at each location of a route (waiting for windows to open), the
    van leaving as early as it can without making its day longer: the plan was priced with
    the shortest van day (the driver is paid from leaving the depot), and a later start
    than needed would only push stops towards the evening."""
    van = problem.vehicle_types[vehicle_type]

    def walk(leave: int) -> tuple[list[int], int]:
        clock, here, begins = leave, van.start_depot, []
        for loc in locations:
            clock = max(
                clock + problem.travel_time[here][loc], problem.place_at[loc][1].window.open
            )
            begins.append(clock)
            clock += problem.service_time(loc)
            here = loc
        return begins, clock + problem.travel_time[here][van.end_depot]

    here, unhurried, latest = van.start_depot, 0, van.shift_end
    for loc in locations:
        unhurried += problem.travel_time[here][loc]
        latest = min(latest, problem.place_at[loc][1].window.close - unhurried)
        unhurried += problem.service_time(loc)
        here = loc
    unhurried += problem.travel_time[here][van.end_depot]
    latest = min(latest, van.shift_end - unhurried)
    _, back = walk(van.shift_start)
    begins, _ = walk(max(van.shift_start, min(latest, back - unhurried)))
    return begins


def parcel_litres(delivery: Delivery) -> int:
    p = delivery.parcel
    return max(1, math.ceil(int(p["length_cm"]) * int(p["width_cm"]) * int(p["height_cm"]) / 1000))


def solve_and_check(
    day: DayProblem,
    seconds: float,
    seed: int,
    iterations: int | None = None,
    search: SolverSettings | None = None,
    *,
    search_again: bool = False,
) -> DaySolution:
    """Solve `day` and check the plan independently; Conflict (plan_infeasible) when no
    plan was found that keeps every capacity, window and shift.

    With `search_again` (a day's plan, where every stop is optional and so a plan that
    keeps them all always exists) a first plan that breaks one is searched again, as long
    again, with penalties scaled to the plan's cost units (`search.penalty_params`): in
    micro-euros the default ones can price an overloaded van below a second van. A re-plan's
    stops are required: its infeasibility can be real, and is not paid for twice."""

    def search_once(settings: SolverSettings | None) -> Plan:
        if iterations is not None:
            return solve_repeatable(
                day.problem, iterations=iterations, seed=seed, settings=settings
            )
        return solve(day.problem, seconds=seconds, seed=seed, settings=settings)

    plan = search_once(search)
    report = check_plan(day.problem, plan)
    if not report.feasible and search_again and not (search and search.scaled_penalties):
        plan = search_once(replace(search or SolverSettings(), scaled_penalties=True))
        report = check_plan(day.problem, plan)
    if not report.feasible:
        raise Conflict(
            "no plan serves every delivery with these vans and shifts: "
            + "; ".join(report.violations[:3]),
            code="plan_infeasible",
            extra={"violations": list(report.violations[:20])},
        )
    unplanned = tuple(
        (day.problem.stops[number].name, str(reason))
        for number, reason in sorted(unserved_stops(day.problem, plan).items())
    )
    return DaySolution(
        routes=[(r.vehicle_type, r.locations) for r in plan.routes if r.locations],
        unplanned=unplanned,
    )


def served(
    *,
    session: Session,
    day: DayProblem,
    vehicle_type: int,
    locations: tuple[int, ...],
    service_date: date,
    settings: Settings,
) -> Iterator[tuple[Candidate, Delivery, datetime]]:
    """The deliveries a van's planned locations serve, in order, each switched to the mode
    and place the plan chose, with the van's arrival there."""
    midnight = datetime.combine(service_date, time(0), ZoneInfo(settings.timezone))
    etas = arrival_times(day.problem, vehicle_type, locations)
    for loc, eta_s in zip(locations, etas, strict=True):
        candidate = day.candidates[loc]
        delivery = lookups.get_delivery(session=session, delivery_id=candidate.delivery_id)
        delivery.mode, delivery.current_option = candidate.mode, candidate.option_seq
        yield candidate, delivery, midnight + timedelta(seconds=eta_s)


def _store_stops(
    *,
    session: Session,
    day: DayProblem,
    route: Route,
    locations: tuple[int, ...],
    vehicle_type: int,
    service_date: date,
    settings: Settings,
    now: datetime,
) -> None:
    for candidate, delivery, eta in served(
        session=session,
        day=day,
        vehicle_type=vehicle_type,
        locations=locations,
        service_date=service_date,
        settings=settings,
    ):
        stop = dispatch.add_stop(
            session=session,
            route=route,
            delivery_id=delivery.id,
            mode=candidate.mode,
            option_seq=candidate.option_seq,
        )
        stop.eta = eta
        if route.status == "planned":
            events.record(
                session=session,
                event=Event(
                    kind="delivery.planned",
                    at=now,
                    subject=delivery.id,
                    delivery_id=delivery.id,
                    text=f"planned for {service_date.isoformat()}, around {deliveries.local_time(stop.eta, settings)}",
                ),
            )
    session.flush()


@dataclass(frozen=True)
class DayDraft:
    """A day's routing problem read from the database, with what storing its answer needs.
    Pure data: it can be solved in another process (zones of a big day in parallel)."""

    day: DayProblem
    plan_in: PlanCreate
    # Deliveries with no window left in the shift at all: no van can serve them.
    left_out: tuple[tuple[str, str], ...] = ()


def plan_day(
    *,
    session: Session,
    settings: Settings,
    carrier: Party,
    plan_in: PlanCreate,
    matrix: MatrixProvider,
    now: datetime,
) -> DayPlan:
    """Plan every booked, unrouted delivery of the carrier for one day onto its drivers' vans;
    those no van can serve stay booked, each with the reason (see `hold_unplanned`)."""
    draft = prepare_day(
        session=session, settings=settings, carrier=carrier, plan_in=plan_in, matrix=matrix
    )
    return store_day(
        session=session,
        settings=settings,
        carrier=carrier,
        draft=draft,
        solved=solve_day(draft),
        now=now,
    )


def solve_day(draft: DayDraft, *, search: SolverSettings | None = None) -> DaySolution:
    """Solve a drafted day and check the plan independently (Conflict when infeasible);
    `search` sets the search's knobs (the solver's defaults if None)."""
    solved = solve_and_check(
        draft.day,
        draft.plan_in.seconds,
        draft.plan_in.seed,
        draft.plan_in.iterations,
        search,
        search_again=True,
    )
    return replace(solved, unplanned=draft.left_out + solved.unplanned)


def prepare_day(
    *,
    session: Session,
    settings: Settings,
    carrier: Party,
    plan_in: PlanCreate,
    matrix: MatrixProvider,
) -> DayDraft:
    """Read and check what a day's plan needs: drivers, shift, the unrouted deliveries and
    their candidate places; build the routing problem."""
    areas = dispatch.list_service_areas(session=session, carrier_id=carrier.id)
    if not areas:
        raise Conflict("the carrier has no service area (and so no depot)", code="no_service_area")
    depot = (areas[0].depot_latitude, areas[0].depot_longitude)
    for i, driver_id in enumerate(plan_in.driver_ids):
        driver = session.get(Party, driver_id)
        if driver is None or driver.role != Role.driver:
            raise NotFound(f"no driver with id {driver_id!r}", field=f"driver_ids[{i}]")
        if driver.carrier_id != carrier.id:
            raise Forbidden("this driver works for another carrier", field=f"driver_ids[{i}]")
    start_s = plan_in.shift_start.hour * 3600 + plan_in.shift_start.minute * 60
    end_s = plan_in.shift_end.hour * 3600 + plan_in.shift_end.minute * 60
    if end_s <= start_s:
        raise InvalidInput("the shift ends before it starts", field="shift_end")
    vans = [Van(d, plan_in.van_capacity_l, depot, start_s, end_s) for d in plan_in.driver_ids]
    todo = routes.unrouted(
        session=session,
        carrier_id=carrier.id,
        service_date=plan_in.service_date,
    )
    if plan_in.delivery_ids is not None:
        wanted = set(plan_in.delivery_ids)
        todo = [d for d in todo if d.id in wanted]
    if not todo:
        raise Conflict(
            f"no booked delivery waits to be planned on {plan_in.service_date}",
            code="nothing_to_plan",
        )
    stops = []
    left_out: list[tuple[str, str]] = []
    for delivery in todo:
        options = candidates_for(
            session=session,
            delivery=delivery,
            day=plan_in.service_date,
            settings=settings,
            home_as_option=plan_in.home_as_option,
        )
        if options:
            stops.append((options, parcel_litres(delivery)))
        else:
            left_out.append((delivery.id, str(Unserved.window_unreachable)))
    try:
        day = build_problem(
            name=f"{carrier.id}-{plan_in.service_date}",
            depot=depot,
            vans=vans,
            stops=stops,
            matrix=matrix,
            optional=True,
            costs=CostModel.from_settings(settings),
            pickups=frozenset(d.id for d in todo if is_pickup(d.purpose)),
        )
    except ProblemError as e:
        raise InvalidInput(str(e), code="plan_input_invalid") from e
    return DayDraft(day=day, plan_in=plan_in, left_out=tuple(left_out))


def store_day(
    *,
    session: Session,
    settings: Settings,
    carrier: Party,
    draft: DayDraft,
    solved: DaySolution,
    now: datetime,
) -> DayPlan:
    """Store a solved day: one route per used van, stops with their ETAs; each delivery
    left out is held with its reason."""
    routes: list[Route] = []
    for vehicle_type, locations in solved.routes:
        van = draft.day.vans[vehicle_type]
        route = dispatch.create_route(
            session=session,
            carrier=carrier,
            driver_id=van.driver_id,
            service_date=draft.plan_in.service_date,
            now=now,
            capacity_l=van.capacity_l,
            shift=(van.start_s, van.end_s),
        )
        _store_stops(
            session=session,
            day=draft.day,
            route=route,
            locations=locations,
            vehicle_type=vehicle_type,
            service_date=draft.plan_in.service_date,
            settings=settings,
            now=now,
        )
        routes.append(route)
    for delivery_id, reason in solved.unplanned:
        hold_unplanned(
            session=session,
            settings=settings,
            delivery_id=delivery_id,
            reason=reason,
            door_planned=draft.plan_in.home_as_option,
            now=now,
        )
    return DayPlan(routes=routes, unplanned=solved.unplanned)


def hold_unplanned(
    *,
    session: Session,
    settings: Settings,
    delivery_id: str,
    reason: str,
    door_planned: bool,
    now: datetime,
) -> None:
    """A delivery the day's plan left out: nothing was attempted, so nothing fails or goes
    back to the sender. It stays booked at the depot with the reason; by the fallback
    policy a trunk parcel whose plan did not consider the door goes to the door next
    time. Shop, carrier and customer are told, so that another window can be chosen."""
    delivery = lookups.get_delivery(session=session, delivery_id=delivery_id)
    fallback = "another_day"
    if delivery.mode == "trunk" and not door_planned and delivery.fallback_address is not None:
        delivery.mode, delivery.current_option = "home", None
        fallback = "home"
    delivery.outcome_reason = reason
    text = f"not planned today ({reason.replace('_', ' ')}): " + (
        f"will deliver to the fallback address: {delivery.fallback_address}"
        if fallback == "home"
        else "the parcel waits at the depot for another window"
    )
    events.record(
        session=session,
        event=Event(
            kind="delivery.not_planned",
            at=now,
            subject=delivery.id,
            delivery_id=delivery.id,
            facts={"reason": reason, "fallback": fallback},
            text=text,
            parties=(delivery.retailer_id, delivery.carrier_id, delivery.customer_id),
        ),
    )
    session.flush()
