"""One strategy's simulated day: its settings, the platform it runs on with its clock, and
who is who (parties, cars, places, parcels). Only the clock is simulated."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from trunkdrop.bootstrap import Platform, bootstrap
from trunkdrop.clock import ManualClock
from trunkdrop.config import Settings
from trunkdrop.parties.models import Party
from trunkdrop.simulation.city import (
    DEPOT,
    Customer,
    Point,
)

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
    label: str | None = None  # a pickup: the label the driver scans in the trunk


@dataclass
class DayRecord:
    """What the simulation observed outside the database (driving)."""

    drivers: list[Driver] = field(default_factory=list)
    # Parcels no van could serve, by reason (`dispatch.unserved.Unserved`, or "no_plan" for
    # a zone whose plan failed outright); they went down the fallback policy.
    unplanned_by_reason: dict[str, int] = field(default_factory=dict)
    stuck: int = 0
    # Where the run's time went, by phase: (wall seconds, CPU seconds of this process, CPU
    # seconds of the planning workers); `engine.run_strategy` fills it in.
    phase_seconds: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    @property
    def unplanned(self) -> int:
        return sum(self.unplanned_by_reason.values())

    def count_unplanned(self, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self.unplanned_by_reason[reason] = self.unplanned_by_reason.get(reason, 0) + 1


def moment_at(day: date, seconds: int) -> datetime:
    """The moment `seconds` after midnight of `day`, in Munich."""
    return datetime.combine(day, time(0), TZ) + timedelta(seconds=seconds)


def seconds_into(day: date, moment: datetime) -> int:
    """How many seconds after midnight of `day` a moment is."""
    return int((moment - datetime.combine(day, time(0), TZ)).total_seconds())


def party(session: Session, party_id: str) -> Party:
    party = session.get(Party, party_id)
    assert party is not None
    return party


def chunks(items: list[Customer], size: int) -> list[list[Customer]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class LinkedCar(NamedTuple):
    """A customer's car as the platform knows it and as the simulator plays it."""

    vehicle_id: str
    brand: str
    external_id: str


class SimulatedDay:
    """One strategy's day on its own platform and database, and who is who in it."""

    def __init__(self, config: RunConfig, progress: Callable[[str, float], None]) -> None:
        self.config = config
        self.progress = progress
        self.rng = random.Random(config.seed * 7919 + STRATEGIES.index(config.strategy))
        self.clock = ManualClock(moment_at(config.day, 6 * 3600))
        if config.database.exists():
            config.database.unlink()
        for suffix in ("-wal", "-shm"):
            Path(f"{config.database}{suffix}").unlink(missing_ok=True)
        # A van whose stop fell back (the car moved, nobody opened) is re-planned before its
        # driver sets off again, so the new stop lands inside its window instead of at the
        # end of the route. By insertion, not a timed search: the numbers must not depend on
        # how busy the machine is.
        settings = Settings(
            database_url=f"sqlite:///{config.database}",
            environment="development",
            auto_replan=True,
            replan_by="insertion",
        )
        self.platform: Platform = bootstrap(settings, clock=self.clock)
        self.record = DayRecord()
        self.shop_id = ""
        self.carrier_id = ""
        self.customer_of_delivery: dict[str, Customer] = {}
        self.party_of: dict[int, str] = {}  # customer number -> party id
        self.car_of: dict[int, LinkedCar] = {}  # customer number -> their car
        self.place_of: dict[int, dict[Point, str]] = {}  # customer number -> place ids

    def close(self) -> None:
        self.platform.close()
