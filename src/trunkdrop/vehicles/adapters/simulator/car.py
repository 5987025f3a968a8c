"""The simulated cars and their maker's cloud.

Commands take the brand's latency to reach a car; a command that arrives after its expiry is
dropped by the car, never executed. Cars report what happens as events, which the platform
ingests through the same service as a car maker's webhook.
"""

from __future__ import annotations

import heapq
import itertools
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trunkdrop.access import tokens
from trunkdrop.geo import distance_m
from trunkdrop.vehicles.adapters.simulator.brands import SIM_BRANDS
from trunkdrop.vehicles.adapters.simulator.carmaker import SimulatedCarMaker
from trunkdrop.vehicles.ports import (
    HANDSET_NOT_NEAR,
    CommandOrder,
    GrantKeys,
    VehicleAsleep,
)

# How long a car's own challenge stays good, and the longest grant it accepts.
CAR_NONCE_LIFETIME_S = 30
CAR_MAX_GRANT_LIFETIME_S = 600
# A handset answers a car's short-range challenge only this close (Bluetooth LE), and the
# car opens for it only this long after it proved itself there.
SHORT_RANGE_M = 10
HANDSET_SEEN_S = 60


@dataclass
class SimCar:
    brand: str
    external_id: str
    latitude: float | None = None
    longitude: float | None = None
    locked: bool = True
    trunk_open: bool = False
    online: bool = True
    asleep: bool = False
    latency_s: float = 8.0
    power_tailgate: bool = False
    # Faults a test or the demo can switch on.
    stale_lock_state: bool = False  # the car locks but never reports it
    ignore_lock: bool = False  # the lock command is accepted but does nothing
    # Offline grants (digital-key cars): keys provisioned at linking, the car's own
    # used-grant list, challenges and clock, and the reports it keeps while out of reach.
    grant_keys: GrantKeys | None = None
    used_grants: set[str] = field(default_factory=set)
    revoked_grants: set[str] = field(default_factory=set)
    challenges: dict[str, datetime] = field(default_factory=dict)
    clock_skew_s: float = 0.0  # how far the car's real-time clock is off (tests set it)
    # The last trusted time (platform time at provisioning or coming online) and when, in
    # true time, it was taken: afterwards the car counts elapsed time on a monotonic counter
    # that setting the real-time clock cannot move.
    clock_anchor: tuple[datetime, datetime] | None = None
    clock_floor: datetime | None = None  # the car's clock never reads earlier than this
    outbox: list[dict[str, Any]] = field(default_factory=list)
    # Handsets that proved themselves beside the car (public key -> when).
    handsets_seen: dict[str, datetime] = field(default_factory=dict)
    # Commands this car has taken: the platform re-sends a command whose outcome it did not
    # record (a dispatcher that died between claim and record), and a command runs once.
    commands_taken: set[str] = field(default_factory=set)

    def snapshot(self) -> dict[str, Any]:
        return {
            "brand": self.brand,
            "external_id": self.external_id,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "locked": self.locked,
            "trunk_open": self.trunk_open,
            "online": self.online,
            "asleep": self.asleep,
            "latency_s": self.latency_s,
        }


@dataclass(order=True)
class _Due:
    at: datetime
    seq: int
    order: CommandOrder = field(compare=False)
    car_key: tuple[str, str] = field(compare=False)


