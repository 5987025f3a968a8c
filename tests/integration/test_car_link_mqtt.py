"""The car link over a real MQTT broker, with the simulated fleet as its own process.

Runs only when TRUNKDROP_TEST_MQTT_URL names a broker (.ci/run sets it). Each test has its
own topic root and client ids, so parallel runs never hear each other.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from paho.mqtt import client as paho
from sqlalchemy import func, select

from tests.support import OFFICE, World
from trunkdrop import workers
from trunkdrop.api.app import create_app
from trunkdrop.bootstrap import Platform, bootstrap
from trunkdrop.clock import ManualClock
from trunkdrop.config import Settings
from trunkdrop.vehicles.adapters.mqtt.control import FleetControl
from trunkdrop.vehicles.adapters.mqtt.link import BrokerAddress, MqttLink
from trunkdrop.vehicles.adapters.mqtt.schemas import ReportMessage
from trunkdrop.vehicles.models import VehicleEvent

MQTT_URL = os.environ.get("TRUNKDROP_TEST_MQTT_URL")
pytestmark = pytest.mark.skipif(not MQTT_URL, reason="TRUNKDROP_TEST_MQTT_URL is not set")
WAIT_S = 30.0  # the longest any condition may take in real time


class Observer:
    """A bystander on the broker that records every report the cars publish."""

    def __init__(self, url: str, root: str) -> None:
        self.reports: list[tuple[str, bytes]] = []
        self._link = MqttLink(
            BrokerAddress.parse(url),
            client_id=f"observer-{secrets.token_hex(4)}",
            subscriptions=[f"{root}/v1/+/+/reports"],
            on_message=self._seen,
            session_expiry_s=0,
        )
        self._link.start(wait_s=10)

    def _seen(self, msg: paho.MQTTMessage) -> None:
        self.reports.append((msg.topic, bytes(msg.payload)))

    def of_type(self, kind: str) -> list[ReportMessage]:
        found = [ReportMessage.model_validate_json(p) for _, p in self.reports]
        return [r for r in found if r.type == kind]

    def publish(self, topic: str, payload: bytes) -> None:
        self._link.publish(topic, payload)

    def close(self) -> None:
        self._link.stop()


class LinkedWorld(World):
    """The test world with its cars in another process: the physical world goes to them as
    control messages, and time moves for both through the world clock on the broker."""

    def __init__(self, platform: Platform, client: TestClient, clock: ManualClock) -> None:
        super().__init__(platform, client, clock)
        assert platform.car_link is not None
        self.control = FleetControl(platform.car_link)
        self.control.set_clock(clock.now())

    def park(self, vehicle: dict[str, Any], where: tuple[float, float]) -> None:
        self.sim(vehicle, "park", where)
        self.wait_for(lambda: self.vehicle(vehicle)["latitude"] is not None, advance=False)

    def sim(
        self, vehicle: dict[str, Any], action: str, where: tuple[float, float] | None = None
    ) -> None:
        body: dict[str, Any] = {"action": action}
        if where is not None:
            body["latitude"], body["longitude"] = where
        self.ok(self.post("operator", f"/v1/sim/vehicles/{vehicle['id']}", body))

    def vehicle(self, vehicle: dict[str, Any]) -> dict[str, Any]:
        read: dict[str, Any] = self.ok(self.get("anna", f"/v1/vehicles/{vehicle['id']}"))
        return read

    def until(self, moment: Any) -> None:
        self.clock.set(moment)
        self.control.set_clock(moment)
        workers.run_once(self.platform, moment)

    def wait_for(
        self, condition: Callable[[], bool], *, advance: bool = True, step_s: int = 2
    ) -> None:
        """Run the workers (moving the world's clock `step_s` a round when `advance`) until
        `condition` holds; fail after WAIT_S of real time."""
        deadline = time.monotonic() + WAIT_S
        pause = threading.Event()
        while time.monotonic() < deadline:
            now = self.clock.advance(step_s) if advance else self.clock.now()
            if advance:
                self.control.set_clock(now)
            pause.wait(0.05)  # let the broker carry what this round sent
            workers.run_once(self.platform, now)
            if condition():
                return
        raise AssertionError(f"condition not met within {WAIT_S} s")


@pytest.fixture
def root() -> str:
    return f"trunkdrop-test-{secrets.token_hex(6)}"


@pytest.fixture
def fleet(root: str) -> Iterator[subprocess.Popen[str]]:
    """`trunkdrop cars` in its own process, following the world clock on the broker."""
    assert MQTT_URL is not None
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trunkdrop.cli",
            "cars",
            "--broker",
            MQTT_URL,
            "--topic-root",
            root,
            "--client-prefix",
            f"{root}-car",
            "--clock",
            "follow",
            "--session-expiry",
            "300",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()  # printed once the fleet's session is up
    assert "cars on" in line, line
    yield process
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def linked(
    database_url: str, clock: ManualClock, root: str, fleet: subprocess.Popen[str]
) -> Iterator[LinkedWorld]:
    settings = Settings(
        database_url=database_url,
        environment="test",
        workers_inline=False,
        car_link="mqtt",
        mqtt_url=MQTT_URL,
        mqtt_topic_root=root,
        mqtt_client_id=f"{root}-platform",
        mqtt_session_expiry_s=300,
    )
    platform = bootstrap(settings, clock=clock, migrate=False)
    assert platform.car_link is not None
    assert platform.car_link.wait_connected(10)
    with TestClient(create_app(platform, run_workers=False), raise_server_exceptions=False) as c:
        yield LinkedWorld(platform, c, clock)
    platform.close()


@pytest.fixture
def observer(root: str) -> Iterator[Observer]:
    assert MQTT_URL is not None
    seen = Observer(MQTT_URL, root)
    yield seen
    seen.close()


def _ready_at_car(w: LinkedWorld) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    vehicle = w.link_car()
    office = w.add_place()
    delivery = w.book(vehicle, [(office, 10, 12)])
    w.route(delivery)
    w.until(w.at(10, 15))
    w.park(vehicle, OFFICE)
    attempt = w.ok(w.start_attempt(w.next_stop()), 201)
    return vehicle, delivery, attempt


def _status(w: LinkedWorld, attempt: dict[str, Any]) -> str:
    status: str = w.ok(w.get("driver", f"/v1/attempts/{attempt['id']}"))["status"]
    return status


def test_a_trunk_delivery_through_the_api_with_the_cars_in_their_own_process(
    linked: LinkedWorld,
) -> None:
    """Access, unlock, deposit, lid shut, lock: every command and report crosses the broker
    to and from `trunkdrop cars`, and the delivery is done on the car's lock report."""
    w = linked
    vehicle, delivery, attempt = _ready_at_car(w)
    w.ok(w.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    w.wait_for(lambda: _status(w, attempt) == "trunk_open")
    w.ok(w.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    w.sim(vehicle, "close_trunk")
    read: dict[str, Any] = {}

    def delivered() -> bool:
        read.update(w.ok(w.get("anna", f"/v1/deliveries/{delivery['id']}")))
        return bool(read["status"] == "delivered")

    w.wait_for(delivered)
    assert read["outcome"] == "delivered_trunk"
    kinds = [t["kind"] for t in read["timeline"]]
    assert kinds.index("locked") < kinds.index("delivered")
    assert w.ok(w.get("operator", "/v1/audit/verify"))["ok"] is True


def test_a_command_that_reaches_the_car_after_its_expiry_is_not_run(
    linked: LinkedWorld, observer: Observer
) -> None:
    """The unlock takes longer than its 30 s to reach the car: the car drops it and reports
    it rejected as expired; the trunk never opens."""
    w = linked
    vehicle, _, attempt = _ready_at_car(w)
    w.control.act(
        vehicle["brand"],
        vehicle["external_id"],
        "configure",
        now=w.clock.now(),
        settings={"latency_s": 40.0},
    )
    w.ok(w.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    w.wait_for(lambda: bool(observer.of_type("command_rejected")))
    rejected = observer.of_type("command_rejected")
    assert [r.detail for r in rejected] == ["expired"]
    assert observer.of_type("trunk_opened") == []
    assert _status(w, attempt) == "failed"
    assert w.vehicle(vehicle)["trunk_state"] != "open"


def test_a_redelivered_report_changes_nothing(linked: LinkedWorld, observer: Observer) -> None:
    """The broker delivers a report again (QoS 1 is at least once): it is taken in once."""
    w = linked
    vehicle = w.link_car()
    w.book(vehicle, [(w.add_place(), 10, 12)])  # a car nobody delivers to has no position kept
    w.park(vehicle, OFFICE)
    w.wait_for(lambda: bool(observer.of_type("position")), advance=False)
    topic, payload = next((t, p) for t, p in observer.reports if b'"position"' in p)

    def stored() -> int:
        with w.platform.uow() as session:
            return int(session.scalar(select(func.count()).select_from(VehicleEvent)) or 0)

    before, seen_before = stored(), w.vehicle(vehicle)
    observer.publish(topic, payload)
    w.wait_for(lambda: len([t for t, _ in observer.reports if t == topic]) >= 2, advance=False)
    workers.run_once(w.platform, w.clock.now())
    assert stored() == before
    assert w.vehicle(vehicle) == seen_before


def test_a_car_offline_during_a_command_catches_up_when_back(
    linked: LinkedWorld, observer: Observer
) -> None:
    """The unlock is sent while the car is out of reach; its session keeps it, and the car
    runs it when it reconnects, still in time."""
    w = linked
    vehicle, _, attempt = _ready_at_car(w)
    w.ok(w.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    w.sim(vehicle, "go_offline")
    w.wait_for(lambda: bool(observer.of_type("offline")), advance=False)
    workers.run_once(w.platform, w.clock.now())  # the unlock goes out to the absent car
    with w.platform.uow() as session:
        from trunkdrop.vehicles.models import VehicleCommand

        sent = session.scalars(select(VehicleCommand.status)).all()
    assert "sent" in sent
    assert observer.of_type("trunk_opened") == []
    w.sim(vehicle, "come_online")
    w.wait_for(lambda: _status(w, attempt) == "trunk_open")
    assert observer.of_type("trunk_opened")
