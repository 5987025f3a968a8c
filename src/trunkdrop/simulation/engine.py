"""Runs one strategy's day through the real platform: parties, checkout and booking, planning,
drivers driving and attempting, cars answering through the simulator adapter, the watchdog.

Only the clock is simulated. Every step calls the same services as production.
"""

from __future__ import annotations

import heapq
import itertools
import math
import multiprocessing
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from trunkdrop import workers
from trunkdrop.access.tokens import TRUNK_UNLOCK, b64u, proof_message
from trunkdrop.bootstrap import Platform, bootstrap
from trunkdrop.clock import ManualClock
from trunkdrop.config import Settings
from trunkdrop.deliveries import attempts
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.models import Attempt
from trunkdrop.deliveries.schemas import AttemptStart, DeliveryCreate
from trunkdrop.devices import service as devices
from trunkdrop.devices.schemas import DeviceProof, DeviceRegister
from trunkdrop.dispatch import flows as planning
from trunkdrop.dispatch import routes
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.schemas import PlanCreate, ServiceAreaCreate
from trunkdrop.errors import DomainError
from trunkdrop.geo import distance_m
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Party
from trunkdrop.places import service as places
from trunkdrop.places.schemas import PlaceCreate
from trunkdrop.schemas import Position
from trunkdrop.simulation.city import (
    DEPOT,
    MUNICH_CENTRE,
    Customer,
    Point,
    car_position,
    itinerary,
    somebody_opens,
)
from trunkdrop.store.base import reproducible_ids
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.schemas import VehicleLink

STRATEGIES = ("home", "trunk_fixed", "trunk_roaming", "trunk_roaming_home")
TZ = ZoneInfo("Europe/Berlin")
DETOUR, SPEED = 1.3, 25 / 3.6  # road detour factor, urban van speed in m/s
PARK_AND_WALK_S = 60
DOOR_SERVICE_S, TRUNK_SERVICE_S = 180, 90
SHIFT_START, SHIFT_END, DAY_END = 8 * 3600, 21 * 3600, 22 * 3600
ZONE_SIZE = 220  # deliveries planned together (one problem per zone)
STOPS_PER_VAN = 45
HURRIED = 0.02  # share of trunk deposits after which the driver forgets to shut the lid


@dataclass
class RunConfig:
    strategy: str
    customers: list[Customer]
    seed: int
    database: Path
    solver_iterations: int
    day: date = date(2026, 12, 1)
    planning_jobs: int = 2  # zones solved side by side


@dataclass
class Driver:
    party_id: str
    route_id: str
    device_id: str = ""
    handset: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate, repr=False)
    at: Point = DEPOT
    km: float = 0.0
    started_s: int | None = None
    ended_s: int | None = None
    waiting_s: int = 0  # at places, for windows to open


@dataclass
class Visit:
    """Where a driver is in the current stop."""

    stop: str = ""
    attempt: str = ""
    polls: int = 0
    lid: tuple[str, str] | None = None  # a trunk left open: (brand, external id)
    car: tuple[str, str] | None = None  # (brand, external id) of the car at this stop


