"""The composition root: settings, database, adapters, keys and clock wired once."""

from __future__ import annotations

import os
import socket
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from trunkdrop.access.service import KeyringCache
from trunkdrop.access.tokens import Keyring
from trunkdrop.blobs.filesystem import FilesystemBlobs
from trunkdrop.blobs.ports import BlobStore
from trunkdrop.clock import Clock, SystemClock
from trunkdrop.config import Settings
from trunkdrop.dispatch.matrix import GreatCircleMatrix, MatrixProvider, OsrmMatrix
from trunkdrop.migrate import upgrade
from trunkdrop.notify.ports import MessageChannel
from trunkdrop.notify.smtp import SmtpChannel
from trunkdrop.payments.fake import FakePayments
from trunkdrop.payments.ports import PaymentPort
from trunkdrop.store.engine import make_engine, make_session_factory
from trunkdrop.store.uow import unit_of_work
from trunkdrop.vehicles.adapters.simulator import (
    SIM_BRANDS,
    CarSimulator,
    SimulatorAdapter,
    SimulatorReportSource,
)
from trunkdrop.vehicles.ports import ReportSource, VehicleAdapter
from trunkdrop.vehicles.registry import AdapterRegistry
from trunkdrop.webhooks.relay import Relay

if TYPE_CHECKING:
    from trunkdrop.vehicles.adapters.mqtt.adapter import MqttCarLink


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
    # Where the cars' reports come in: the simulator (embedded) or the MQTT car link.
    reports: ReportSource | None = None
    car_link: MqttCarLink | None = None  # set when the cars are reached over MQTT
    # Postage for sends from the car; no real provider yet.
    payments: PaymentPort = field(default_factory=FakePayments)
    # Proof photos taken at the trunk; files under the blob dir unless replaced.
    blobs: BlobStore = field(init=False, repr=False)
    relay: Relay = field(init=False, repr=False)
    # Where customer messages go besides the outbox (push): e-mail when SMTP is set.
    message_channels: list[MessageChannel] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.relay = Relay(self.settings)
        self.blobs = FilesystemBlobs(self.settings.resolved_blob_dir)
        s = self.settings
        self.message_channels = (
            [SmtpChannel(s.smtp_host, s.smtp_port, s.smtp_from, timeout_s=s.smtp_timeout_s)]
            if s.smtp_host
            else []
        )

    def now(self) -> datetime:
        return self.clock.now()

    def keyring(self, session: Session) -> Keyring:
        return self.keyrings.get(session, now=self.now())

    def uow(self) -> AbstractContextManager[Session]:
        return unit_of_work(self.session_factory)

    def close(self) -> None:
        if self.car_link is not None:
            self.car_link.close()
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
    role: Literal["all", "api", "worker"] = "all",
    worker_name: str = "1",
) -> Platform:
    """`role` says what this process does beside others (docs/operations.md): "all" runs
    alone (API and workers); "api" only publishes to the cars; "worker" shares the cars'
    reports with the other workers through the broker."""
    settings = settings or Settings()
    url = settings.resolved_database_url
    if migrate:
        upgrade(url)
    engine = make_engine(url)
    simulator = simulator or CarSimulator()
    car_link = None
    brand_adapters: list[VehicleAdapter]
    reports: ReportSource
    if settings.car_link == "mqtt":
        car_link = _mqtt_link(settings, role, worker_name)
        from trunkdrop.vehicles.adapters.mqtt.adapter import MqttAdapter
        from trunkdrop.vehicles.adapters.mqtt.brands import MQTT_BRANDS

        brand_adapters = [MqttAdapter(brand, car_link) for brand in MQTT_BRANDS]
        reports = car_link
    else:
        brand_adapters = adapters(simulator)
        reports = SimulatorReportSource(simulator)
    registry = AdapterRegistry(brand_adapters)
    return Platform(
        reports=reports,
        car_link=car_link,
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        registry=registry,
        simulator=simulator,
        clock=clock or SystemClock(),
        keyrings=KeyringCache(settings.key_passphrase.get_secret_value()),
        matrix=OsrmMatrix(settings.routing_url) if settings.routing_url else GreatCircleMatrix(),
    )


def _mqtt_link(settings: Settings, role: str = "all", worker_name: str = "1") -> MqttCarLink:
    """The platform's session with the broker, connecting (and reconnecting) in the
    background: the API starts even while the broker is still coming up."""
    from trunkdrop.vehicles.adapters.mqtt.adapter import MqttCarLink
    from trunkdrop.vehicles.adapters.mqtt.topics import Topics

    assert settings.mqtt_url is not None  # the settings refuse mqtt without a URL
    # A client id is one session at the broker: a second process with the same id would
    # throw the first off. Alone, the platform is `mqtt_client_id`; beside others each
    # process has its own, and the workers share the reports under that name.
    client_id = settings.mqtt_client_id
    if role == "api":
        client_id = f"{client_id}-api-{socket.gethostname()}-{os.getpid()}"[:64]
    elif role == "worker":
        # Named, not numbered by pid: a worker restarted under its name resumes its session
        # and gets what the broker kept for it while it was down.
        client_id = f"{client_id}-worker-{worker_name}"[:64]
    link = MqttCarLink(
        settings.mqtt_url.get_secret_value(),
        topics=Topics(settings.mqtt_topic_root),
        client_id=client_id,
        # An API process receives nothing: its session dies with it.
        session_expiry_s=0 if role == "api" else settings.mqtt_session_expiry_s,
        receive=role != "api",
        share_group=settings.mqtt_client_id if role == "worker" else None,
    )
    link.start()
    return link