class CarSimulator:
    """All simulated cars, their pending commands and the events they have yet to report."""

    def __init__(self) -> None:
        self._cars: dict[tuple[str, str], SimCar] = {}
        self._due: list[_Due] = []
        self._seq = itertools.count()
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.RLock()
        # The simulated makers' authorisation server (brands with `consent_redirect`).
        self.carmaker = SimulatedCarMaker()

    # -- cars -----------------------------------------------------------------------------
    def ensure_car(self, brand: str, external_id: str) -> SimCar:
        with self._lock:
            key = (brand, external_id)
            if key not in self._cars:
                meta = SIM_BRANDS[brand]
                self._cars[key] = SimCar(
                    brand=brand,
                    external_id=external_id,
                    latency_s=float(meta.capabilities.typical_latency_s),
                    power_tailgate=meta.capabilities.power_tailgate,
                )
            return self._cars[key]

    def car(self, brand: str, external_id: str) -> SimCar:
        with self._lock:
            try:
                return self._cars[(brand, external_id)]
            except KeyError:
                raise KeyError(f"no simulated car {brand}/{external_id}") from None

    def configure(self, brand: str, external_id: str, **faults: Any) -> SimCar:
        with self._lock:
            car = self.car(brand, external_id)
            for name, value in faults.items():
                if not hasattr(car, name):
                    raise ValueError(f"unknown simulated car setting {name!r}")
                setattr(car, name, value)
            return car

    # -- the physical world ---------------------------------------------------------------
    def park(self, brand: str, external_id: str, lat: float, lon: float, now: datetime) -> None:
        """The owner drives the car somewhere and parks it; the car reports where it is."""
        with self._lock:
            car = self.car(brand, external_id)
            car.latitude, car.longitude = lat, lon
            if car.online:
                self._emit(car, "position", now, latitude=lat, longitude=lon)
            # Brands that sleep do so as soon as they are parked.
            car.asleep = SIM_BRANDS[brand].capabilities.needs_wake

    def close_trunk(self, brand: str, external_id: str, now: datetime) -> None:
        """The driver shuts the trunk lid. Cars that check grants themselves lock at once (the
        platform may not reach them); the others wait for a lock command."""
        with self._lock:
            car = self.car(brand, external_id)
            if car.trunk_open:
                car.trunk_open = False
                self._emit(car, "trunk_closed", now)
                if SIM_BRANDS[brand].capabilities.offline_grants:
                    car.locked = True
                    self._emit(car, "locked", now)

    def go_offline(self, brand: str, external_id: str, now: datetime) -> None:
        with self._lock:
            car = self.car(brand, external_id)
            if car.online:
                self._emit(car, "offline", now)
            car.online = False

    def come_online(self, brand: str, external_id: str, now: datetime) -> None:
        with self._lock:
            car = self.car(brand, external_id)
            if not car.online:
                car.online = True
                if car.grant_keys is not None:
                    car.clock_anchor = (now, now)  # back in reach: time synced with the platform
                # What the car saw while out of reach reaches the platform now, in order.
                self._events.extend((car.brand, event) for event in car.outbox)
                car.outbox.clear()
                self._emit(car, "online", now)

    # -- the car itself, checking a grant (digital key, no platform needed) ---------------
    def provision(self, brand: str, external_id: str, keys: GrantKeys, now: datetime) -> bool:
        """Install the platform's keys in the car; False when the car is out of reach."""
        with self._lock:
            car = self.ensure_car(brand, external_id)
            if not car.online:
                return False
            car.grant_keys = keys
            car.clock_anchor = (now, now)
            return True

    def revoke_grant(self, brand: str, external_id: str, grant_id: str, now: datetime) -> None:
        """The platform tells the car a grant is revoked; an unreachable car never hears it."""
        with self._lock:
            car = self.car(brand, external_id)
            if car.online:
                car.revoked_grants.add(grant_id)

    def car_clock(self, car: SimCar, now: datetime) -> datetime:
        """The car's clock for grants: trusted time plus monotonic elapsed time, never below
        the latest trusted time seen (a verified grant's `iat`). Only a car never synced
        falls back to its real-time clock."""
        if car.clock_anchor is not None:
            trusted, taken = car.clock_anchor
            reading = trusted + (now - taken)
        else:
            reading = now + timedelta(seconds=car.clock_skew_s)
        if car.clock_floor is not None and reading < car.clock_floor:
            reading = car.clock_floor
        car.clock_floor = reading
        return reading

    def car_challenge(self, brand: str, external_id: str, now: datetime) -> str:
        """The car's fresh nonce, over Bluetooth to the driver's device."""
        with self._lock:
            car = self.car(brand, external_id)
            nonce = secrets.token_urlsafe(24)
            car.challenges[nonce] = self.car_clock(car, now)
            return nonce

    def present_grant(
        self, brand: str, external_id: str, *, token: str, nonce: str, signature: str, now: datetime
    ) -> str:
        """The device presents a grant and its signature over the car's nonce; the car opens
        its trunk or refuses. Returns "opened" or the refusal code."""
        with self._lock:
            car = self.car(brand, external_id)
            verdict, grant_id = self._check_grant(car, token, nonce, signature, now)
            at = self.car_clock(car, now)
            if verdict != "opened":
                self._emit(car, "grant_refused", at, grant_id=grant_id, detail=verdict)
                return verdict
            assert grant_id is not None
            car.used_grants.add(grant_id)
            car.trunk_open, car.locked = True, False
            self._emit(car, "grant_used", at, grant_id=grant_id)
            self._emit(car, "trunk_opened", at)
            return verdict

    def _check_grant(
        self, car: SimCar, token: str, nonce: str, signature: str, now: datetime
    ) -> tuple[str, str | None]:
        keys = car.grant_keys
        if keys is None:
            return "not_provisioned", None
        asked = car.challenges.pop(nonce, None)  # a car nonce answers once
        at = self.car_clock(car, now)
        if asked is None:
            return "nonce_unknown", None
        if (at - asked).total_seconds() > CAR_NONCE_LIFETIME_S:
            return "nonce_expired", None
        ring = tokens.Keyring(
            signer=None,
            public_keys={
                kid: Ed25519PublicKey.from_public_bytes(raw)
                for kid, raw in keys.public_keys.items()
            },
        )
        try:
            claims = ring.verify(token, vehicle_id=keys.vehicle_id)
        except tokens.GrantInvalid as e:
            return f"grant_{e.code}", None
        refusals = tokens.claim_refusals(
            claims,
            issuer=keys.issuer,
            vehicle_id=keys.vehicle_id,
            now=at,
            max_lifetime_s=CAR_MAX_GRANT_LIFETIME_S,
        )
        if refusals:
            return f"grant_{refusals[0]}", claims.jti
        # The platform signed this moment: the car's clock may never read earlier again.
        car.clock_floor = max(car.clock_floor or claims.iat, claims.iat)
        message = tokens.proof_message(nonce=nonce, action=claims.scope, attempt_id=claims.attempt)
        if not tokens.signature_valid(public_key=claims.cnf, message=message, signature=signature):
            return "proof_invalid", claims.jti
        if car.latitude is None or car.longitude is None:
            return "position_unknown", claims.jti
        if distance_m(car.latitude, car.longitude, claims.geo_lat, claims.geo_lon) > (
            claims.geo_radius_m
        ):
            return "outside_geofence", claims.jti
        if claims.jti in car.used_grants:
            return "grant_already_used", claims.jti
        if claims.jti in car.revoked_grants:
            return "grant_revoked", claims.jti
        return "opened", claims.jti

    def handset_nearby(
        self,
        brand: str,
        external_id: str,
        *,
        public_key: str,
        nonce: str,
        signature: str,
        at: tuple[float, float],
        now: datetime,
    ) -> str:
        """A handset at `at` (where it truly is) answers the car's challenge over the
        short-range link. The car hears it only within range, and notes the key that signed
        its nonce. Returns "seen" or why not."""
        with self._lock:
            car = self.car(brand, external_id)
            if car.latitude is None or car.longitude is None:
                return "out_of_range"
            if distance_m(car.latitude, car.longitude, at[0], at[1]) > SHORT_RANGE_M:
                return "out_of_range"  # the radio does not reach: the car hears nothing
            asked = car.challenges.pop(nonce, None)
            if asked is None:
                return "nonce_unknown"
            if (self.car_clock(car, now) - asked).total_seconds() > CAR_NONCE_LIFETIME_S:
                return "nonce_expired"
            message = tokens.proximity_message(nonce=nonce, vehicle=external_id)
            if not tokens.signature_valid(
                public_key=public_key, message=message, signature=signature
            ):
                return "proof_invalid"
            car.handsets_seen[public_key] = now
            return "seen"

    def _handset_beside(self, car: SimCar, order: CommandOrder, at: datetime) -> bool:
        seen = car.handsets_seen.get(order.handset_key or "")
        return seen is not None and (at - seen).total_seconds() <= HANDSET_SEEN_S

    # -- the car maker's cloud ------------------------------------------------------------
    def submit(self, brand: str, order: CommandOrder, now: datetime) -> None:
        with self._lock:
            car = self.ensure_car(brand, order.vehicle_external_id)
            if car.asleep:
                raise VehicleAsleep()
            # An offline car's cloud still takes the command; it just never reaches the car.
            if not car.online or order.command_id in car.commands_taken:
                return
            car.commands_taken.add(order.command_id)
            due = now + timedelta(seconds=car.latency_s)
            heapq.heappush(self._due, _Due(due, next(self._seq), order, (brand, car.external_id)))

    def wake(self, brand: str, external_id: str, now: datetime) -> None:
        with self._lock:
            car = self.ensure_car(brand, external_id)
            if car.online and car.asleep:
                car.asleep = False
                self._emit(car, "online", now)

    def advance(self, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        """Run every command that has reached its car by `now`; return the events reported."""
        with self._lock:
            while self._due and self._due[0].at <= now:
                item = heapq.heappop(self._due)
                self._execute(self._cars[item.car_key], item.order, item.at)
            events, self._events = self._events, []
            return events

    def redeliver(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Reports the platform could not take (its database was unavailable) are sent again
        with the next batch, ahead of newer ones — as a car maker retries a failed webhook."""
        with self._lock:
            self._events[:0] = events

    def next_due(self, brand: str, external_id: str) -> datetime | None:
        """When the next command already on its way reaches this car (None: none is)."""
        with self._lock:
            times = [d.at for d in self._due if d.car_key == (brand, external_id)]
            return min(times) if times else None

    def pending_commands(self) -> int:
        with self._lock:
            return len(self._due)

    def _execute(self, car: SimCar, order: CommandOrder, at: datetime) -> None:
        # The car checks expiry against its own clock: a late command is dropped.
        if at > order.expires_at:
            self._emit(car, "command_rejected", at, command_id=order.command_id, detail="expired")
            return
        if order.kind == "unlock_trunk":
            if SIM_BRANDS[car.brand].capabilities.handset_proximity and not self._handset_beside(
                car, order, at
            ):
                self._emit(
                    car,
                    "command_rejected",
                    at,
                    command_id=order.command_id,
                    detail=HANDSET_NOT_NEAR,
                )
                return
            car.trunk_open = True
            self._emit(car, "command_executed", at, command_id=order.command_id)
            self._emit(car, "trunk_opened", at)
        elif order.kind == "lock":
            if car.ignore_lock:
                self._emit(car, "command_executed", at, command_id=order.command_id)
                return
            if car.trunk_open:
                if not car.power_tailgate:
                    self._emit(
                        car,
                        "command_rejected",
                        at,
                        command_id=order.command_id,
                        detail="trunk_open",
                    )
                    return
                car.trunk_open = False
                self._emit(car, "trunk_closed", at)
            car.locked = True
            self._emit(car, "command_executed", at, command_id=order.command_id)
            if not car.stale_lock_state:
                self._emit(car, "locked", at)

    def _emit(self, car: SimCar, kind: str, at: datetime, **data: Any) -> None:
        event = {
            "event_id": f"sim-{secrets.token_hex(8)}",
            "vehicle_id": car.external_id,
            "type": kind,
            "occurred_at": at.isoformat(),
            **{k: v for k, v in data.items() if v is not None},
        }
        if not car.online and kind != "offline":
            car.outbox.append(event)  # reported when the car is back in reach
            return
        self._events.append((car.brand, event))
