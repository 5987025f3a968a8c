"""The simulated fleet on the broker (`trunkdrop cars`): the CarSimulator's cars, each
with its own MQTT session, knowing nothing of the platform but its topics.

Cars join when the platform publishes their (retained) link message. Each car subscribes to
its commands, keys and revocations and publishes its reports, acks and state; a car that
goes offline disconnects (its will says so) and on coming back its session hands it what
the broker queued meanwhile. The operator's `…/sim` messages play the physical world.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paho.mqtt import client as paho
from pydantic import ValidationError

from trunkdrop.vehicles.adapters.mqtt.link import BrokerAddress, LinkUnavailable, MqttLink
from trunkdrop.vehicles.adapters.mqtt.schemas import (
    AckMessage,
    ClockMessage,
    CommandMessage,
    KeysMessage,
    LinkMessage,
    ReportMessage,
    RevocationMessage,
    SimMessage,
    StateMessage,
    why_refused,
)
from trunkdrop.vehicles.adapters.mqtt.topics import Channel, Topics
from trunkdrop.vehicles.adapters.simulator.brands import SIM_BRANDS
from trunkdrop.vehicles.adapters.simulator.car import CarSimulator
from trunkdrop.vehicles.ports import GrantKeys, VehicleAsleep

log = logging.getLogger(__name__)
CarKey = tuple[str, str]
# What a car keeps across a restart of its telematics (`--state-file`): where it stands,
# its lid and lock, its settings, the reports it holds while out of reach, and the commands
# and grants it has taken (so a command the broker hands over again never runs twice).
_KEPT = (
    "latitude",
    "longitude",
    "locked",
    "trunk_open",
    "online",
    "asleep",
    "latency_s",
    "power_tailgate",
    "stale_lock_state",
    "ignore_lock",
    "outbox",
)
_KEPT_SETS = ("commands_taken", "used_grants", "revoked_grants")


class Fleet:
    """Every simulated car on the broker, run by `run()` until `stop()`."""

    def __init__(
        self,
        url: str,
        *,
        topics: Topics,
        client_prefix: str = "trunkdrop-car",
        follow_clock: bool = False,
        session_expiry_s: int = 86_400,
        tick_s: float = 0.05,
        state_file: Path | None = None,
    ) -> None:
        """`state_file`: the cars' physical state is kept there and taken up again when the
        fleet restarts, as a real car's lid and lock outlive a reboot of its telematics;
        without it a restarted fleet's cars start parked nowhere, shut and locked."""
        self.topics = topics
        self.sim = CarSimulator()
        self._address = BrokerAddress.parse(url)
        self._prefix = client_prefix
        self._follow_clock = follow_clock
        self._clock: datetime | None = None
        self._session_expiry_s = session_expiry_s
        self._tick_s = tick_s
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._cars: dict[CarKey, MqttLink] = {}
        self._state_sent: dict[CarKey, tuple[bool, bool]] = {}
        self._seen_commands: dict[CarKey, set[str]] = {}
        self._state_file = state_file
        self._saved = ""
        self._control = MqttLink(
            self._address,
            client_id=f"{client_prefix}-fleet",
            subscriptions=[topics.every_car("link"), topics.every_car("sim"), topics.clock],
            on_message=self._control_message,
            session_expiry_s=session_expiry_s,
        )

    # -- running --------------------------------------------------------------------------
    def now(self) -> datetime:
        if self._follow_clock and self._clock is not None:
            return self._clock
        return datetime.now(UTC)

    def start(self, *, wait_s: float = 10.0) -> None:
        # Before connecting: what the broker kept for the fleet (a lid shut while it was
        # down) must find the cars as they were.
        self._restore()
        self._control.start(wait_s=wait_s)

    def run(self) -> None:
        """Run the cars (commands reach them after their latency) until `stop()`."""
        while not self._stopping.wait(self._tick_s):
            try:
                self._flush()
            except Exception:  # the fleet outlives one bad tick; the error is logged
                log.exception("fleet tick failed")

    def stop(self) -> None:
        self._stopping.set()
        self._control.stop()
        with self._lock:
            for link in self._cars.values():
                link.stop()
            self._cars.clear()

    def wait_for_car(self, brand: str, external_id: str, timeout_s: float) -> bool:
        """True once the car joined and its session is connected (for tests)."""
        deadline = threading.Event()
        for _ in range(int(timeout_s / 0.05) + 1):
            with self._lock:
                link = self._cars.get((brand, external_id))
            if link is not None and link.connected:
                return True
            deadline.wait(0.05)
        return False

    # -- cars -----------------------------------------------------------------------------
    def _join(self, brand: str, external_id: str) -> None:
        with self._lock:
            key = (brand, external_id)
            if key in self._cars:
                return
            car = self.sim.ensure_car(brand, external_id)
            self._seen_commands.setdefault(key, set())
            self._cars[key] = self._car_link(brand, external_id)
            if car.online:  # a car out of reach connects when it comes back (`_act`)
                self._cars[key].start()

    def _car_link(self, brand: str, external_id: str) -> MqttLink:
        topics = self.topics
        gone = StateMessage(online=False, asleep=False, at=self.now())
        return MqttLink(
            self._address,
            client_id=f"{self._prefix}-{brand}-{external_id}",
            subscriptions=[
                topics.car(brand, external_id, "commands"),
                topics.car(brand, external_id, "keys"),
                topics.car(brand, external_id, "revocations"),
            ],
            on_message=self._car_message(brand, external_id),
            session_expiry_s=self._session_expiry_s,
            will=(topics.car(brand, external_id, "state"), gone.encode()),
        )

    def _car_message(self, brand: str, external_id: str) -> Callable[[paho.MQTTMessage], None]:
        def handle(msg: paho.MQTTMessage) -> None:
            channel = self.topics.parse(msg.topic).channel
            now = self.now()
            if channel == "commands":
                self._command(brand, external_id, CommandMessage.model_validate_json(msg.payload))
            elif channel == "keys" and msg.payload:
                keys = KeysMessage.model_validate_json(msg.payload)
                self.sim.provision(
                    brand,
                    external_id,
                    GrantKeys(
                        issuer=keys.issuer,
                        vehicle_id=keys.vehicle_id,
                        public_keys={
                            k: KeysMessage.decode_key(v) for k, v in keys.public_keys.items()
                        },
                    ),
                    now,
                )
            elif channel == "revocations":
                revocation = RevocationMessage.model_validate_json(msg.payload)
                self.sim.revoke_grant(brand, external_id, revocation.grant_id, now)

        return handle

    def _command(self, brand: str, external_id: str, command: CommandMessage) -> None:
        key, now = (brand, external_id), self.now()
        with self._lock:  # the fleet's thread saves the commands seen
            seen = self._seen_commands.setdefault(key, set())
            if command.command_id in seen:  # QoS 1 may deliver twice; a command runs once
                status = "duplicate"
            elif command.kind == "wake":
                self.sim.wake(brand, external_id, now)
                status = "received"
            else:
                try:
                    self.sim.submit(brand, command.order(external_id), now)
                    status = "received"
                except VehicleAsleep:
                    status = "asleep"  # not run: the platform wakes the car and sends it again
            if status != "asleep":
                seen.add(command.command_id)
        ack = AckMessage(command_id=command.command_id, status=status, at=now)
        self._publish(key, "acks", ack.encode())

    # -- the operator's world -------------------------------------------------------------
    def _control_message(self, msg: paho.MQTTMessage) -> None:
        try:
            if msg.topic == self.topics.clock:
                if msg.payload:
                    self._clock = ClockMessage.model_validate_json(msg.payload).now
                    self._flush()
                return
            where = self.topics.parse(msg.topic)
            if where.brand not in SIM_BRANDS:
                return  # a real brand's car: not ours to play
            if where.channel == "link" and msg.payload:
                link = LinkMessage.model_validate_json(msg.payload)
                self._join(link.brand, link.external_id)
            elif where.channel == "sim":
                self._join(where.brand, where.car)
                self._act(where.brand, where.car, SimMessage.model_validate_json(msg.payload))
        except (ValidationError, ValueError) as e:
            log.warning("fleet: bad message on %s dropped: %s", msg.topic, why_refused(e))

    def _act(self, brand: str, car: str, order: SimMessage) -> None:
        now, key = self.now(), (brand, car)
        with self._lock:
            if order.action == "park":
                if order.latitude is None or order.longitude is None:
                    raise ValueError("park needs latitude and longitude")
                self.sim.park(brand, car, order.latitude, order.longitude, now)
            elif order.action == "close_trunk":
                self.sim.close_trunk(brand, car, now)
            elif order.action == "configure":
                self.sim.configure(brand, car, **(order.settings or {}))
            elif order.action == "go_offline":
                self.sim.go_offline(brand, car, now)
                self._flush()  # the last word before leaving coverage
                self._cars[key].stop(with_will=True)
                self._state_sent.pop(key, None)
                return
            elif order.action == "come_online" and not self.sim.car(brand, car).online:
                # Back in reach: reconnect first (the session hands over what the broker
                # queued), then report what happened while away.
                self._cars[key] = self._car_link(brand, car)
                self.sim.come_online(brand, car, now)
                self._cars[key].start(wait_s=10.0)
            self._flush()

    # -- reports out ----------------------------------------------------------------------
    def _flush(self) -> None:
        with self._lock:
            for brand, event in self.sim.advance(self.now()):
                report = ReportMessage.model_validate({**event, "v": 1})
                self._publish((brand, str(event["vehicle_id"])), "reports", report.encode())
            for key in self._cars:
                car = self.sim.car(*key)
                if not car.online:
                    continue
                state = (car.online, car.asleep)
                if self._state_sent.get(key) != state:
                    self._state_sent[key] = state
                    message = StateMessage(online=car.online, asleep=car.asleep, at=self.now())
                    self._publish(key, "state", message.encode(), retain=True)
            self._save()

    # -- the cars' physical state across restarts -------------------------------------------
    def _save(self) -> None:
        """Write the cars' state when it changed (atomically: a kill mid-write leaves the
        previous state, never half of one)."""
        if self._state_file is None:
            return
        cars: dict[str, dict[str, Any]] = {}
        for brand, external_id in self._cars:
            car = self.sim.car(brand, external_id)
            kept: dict[str, Any] = {name: getattr(car, name) for name in _KEPT}
            kept.update({name: sorted(getattr(car, name)) for name in _KEPT_SETS})
            kept["seen_commands"] = sorted(self._seen_commands.get((brand, external_id), ()))
            cars[f"{brand}/{external_id}"] = kept
        text = json.dumps(cars, sort_keys=True)
        if text == self._saved:
            return
        partial = self._state_file.with_name(self._state_file.name + ".tmp")
        partial.write_text(text)
        os.replace(partial, self._state_file)
        self._saved = text

    def _restore(self) -> None:
        if self._state_file is None or not self._state_file.exists():
            return
        cars: dict[str, dict[str, Any]] = json.loads(self._state_file.read_text())
        with self._lock:
            for name, kept in cars.items():
                brand, external_id = name.split("/", 1)
                if brand not in SIM_BRANDS:
                    continue
                car = self.sim.ensure_car(brand, external_id)
                for field in _KEPT:
                    setattr(car, field, kept[field])
                for field in _KEPT_SETS:
                    setattr(car, field, set(kept[field]))
                self._seen_commands[(brand, external_id)] = set(kept["seen_commands"])
        log.info("fleet: %d cars taken up from %s", len(cars), self._state_file)

    def _publish(
        self, key: CarKey, channel: Channel, payload: bytes, *, retain: bool = False
    ) -> None:
        link = self._cars.get(key)
        if link is None:
            log.warning("fleet: no session for %s/%s; %s dropped", *key, channel)
            return
        try:
            # Queued by the client and sent (or resent) as soon as the session is up.
            link.publish(
                self.topics.car(key[0], key[1], channel),
                payload,
                retain=retain,
                wait_s=None,
            )
        except LinkUnavailable:
            log.warning("fleet: %s of %s/%s not sent", channel, *key)
