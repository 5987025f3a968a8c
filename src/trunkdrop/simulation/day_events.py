"""The day's events, from the first car parking to the last van back at the depot."""

from __future__ import annotations

import heapq
import itertools

from sqlalchemy.orm import Session

from trunkdrop import workers
from trunkdrop.access.tokens import TRUNK_UNLOCK, b64u, proof_message
from trunkdrop.deliveries import attempts, lookups, reroute, stop_failures
from trunkdrop.deliveries.domain import is_pickup
from trunkdrop.deliveries.models import Attempt
from trunkdrop.deliveries.schemas import AttemptStart
from trunkdrop.devices.schemas import DeviceProof
from trunkdrop.dispatch import loading, routes
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.matrix import Point
from trunkdrop.dispatch.models import RouteStop
from trunkdrop.errors import DomainError
from trunkdrop.geo import distance_m
from trunkdrop.schemas import Position
from trunkdrop.simulation.city import (
    DEPOT,
    Customer,
    car_position,
    somebody_opens,
)
from trunkdrop.simulation.day import (
    DAY_END,
    DETOUR,
    DOOR_SERVICE_S,
    HURRIED,
    PARK_AND_WALK_S,
    SHIFT_END,
    SHIFT_START,
    SPEED,
    SimulatedDay,
    Visit,
    moment_at,
    party,
    seconds_into,
)
from trunkdrop.store.uow import unit_of_work

# A van whose first stop is late in the day is loaded this long before it, not at the start
# of the shift: until then its load can still change (`loading.check_load`).
LOADING_LEAD_S = 2 * 3600


