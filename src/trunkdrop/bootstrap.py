"""The composition root: settings, database, adapters, keys and clock wired once."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from trunkdrop.access.service import KeyringCache
from trunkdrop.access.tokens import Keyring
from trunkdrop.clock import Clock, SystemClock
from trunkdrop.config import Settings
from trunkdrop.dispatch.matrix import GreatCircleMatrix, MatrixProvider, OsrmMatrix
from trunkdrop.migrate import upgrade
from trunkdrop.store.engine import make_engine, make_session_factory
from trunkdrop.store.uow import unit_of_work
from trunkdrop.vehicles.adapters.simulator import SIM_BRANDS, CarSimulator, SimulatorAdapter
from trunkdrop.vehicles.ports import VehicleAdapter
from trunkdrop.vehicles.registry import AdapterRegistry
from trunkdrop.webhooks.relay import Relay


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    registry: AdapterRegistry
    simulator: CarSimulator
    clock: Clock
    keyrings: KeyringCache = field(repr=False)
    matrix: MatrixProvider = field(default_factory=GreatCircleMatrix)
    relay: Relay = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.relay = Relay(self.settings)

    def now(self) -> datetime:
        return self.clock.now()

    def keyring(self, session: Session) -> Keyring:
        return self.keyrings.get(session, now=self.now())

    def uow(self) -> AbstractContextManager[Session]:
        return unit_of_work(self.session_factory)

    def close(self) -> None:
        self.relay.close()
        self.engine.dispose()


def adapters(simulator: CarSimulator) -> list[VehicleAdapter]:
    """Every car-brand adapter the platform speaks through: the registry's contents, and the
    brands a car maker's key may be made for."""
    return [SimulatorAdapter(brand, simulator) for brand in SIM_BRANDS]


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    simulator: CarSimulator | None = None,
    migrate: bool = True,
) -> Platform:
    settings = settings or Settings()
    url = settings.resolved_database_url
    if migrate:
        upgrade(url)
    engine = make_engine(url)
    simulator = simulator or CarSimulator()
    registry = AdapterRegistry(adapters(simulator))
    return Platform(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        registry=registry,
        simulator=simulator,
        clock=clock or SystemClock(),
        keyrings=KeyringCache(settings.key_passphrase.get_secret_value()),
        matrix=OsrmMatrix(settings.routing_url) if settings.routing_url else GreatCircleMatrix(),
    )