@dataclass
class DayRecord:
    """What the simulation observed outside the database (driving)."""

    drivers: list[Driver] = field(default_factory=list)
    # Parcels no van could serve, by reason (`dispatch.unserved.Unserved`, or "no_plan" for
    # a zone whose plan failed outright); they went down the fallback policy.
    unplanned_by_reason: dict[str, int] = field(default_factory=dict)
    stuck: int = 0

    @property
    def unplanned(self) -> int:
        return sum(self.unplanned_by_reason.values())

    def count_unplanned(self, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self.unplanned_by_reason[reason] = self.unplanned_by_reason.get(reason, 0) + 1


def _at(day: date, seconds: int) -> datetime:
    return datetime.combine(day, time(0), TZ) + timedelta(seconds=seconds)


def _secs(day: date, moment: datetime) -> int:
    return int((moment - datetime.combine(day, time(0), TZ)).total_seconds())


def _party(session: Session, party_id: str) -> Party:
    party = session.get(Party, party_id)
    assert party is not None
    return party


class DayRun:
    def __init__(self, config: RunConfig, progress: Callable[[str, float], None]) -> None:
        self.c = config
        self.progress = progress
        self.rng = random.Random(config.seed * 7919 + STRATEGIES.index(config.strategy))
        self.clock = ManualClock(_at(config.day, 6 * 3600))
        if config.database.exists():
            config.database.unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{config.database}{suffix}").unlink(missing_ok=True)
        # The simulated carrier plans each zone once and does not re-plan during the day
        # (re-planning searches for seconds of wall time, which would make the numbers
        # depend on the machine): a fallback stop goes to the end of its van's route.
        settings = Settings(
            database_url=f"sqlite:///{config.database}",
            environment="development",
            auto_replan=False,
        )
        self.p: Platform = bootstrap(settings, clock=self.clock)
        self.record = DayRecord()
        self.by_delivery: dict[str, Customer] = {}
        self.vehicle_of: dict[
            int, tuple[str, str, str]
        ] = {}  # customer -> (vehicle id, brand, external id)
        self.events: list[tuple[int, int, str, int]] = []
        self.seq = itertools.count()

    # -- set-up --------------------------------------------------------------------------
    def setup(self) -> None:
        now = self.clock.now()
        with self.p.uow() as s:
            self.shop = parties.create_party(
                session=s, role="retailer", name="Isar Outfitters", now=now
            ).id
            carrier = parties.create_party(
                session=s, role="carrier", name="Bavaria Parcel", now=now
            )
            self.carrier = carrier.id
            dispatch.create_service_area(
                session=s,
                carrier=carrier,
                now=now,
                area_in=ServiceAreaCreate(
                    name="Munich",
                    latitude=MUNICH_CENTRE[0],
                    longitude=MUNICH_CENTRE[1],
                    radius_m=25_000,
                    depot_latitude=DEPOT[0],
                    depot_longitude=DEPOT[1],
                ),
            )
        for chunk in _chunks(self.c.customers, 250):
            with self.p.uow() as s:
                for cust in chunk:
                    self._add_customer(s, cust, now)
        self.progress("customers linked their cars", 0.05)

    def _add_customer(self, s: Session, cust: Customer, now: datetime) -> None:
        party = parties.create_party(
            session=s, role="customer", name=f"Customer {cust.number}", now=now
        )
        cust.extras["party"] = 0.0
        self.party_of = getattr(self, "party_of", {})
        self.party_of[cust.number] = party.id
        external = f"MUC{cust.number:010d}"
        car = vehicles.link_vehicle(
            session=s,
            registry=self.p.registry,
            owner=party,
            now=now,
            vehicle_in=VehicleLink(
                brand=cust.brand,
                external_id=external,
                make=cust.brand.split("-")[1].title(),
                model="Compact",
                year=2022,
                plate=f"M-{cust.number % 100:02d} {cust.number}",
                colour="grey",
                trunk_volume_l=380,
            ),
        )
        self.vehicle_of[cust.number] = (car.id, cust.brand, external)
        self.place_of = getattr(self, "place_of", {})
        seen: dict[Point, str] = {}
        for stay in cust.day:
            if stay.point not in seen:
                seen[stay.point] = places.create_place(
                    session=s,
                    owner=party,
                    now=now,
                    place_in=PlaceCreate(
                        label=stay.label,
                        latitude=stay.point[0],
                        longitude=stay.point[1],
                        address=f"{stay.label} of customer {cust.number}",
                        is_home=stay.label == "home",
                    ),
                ).id
        self.place_of[cust.number] = seen

    # -- checkout and booking ------------------------------------------------------------
    def book(self) -> None:
        for n, chunk in enumerate(_chunks(self.c.customers, 200)):
            with self.p.uow() as s:
                shop = _party(s, self.shop)
                for cust in chunk:
                    delivery_id = self._book_one(s, shop, cust)
                    self.by_delivery[delivery_id] = cust
            self.progress(
                "shops booked at checkout",
                0.05 + 0.1 * (n + 1) * 200 / max(1, len(self.c.customers)),
            )

    def _book_one(self, s: Session, shop: Party, cust: Customer) -> str:
        now = self.clock.now()
        dims = self.rng.choice(
            [(30, 20, 10), (40, 30, 20), (35, 25, 15), (60, 40, 40), (20, 15, 10)]
        )
        parcel = {
            "reference": f"PCL{self.c.seed:04d}{cust.number:07d}",
            "length_cm": dims[0],
            "width_cm": dims[1],
            "height_cm": dims[2],
            "weight_g": self.rng.randint(200, 12_000),
            "declared_value_cents": self.rng.randint(500, 40_000),
        }
        base: dict[str, object] = {
            "customer_id": self.party_of[cust.number],
            "retailer_reference": f"ORD-{cust.number}",
            "parcel": parcel,
            "fallback_address": {
                "address": f"home of customer {cust.number}",
                "latitude": cust.home[0],
                "longitude": cust.home[1],
            },
        }
        if self.c.strategy != "home":
            # The customer told trunkdrop the car's day, so the platform also knows when they are home.
            at_home = [
                st
                for st in itinerary(cust, open_s=SHIFT_START, close_s=SHIFT_END)
                if st.label == "home"
            ]
            if at_home:
                longest = max(at_home, key=lambda st: st.end_s - st.start_s)
                base["door_window"] = {
                    "start": _at(self.c.day, longest.start_s),
                    "end": _at(self.c.day, longest.end_s),
                }
            stays = itinerary(cust, open_s=SHIFT_START, close_s=SHIFT_END)
            if self.c.strategy == "trunk_fixed" and stays:
                stays = [max(stays, key=lambda st: st.end_s - st.start_s)]
            if stays:
                body = {**base, "vehicle_id": self.vehicle_of[cust.number][0], "itinerary": [
                    {"place_id": self.place_of[cust.number][st.point], "window_start": _at(self.c.day, st.start_s),
                     "window_end": _at(self.c.day, st.end_s)} for st in stays]}  # fmt: skip
                try:
                    with s.begin_nested():
                        return deliveries.book(
                            session=s,
                            settings=self.p.settings,
                            retailer=shop,
                            now=now,
                            delivery_in=DeliveryCreate.model_validate(body),
                        ).id
                except DomainError:
                    pass  # not eligible for the trunk (car, parcel): the door it is
        body = {**base, "service_date": self.c.day}
        return deliveries.book(
            session=s,
            settings=self.p.settings,
            retailer=shop,
            now=now,
            delivery_in=DeliveryCreate.model_validate(body),
        ).id

    # -- planning ------------------------------------------------------------------------
    def plan(self) -> None:
        """The carrier plans each zone of the city; the zones' problems are solved side by
        side on the machine's cores, then stored, through the same steps as `plan_day`."""
        ids = list(self.by_delivery)
        zones = self._zones(ids)
        drafts: list[planning.DayDraft | None] = []
        for z, zone in enumerate(zones):
            vans = max(1, math.ceil(len(zone) / STOPS_PER_VAN))
            try:
                drafts.append(self._draft(z, zone, vans))
            except DomainError:
                drafts.append(None)
        with ProcessPoolExecutor(
            max_workers=max(1, min(self.c.planning_jobs, len(zones))),
            mp_context=multiprocessing.get_context("spawn"),
        ) as pool:
            solved = list(pool.map(_solve_zone, drafts))
        drivers: list[Driver] = []
        for z, (zone, draft, answer) in enumerate(zip(zones, drafts, solved, strict=True)):
            if draft is not None and answer is not None:
                with self.p.uow() as s:
                    day = planning.store_day(
                        session=s,
                        settings=self.p.settings,
                        carrier=_party(s, self.carrier),
                        draft=draft,
                        solved=answer,
                        now=self.clock.now(),
                    )
                    drivers.extend(Driver(r.driver_id, r.id) for r in day.routes)
                    self.record.count_unplanned(reason for _, reason in day.unplanned)
            else:
                drivers.extend(self._plan_with_more_vans(z, zone))
            self.progress("carrier planned its vans", 0.15 + 0.25 * (z + 1) / len(zones))
        self.record.drivers = drivers
        with self.p.uow() as s:
            for d in drivers:
                public = d.handset.public_key().public_bytes(
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw
                )
                d.device_id = devices.register_device(
                    session=s,
                    driver=_party(s, d.party_id),
                    now=self.clock.now(),
                    device_in=DeviceRegister(public_key=b64u(public), label="handset"),
                ).id
                devices.approve_device(
                    session=s,
                    party=_party(s, self.carrier),
                    device_id=d.device_id,
                    now=self.clock.now(),
                )
        with self.p.uow() as s:
            carrier = _party(s, self.carrier)
            for d in drivers:
                routes.start_route(
                    session=s,
                    settings=self.p.settings,
                    party=carrier,
                    route=dispatch.get_route(session=s, route_id=d.route_id),
                    now=self.clock.now(),
                )

    def _hire(self, z: int, vans: int) -> list[str]:
        with self.p.uow() as s:
            carrier = _party(s, self.carrier)
            return [
                parties.create_party(
                    session=s,
                    role="driver",
                    name=f"Driver {z}-{i}",
                    carrier_id=carrier.id,
                    now=self.clock.now(),
                ).id
                for i in range(vans)
            ]

    def _plan_in(self, zone: list[str], drivers: list[str]) -> PlanCreate:
        return PlanCreate(
            service_date=self.c.day,
            driver_ids=drivers,
            seconds=60.0,
            iterations=self.c.solver_iterations,
            seed=self.c.seed,
            home_as_option=self.c.strategy == "trunk_roaming_home",
            delivery_ids=zone,
        )

    def _draft(self, z: int, zone: list[str], vans: int) -> planning.DayDraft:
        drivers = self._hire(z, vans)
        with self.p.uow() as s:
            return planning.prepare_day(
                session=s,
                settings=self.p.settings,
                carrier=_party(s, self.carrier),
                matrix=self.p.matrix,
                plan_in=self._plan_in(zone, drivers),
            )

    def _plan_with_more_vans(self, z: int, zone: list[str]) -> list[Driver]:
        """A zone the first fleet could not serve: more vans, planned in this process."""
        vans = max(1, math.ceil(len(zone) / STOPS_PER_VAN))
        for _ in range(3):
            vans += max(1, vans // 3)
            drivers = self._hire(z, vans)
            try:
                with self.p.uow() as s:
                    day = planning.plan_day(
                        session=s,
                        settings=self.p.settings,
                        carrier=_party(s, self.carrier),
                        matrix=self.p.matrix,
                        now=self.clock.now(),
                        plan_in=self._plan_in(zone, drivers),
                    )
                    self.record.count_unplanned(reason for _, reason in day.unplanned)
                    return [Driver(r.driver_id, r.id) for r in day.routes]
            except DomainError:
                continue
        self.record.count_unplanned("no_plan" for _ in zone)
        return []

    def _zones(self, ids: list[str]) -> list[list[str]]:
        """Cut the city into slices around the centre so each problem stays small."""
        count = max(1, math.ceil(len(ids) / ZONE_SIZE))

        def angle(delivery_id: str) -> float:
            lat, lon = self.by_delivery[delivery_id].home
            return math.atan2(lat - MUNICH_CENTRE[0], (lon - MUNICH_CENTRE[1]) * 0.67)

        ordered = sorted(ids, key=lambda i: (angle(i), i))
        size = math.ceil(len(ordered) / count)
        return [ordered[i : i + size] for i in range(0, len(ordered), size)]

    # -- the day -------------------------------------------------------------------------
    def _push(self, at_s: int, kind: str, who: int) -> None:
        heapq.heappush(self.events, (at_s, next(self.seq), kind, who))

    def run_day(self) -> None:
        trunk_customers = {c.number: c for c in self.by_delivery.values()}
        with self.p.uow() as s:
            from trunkdrop.deliveries.models import Delivery

            booked_trunk = {
                d.vehicle_id for d in s.query(Delivery).filter(Delivery.mode == "trunk")
            }
        self.cars = [
            c for c in trunk_customers.values() if self.vehicle_of[c.number][0] in booked_trunk
        ]
        for i, cust in enumerate(self.cars):
            for stay in cust.day:
                self._push(max(stay.start_s, 6 * 3600), "park", i)
            if cust.unexpected_move:
                self._push(cust.unexpected_move[0], "park", i)
                self._push(cust.unexpected_move[1], "park", i)
            if cust.offline_in_garage:
                work = next((st for st in cust.day if st.label == "work"), None)
                if work:
                    self._push(work.start_s + 60, "offline", i)
                    self._push(work.end_s - 60, "online", i)
        for i, _ in enumerate(self.record.drivers):
            self._push(SHIFT_START, "go", i)
        self.state: dict[int, Visit] = {i: Visit() for i in range(len(self.record.drivers))}
        total = len(self.by_delivery)
        done_at_progress = 0
        while self.events:
            at_s, _, kind, who = heapq.heappop(self.events)
            if at_s > DAY_END:
                break
            self.clock.set(_at(self.c.day, at_s))
            getattr(self, f"_on_{kind}")(at_s, who)
            done_at_progress += 1
            if done_at_progress % 500 == 0:
                self.progress("the day runs", 0.4 + 0.55 * min(1.0, at_s / SHIFT_END))
        self.clock.set(_at(self.c.day, DAY_END))
        with self.p.uow() as s:
            carrier = _party(s, self.carrier)
            for d in self.record.drivers:
                route = dispatch.get_route(session=s, route_id=d.route_id)
                if route.status != "finished":
                    routes.close_route(session=s, party=carrier, route=route, now=self.clock.now())
        workers.run_once(self.p, self.clock.now())
        _ = total

    def _on_park(self, at_s: int, i: int) -> None:
        cust = self.cars[i]
        where = car_position(cust, at_s)
        _, brand, external = self.vehicle_of[cust.number]
        if where is not None:
            self.p.simulator.park(brand, external, where[0], where[1], self.clock.now())

    def _on_offline(self, at_s: int, i: int) -> None:
        _, brand, external = self.vehicle_of[self.cars[i].number]
        self.p.simulator.go_offline(brand, external, self.clock.now())

    def _on_online(self, at_s: int, i: int) -> None:
        _, brand, external = self.vehicle_of[self.cars[i].number]
        self.p.simulator.come_online(brand, external, self.clock.now())

    def _on_tick(self, at_s: int, _: int) -> None:
        workers.run_once(self.p, self.clock.now())

    def _on_go(self, at_s: int, i: int) -> None:
        d = self.record.drivers[i]
        if d.started_s is None:
            d.started_s = at_s
        workers.pump_simulator(self.p, self.clock.now())
        with self.p.uow() as s:
            stop = dispatch.next_open_stop(session=s, route_id=d.route_id)
            # The app checks the car's own reports first: no trip to a car that is elsewhere.
            while stop is not None and attempts.reroute_if_car_away(
                session=s, settings=self.p.settings, stop_id=stop.id, now=self.clock.now()
            ):
                stop = dispatch.next_open_stop(session=s, route_id=d.route_id)
            target = None if stop is None else planning.stop_point(s, stop)
            window = None
            if stop is not None and stop.mode == "trunk" and stop.option_seq is not None:
                opt = deliveries.option(
                    session=s, delivery_id=stop.delivery_id, seq=stop.option_seq
                )
                window = (_secs(self.c.day, opt.window_start), _secs(self.c.day, opt.window_end))
            elif stop is not None:
                # A door with a booked window: the driver comes when somebody said they are in.
                door = deliveries.get_delivery(session=s, delivery_id=stop.delivery_id)
                if door.door_window_start is not None and door.door_window_end is not None:
                    window = (
                        _secs(self.c.day, door.door_window_start),
                        _secs(self.c.day, door.door_window_end),
                    )
            stop_id = stop.id if stop else None
            eta_s = None if stop is None or stop.eta is None else _secs(self.c.day, stop.eta)
        if stop_id is None or target is None or at_s >= DAY_END - 1800:
            home = distance_m(d.at[0], d.at[1], DEPOT[0], DEPOT[1]) * DETOUR
            d.km += home / 1000
            d.ended_s = at_s + int(home / SPEED)
            d.at = DEPOT
            with self.p.uow() as s:
                route = dispatch.get_route(session=s, route_id=d.route_id)
                if route.status != "finished" and stop_id is not None:
                    routes.close_route(
                        session=s, party=_party(s, self.carrier), route=route, now=self.clock.now()
                    )
            return
        first = d.started_s == at_s and d.at == DEPOT and d.km == 0
        metres = distance_m(d.at[0], d.at[1], target[0], target[1]) * DETOUR
        d.km += metres / 1000
        d.at = target
        arrive = at_s + int(metres / SPEED) + PARK_AND_WALK_S
        if first and eta_s is not None and arrive < eta_s:
            # The plan has the van leave as late as its windows allow (the driver is paid
            # from then): the driver sets off to reach the first stop at its planned time.
            d.started_s = at_s + eta_s - arrive
            arrive = eta_s
        if window is not None and arrive < window[0]:
            if first:
                d.started_s = (d.started_s or at_s) + window[0] - arrive
            else:
                d.waiting_s += window[0] - arrive
            arrive = window[0]  # wait for the window to open
        self.state[i] = Visit(stop=stop_id)
        self._push(arrive, "arrive", i)

    def _on_arrive(self, at_s: int, i: int) -> None:
        d = self.record.drivers[i]
        stop_id = self.state[i].stop
        with self.p.uow() as s:
            stop = dispatch.get_stop(session=s, stop_id=stop_id)
            delivery = deliveries.get_delivery(session=s, delivery_id=stop.delivery_id)
            attempt = attempts.start_attempt(
                session=s,
                settings=self.p.settings,
                driver=_party(s, d.party_id),
                stop_id=stop_id,
                now=self.clock.now(),
                attempt_in=AttemptStart(
                    position=Position(latitude=d.at[0], longitude=d.at[1]),
                    scanned_parcel_ref=delivery.parcel_ref,
                ),
            )
            attempt_id, mode = attempt.id, stop.mode
        cust = self.by_delivery[delivery.id]
        self.state[i].attempt = attempt_id
        _, brand, external = self.vehicle_of[cust.number]
        self.state[i].car = (brand, external)
        if mode == "home":
            window = None
            if delivery.door_window_start is not None and delivery.door_window_end is not None:
                window = (
                    _secs(self.c.day, delivery.door_window_start),
                    _secs(self.c.day, delivery.door_window_end),
                )
            with self.p.uow() as s:
                driver = _party(s, d.party_id)
                if somebody_opens(cust, at_s, self.rng, booked_window=window):
                    attempts.confirm_handover(
                        session=s,
                        settings=self.p.settings,
                        driver=driver,
                        attempt_id=attempt_id,
                        now=self.clock.now(),
                    )
                else:
                    attempts.report_failure(
                        session=s,
                        settings=self.p.settings,
                        driver=driver,
                        attempt_id=attempt_id,
                        reason="nobody_home",
                        detail=None,
                        now=self.clock.now(),
                    )
            self._push(at_s + DOOR_SERVICE_S, "go", i)
            return
        # At the booked place: the driver walks up to the car if it stands within sight.
        car = car_position(cust, at_s)
        here = (
            car if car is not None and distance_m(car[0], car[1], d.at[0], d.at[1]) <= 200 else d.at
        )
        workers.pump_simulator(self.p, self.clock.now())
        try:
            with self.p.uow() as s:
                driver = _party(s, d.party_id)
                nonce = attempts.issue_challenge(
                    session=s,
                    settings=self.p.settings,
                    driver=driver,
                    attempt_id=attempt_id,
                    device_id=d.device_id,
                    now=self.clock.now(),
                ).nonce
                # The handset signs the challenge; its key never leaves it.
                signature = b64u(
                    d.handset.sign(
                        proof_message(nonce=nonce, action=TRUNK_UNLOCK, attempt_id=attempt_id)
                    )
                )
                attempts.request_access(
                    session=s,
                    settings=self.p.settings,
                    keyring=self.p.keyring(s),
                    driver=driver,
                    attempt_id=attempt_id,
                    position=Position(latitude=here[0], longitude=here[1]),
                    proof=DeviceProof(device_id=d.device_id, nonce=nonce, signature=signature),
                    now=self.clock.now(),
                )
        except DomainError:
            self._push(at_s + PARK_AND_WALK_S, "go", i)
            return
        self.state[i].polls = 0
        self._push(at_s + 1, "wait_open", i)

    def _next_poll(self, at_s: int, i: int, kind: str) -> None:
        """Look again when the command on its way reaches the car, or in a second when the
        platform still has to send it: no busy polling of the database."""
        car = self.state[i].car
        due = None if car is None else self.p.simulator.next_due(car[0], car[1])
        when = at_s + 1 if due is None else max(at_s + 1, _secs(self.c.day, due) + 1)
        self._push(when, kind, i)

    def _status(self, attempt_id: str) -> tuple[str, bool]:
        with self.p.uow() as s:
            attempt = s.get(Attempt, attempt_id)
            assert attempt is not None
            return attempt.status, attempt.secured_at is not None

    def _on_wait_open(self, at_s: int, i: int) -> None:
        workers.run_commands(self.p, self.clock.now())
        attempt_id = self.state[i].attempt
        status, _ = self._status(attempt_id)
        self.state[i].polls += 1
        polls = self.state[i].polls
        if status == "unlocking" and polls < 14:
            self._next_poll(at_s, i, "wait_open")
            return
        if status != "trunk_open":
            self._push(at_s + PARK_AND_WALK_S, "go", i)
            return
        d = self.record.drivers[i]
        with self.p.uow() as s:
            attempts.confirm_deposit(
                session=s,
                settings=self.p.settings,
                driver=_party(s, d.party_id),
                attempt_id=attempt_id,
                now=self.clock.now(),
            )
        car = self.state[i].car
        assert car is not None
        brand, external = car
        if self.rng.random() < HURRIED:
            # The lid stays open. The watchdog relocks after 5 min; a car that cannot close
            # its own lid gets the driver called back to shut it.
            self.state[i].lid = (brand, external)
            for delay in (301, 305, 320, 365, 425):
                self._push(at_s + delay, "tick", i)
            self._push(at_s + 330, "callback", i)
        else:
            self.p.simulator.close_trunk(brand, external, self.clock.now())
        self.state[i].polls = 0
        self._push(at_s + 1, "wait_lock", i)

    def _on_callback(self, at_s: int, i: int) -> None:
        lid = self.state[i].lid
        if lid is not None:
            self.p.simulator.close_trunk(lid[0], lid[1], self.clock.now())

    def _on_wait_lock(self, at_s: int, i: int) -> None:
        # The watchdog runs only on the ticks of a trunk left open; here the fast path will do.
        workers.run_commands(self.p, self.clock.now())
        _, secured = self._status(self.state[i].attempt)
        self.state[i].polls += 1
        polls = self.state[i].polls
        if secured:
            self._push(at_s + 20, "go", i)
        elif polls < 90:
            # The next stop opens only once the car reported closed and locked.
            if self.state[i].lid is not None and polls > 3:
                self._push(at_s + 10, "wait_lock", i)
            else:
                self._next_poll(at_s, i, "wait_lock")
        else:
            self.record.stuck += 1  # left for the operator; this van's day ends here
            self.record.drivers[i].ended_s = at_s

    def close(self) -> None:
        self.p.close()


def _solve_zone(draft: planning.DayDraft | None) -> planning.DaySolution | None:
    """Solve one zone's drafted day in a worker process; None when no plan fits its vans."""
    if draft is None:
        return None
    try:
        return planning.solve_day(draft)
    except DomainError:
        return None


def _chunks(items: list[Customer], size: int) -> list[list[Customer]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_strategy(config: RunConfig, progress: Callable[[str, float], None]) -> DayRun:
    run = DayRun(config, progress)
    with reproducible_ids(config.seed * 31 + STRATEGIES.index(config.strategy)):
        run.setup()
        run.book()
        run.plan()
        run.run_day()
    progress("done", 1.0)
    return run