class DayEvents:
    """The day as a queue of events: cars parking, going offline and back, drivers driving,
    arriving, asking for the trunk, waiting for it to open and lock."""

    def __init__(self, day: SimulatedDay) -> None:
        self.day = day
        self.platform, self.config, self.clock = day.platform, day.config, day.clock
        self.record, self.rng = day.record, day.rng
        self.queue: list[tuple[int, int, str, int]] = []
        self.seq = itertools.count()
        self.cars: list[Customer] = []
        self.visits: dict[int, Visit] = {}
        # Vans still at the depot: when each is due to leave (its "depart" event).
        self.departures: dict[int, int] = {}
        # Vans that have left the depot: their route is no longer "planned" (only this day's
        # own steps start and close routes), so a set-off need not read it again.
        self.out: set[int] = set()

    def _push(self, at_s: int, kind: str, who: int) -> None:
        heapq.heappush(self.queue, (at_s, next(self.seq), kind, who))

    def run(self) -> None:
        trunk_customers = {c.number: c for c in self.day.customer_of_delivery.values()}
        with self.platform.uow() as s:
            from trunkdrop.deliveries.models import Delivery

            booked_trunk = {
                d.vehicle_id for d in s.query(Delivery).filter(Delivery.mode == "trunk")
            }
        self.cars = [
            c for c in trunk_customers.values() if self.day.car_of[c.number][0] in booked_trunk
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
        self.visits = {i: Visit() for i in range(len(self.record.drivers))}
        total = len(self.day.customer_of_delivery)
        done_at_progress = 0
        while self.queue:
            at_s, _, kind, who = heapq.heappop(self.queue)
            if at_s > DAY_END:
                break
            self.clock.set(moment_at(self.config.day, at_s))
            getattr(self, f"_on_{kind}")(at_s, who)
            done_at_progress += 1
            if done_at_progress % 500 == 0:
                self.day.progress("the day runs", 0.4 + 0.55 * min(1.0, at_s / SHIFT_END))
        self.clock.set(moment_at(self.config.day, DAY_END))
        with self.platform.uow() as s:
            carrier = party(s, self.day.carrier_id)
            for d in self.record.drivers:
                route = dispatch.get_route(session=s, route_id=d.route_id)
                if route.status != "finished":
                    routes.close_route(session=s, party=carrier, route=route, now=self.clock.now())
        workers.run_once(self.platform, self.clock.now())
        _ = total

    def _on_park(self, at_s: int, i: int) -> None:
        cust = self.cars[i]
        where = car_position(cust, at_s)
        _, brand, external = self.day.car_of[cust.number]
        if where is not None:
            self.platform.simulator.park(brand, external, where[0], where[1], self.clock.now())

    def _on_offline(self, at_s: int, i: int) -> None:
        _, brand, external = self.day.car_of[self.cars[i].number]
        self.platform.simulator.go_offline(brand, external, self.clock.now())

    def _on_online(self, at_s: int, i: int) -> None:
        _, brand, external = self.day.car_of[self.cars[i].number]
        self.platform.simulator.come_online(brand, external, self.clock.now())

    def _on_tick(self, at_s: int, _: int) -> None:
        workers.run_once(self.platform, self.clock.now())

    def _on_depart(self, at_s: int, i: int) -> None:
        if self.departures.get(i) != at_s:
            return  # superseded: the van's first stop changed and it leaves at another time
        del self.departures[i]
        self._on_go(at_s, i)

    def _leaves_at(self, s: Session, route_id: str, at_s: int) -> int:
        """When a van at the depot is loaded and sets off: at the start of the shift, or
        `LOADING_LEAD_S` before its first planned stop if that is later, never before now.
        (The driver is paid from when the van must leave to reach that stop in time.)"""
        stop = dispatch.next_open_stop(session=s, route_id=route_id)
        if stop is None or stop.eta is None:
            return at_s
        return max(at_s, seconds_into(self.config.day, stop.eta) - LOADING_LEAD_S)

    def _set_off(self, at_s: int, i: int) -> bool:
        """A van leaves the depot only when its first stop needs it to: until then its
        parcels can still go on another van. False: not yet (a "depart" is queued)."""
        if i in self.out:
            return True
        d = self.record.drivers[i]
        with self.platform.uow() as s:
            route = dispatch.get_route(session=s, route_id=d.route_id)
            if route.status != "planned":
                self.out.add(i)
                return True
            leave = self._leaves_at(s, d.route_id, at_s)
            if leave > at_s:
                self.departures[i] = leave
                self._push(leave, "depart", i)
                return False
        # What the cars reported until now is in before the load is checked.
        workers.pump_simulator(self.platform, self.clock.now())
        with self.platform.uow() as s:
            route = dispatch.get_route(session=s, route_id=d.route_id)
            moved = loading.check_load(
                session=s,
                settings=self.platform.settings,
                route=route,
                matrix=self.platform.matrix,
                now=self.clock.now(),
            )
            routes.start_route(
                session=s,
                settings=self.platform.settings,
                party=party(s, self.day.carrier_id),
                route=route,
                now=self.clock.now(),
            )
        self.out.add(i)
        if moved:
            # Parcels joined vans still at the depot: they may have to leave earlier.
            with self.platform.uow() as s:
                for j, due in list(self.departures.items()):
                    leave = self._leaves_at(s, self.record.drivers[j].route_id, at_s)
                    if leave != due:
                        self.departures[j] = leave
                        self._push(leave, "depart", j)
        return True

    def _on_go(self, at_s: int, i: int) -> None:
        if not self._set_off(at_s, i):
            return
        d = self.record.drivers[i]
        if d.started_s is None:
            d.started_s = at_s
        workers.pump_simulator(self.platform, self.clock.now())
        with self.platform.uow() as s:
            stop = self._skip_cars_away(s, d.route_id)
            # Looked up here: claiming costs a write transaction, and few vans ever ask.
            asked = dispatch.replan_requested(session=s, route_id=d.route_id)
            if not asked:
                stop_id, target, window, eta_s = self._heading_for(s, stop)
        if asked:
            # Fallback stops went to the end of the route: the van is re-planned before the
            # driver sets off, from where it stands now.
            replanned = workers.run_replans(
                self.platform, self.clock.now(), route_ids=(d.route_id,)
            )
            with self.platform.uow() as s:
                if replanned:
                    stop = self._skip_cars_away(s, d.route_id)
                else:
                    stop = dispatch.next_open_stop(session=s, route_id=d.route_id)
                stop_id, target, window, eta_s = self._heading_for(s, stop)
        if stop_id is None or target is None or at_s >= DAY_END - 1800:
            home = distance_m(d.at[0], d.at[1], DEPOT[0], DEPOT[1]) * DETOUR
            d.km += home / 1000
            d.ended_s = at_s + int(home / SPEED)
            d.at = DEPOT
            with self.platform.uow() as s:
                route = dispatch.get_route(session=s, route_id=d.route_id)
                if route.status != "finished" and stop_id is not None:
                    routes.close_route(
                        session=s,
                        party=party(s, self.day.carrier_id),
                        route=route,
                        now=self.clock.now(),
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
        self.visits[i] = Visit(stop=stop_id)
        self._push(arrive, "arrive", i)

    def _skip_cars_away(self, s: Session, route_id: str) -> RouteStop | None:
        """The app checks the car's own reports first: no trip to a car that is elsewhere.
        Returns the van's next stop after those skipped."""
        stop = dispatch.next_open_stop(session=s, route_id=route_id)
        while stop is not None and reroute.reroute_if_car_away(
            session=s, settings=self.platform.settings, stop_id=stop.id, now=self.clock.now()
        ):
            stop = dispatch.next_open_stop(session=s, route_id=route_id)
        return stop

    def _heading_for(
        self, s: Session, stop: RouteStop | None
    ) -> tuple[str | None, Point | None, tuple[int, int] | None, int | None]:
        """Where the van drives to next (`replans.stop_point`), the window it must keep there
        and its planned arrival, in seconds of the day: the stop's id, place, window, ETA."""
        if stop is None:
            return None, None, None, None
        target: Point | None = None
        window = None
        if stop.mode == "trunk" and stop.option_seq is not None:
            opt = lookups.option(session=s, delivery_id=stop.delivery_id, seq=stop.option_seq)
            target = (opt.latitude, opt.longitude)
            window = (
                seconds_into(self.config.day, opt.window_start),
                seconds_into(self.config.day, opt.window_end),
            )
        else:
            door = lookups.get_delivery(session=s, delivery_id=stop.delivery_id)
            if door.fallback_latitude is not None and door.fallback_longitude is not None:
                target = (door.fallback_latitude, door.fallback_longitude)
            # A door with a booked window: the driver comes when somebody said they are in.
            if door.door_window_start is not None and door.door_window_end is not None:
                window = (
                    seconds_into(self.config.day, door.door_window_start),
                    seconds_into(self.config.day, door.door_window_end),
                )
        eta_s = None if stop.eta is None else seconds_into(self.config.day, stop.eta)
        return stop.id, target, window, eta_s

    def _on_arrive(self, at_s: int, i: int) -> None:
        d = self.record.drivers[i]
        stop_id = self.visits[i].stop
        with self.platform.uow() as s:
            stop = dispatch.get_stop(session=s, stop_id=stop_id)
            delivery = lookups.get_delivery(session=s, delivery_id=stop.delivery_id)
            attempt = attempts.start_attempt(
                session=s,
                settings=self.platform.settings,
                driver=party(s, d.party_id),
                stop_id=stop_id,
                now=self.clock.now(),
                attempt_in=AttemptStart(
                    position=Position(latitude=d.at[0], longitude=d.at[1]),
                    # A pickup's parcel is in the trunk: its label is scanned there.
                    scanned_parcel_ref=None if is_pickup(delivery.purpose) else delivery.parcel_ref,
                ),
            )
            attempt_id, mode = attempt.id, stop.mode
        self.visits[i].label = delivery.parcel_ref if is_pickup(delivery.purpose) else None
        cust = self.day.customer_of_delivery[delivery.id]
        self.visits[i].attempt = attempt_id
        _, brand, external = self.day.car_of[cust.number]
        self.visits[i].car = (brand, external)
        if mode == "home":
            window = None
            if delivery.door_window_start is not None and delivery.door_window_end is not None:
                window = (
                    seconds_into(self.config.day, delivery.door_window_start),
                    seconds_into(self.config.day, delivery.door_window_end),
                )
            with self.platform.uow() as s:
                driver = party(s, d.party_id)
                if somebody_opens(cust, at_s, self.rng, booked_window=window):
                    attempts.confirm_handover(
                        session=s,
                        settings=self.platform.settings,
                        driver=driver,
                        attempt_id=attempt_id,
                        now=self.clock.now(),
                    )
                else:
                    stop_failures.report_failure(
                        session=s,
                        settings=self.platform.settings,
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
        workers.pump_simulator(self.platform, self.clock.now())
        try:
            with self.platform.uow() as s:
                driver = party(s, d.party_id)
                nonce = attempts.issue_challenge(
                    session=s,
                    settings=self.platform.settings,
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
                    settings=self.platform.settings,
                    keyring=self.platform.keyring(s),
                    driver=driver,
                    attempt_id=attempt_id,
                    position=Position(latitude=here[0], longitude=here[1]),
                    proof=DeviceProof(device_id=d.device_id, nonce=nonce, signature=signature),
                    now=self.clock.now(),
                )
        except DomainError:
            self._push(at_s + PARK_AND_WALK_S, "go", i)
            return
        self.visits[i].polls = 0
        self._push(at_s + 1, "wait_open", i)

    def _next_poll(self, at_s: int, i: int, kind: str) -> None:
        """Look again when the command on its way reaches the car, or in a second when the
        platform still has to send it: no busy polling of the database."""
        car = self.visits[i].car
        due = None if car is None else self.platform.simulator.next_due(car[0], car[1])
        when = at_s + 1 if due is None else max(at_s + 1, seconds_into(self.config.day, due) + 1)
        self._push(when, kind, i)

    def _status(self, attempt_id: str) -> tuple[str, bool]:
        # A read: it neither takes nor waits for the write lock (as the app's GET).
        with unit_of_work(self.platform.session_factory, reads_only=True) as s:
            attempt = s.get(Attempt, attempt_id)
            assert attempt is not None
            return attempt.status, attempt.secured_at is not None

    def _on_wait_open(self, at_s: int, i: int) -> None:
        workers.run_commands(self.platform, self.clock.now())
        attempt_id = self.visits[i].attempt
        status, _ = self._status(attempt_id)
        self.visits[i].polls += 1
        polls = self.visits[i].polls
        if status == "unlocking" and polls < 14:
            self._next_poll(at_s, i, "wait_open")
            return
        if status != "trunk_open":
            self._push(at_s + PARK_AND_WALK_S, "go", i)
            return
        d = self.record.drivers[i]
        label = self.visits[i].label
        with self.platform.uow() as s:
            if label is not None:
                # A pickup: the driver scans the label of the parcel in the trunk, takes it.
                attempts.collect(
                    session=s,
                    settings=self.platform.settings,
                    driver=party(s, d.party_id),
                    attempt_id=attempt_id,
                    scanned_label=label,
                    now=self.clock.now(),
                )
            else:
                attempts.confirm_deposit(
                    session=s,
                    settings=self.platform.settings,
                    driver=party(s, d.party_id),
                    attempt_id=attempt_id,
                    now=self.clock.now(),
                )
        car = self.visits[i].car
        assert car is not None
        brand, external = car
        if self.rng.random() < HURRIED:
            # The lid stays open. The watchdog relocks after 5 min; a car that cannot close
            # its own lid gets the driver called back to shut it.
            self.visits[i].lid = (brand, external)
            for delay in (301, 305, 320, 365, 425):
                self._push(at_s + delay, "tick", i)
            self._push(at_s + 330, "callback", i)
        else:
            self.platform.simulator.close_trunk(brand, external, self.clock.now())
        self.visits[i].polls = 0
        self._push(at_s + 1, "wait_lock", i)

    def _on_callback(self, at_s: int, i: int) -> None:
        lid = self.visits[i].lid
        if lid is not None:
            self.platform.simulator.close_trunk(lid[0], lid[1], self.clock.now())

    def _on_wait_lock(self, at_s: int, i: int) -> None:
        # The watchdog runs only on the ticks of a trunk left open; here the fast path will do.
        workers.run_commands(self.platform, self.clock.now())
        _, secured = self._status(self.visits[i].attempt)
        self.visits[i].polls += 1
        polls = self.visits[i].polls
        if secured:
            self._push(at_s + 20, "go", i)
        elif polls < 90:
            # The next stop opens only once the car reported closed and locked.
            if self.visits[i].lid is not None and polls > 3:
                self._push(at_s + 10, "wait_lock", i)
            else:
                self._next_poll(at_s, i, "wait_lock")
        else:
            self.record.stuck += 1  # left for the operator; this van's day ends here
            self.record.drivers[i].ended_s = at_s
