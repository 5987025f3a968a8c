"""The platform's side of the car link: commands out, reports in, over one MQTT session.

`MqttCarLink` is the connection and the inbound `ReportSource`; `MqttAdapter` is the
`VehicleAdapter` of one brand on it. A report is acknowledged to the broker only once the
platform has committed it (`settle`): a platform that dies before that gets it again.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import deque
from datetime import datetime, timedelta

from paho.mqtt import client as paho
from pydantic import ValidationError

from trunkdrop.vehicles.adapters.mqtt.brands import MQTT_BRANDS
from trunkdrop.vehicles.adapters.mqtt.link import BrokerAddress, LinkUnavailable, MqttLink
from trunkdrop.vehicles.adapters.mqtt.schemas import (
    AckMessage,
    CommandMessage,
    KeysMessage,
    LinkMessage,
    ReportMessage,
    RevocationMessage,
    StateMessage,
    why_refused,
)
from trunkdrop.vehicles.adapters.mqtt.topics import Channel, Topics
from trunkdrop.vehicles.ports import (
    CONSENT_SCOPES,
    AdapterError,
    AdapterMetadata,
    CommandOrder,
    ConsentAsk,
    GrantKeys,
    Report,
    VehicleAsleep,
    VehicleConfirmation,
)

log = logging.getLogger(__name__)
# The broker drops a command this long after its expiry (the car checks the exact expiry
# itself): room for a car's clock running behind, no queue of dead commands for a car
# that stays away for days.
BROKER_EXPIRY_GRACE_S = 60


class MqttCarLink:
    """The platform's one MQTT session: publishes for every brand's adapter, and holds the
    cars' reports until a worker takes them (the inbound `ReportSource`)."""

    def __init__(
        self,
        url: str,
        *,
        topics: Topics,
        client_id: str = "trunkdrop-platform",
        session_expiry_s: int = 86_400,
        publish_wait_s: float = 5.0,
        receive: bool = True,
        share_group: str | None = None,
    ) -> None:
        """`receive=False`: a link that only publishes (an API process beside workers).
        `share_group`: several workers' sessions share the cars' messages through an MQTT 5
        shared subscription, each message going to one of them."""
        self.topics = topics
        self._publish_wait_s = publish_wait_s
        self._lock = threading.Lock()
        self._inbox: deque[tuple[Report, int]] = deque()
        self._unsettled: dict[str, int] = {}  # event id -> the broker's message id
        self.states: dict[tuple[str, str], StateMessage] = {}
        self.acks: dict[str, AckMessage] = {}  # the latest ack per command, for operators
        self._link = MqttLink(
            BrokerAddress.parse(url),
            client_id=client_id,
            subscriptions=[
                f"$share/{share_group}/{topic}" if share_group else topic
                for topic in (
                    topics.every_car("reports"),
                    topics.every_car("acks"),
                    topics.every_car("state"),
                )
                if receive
            ],
            on_message=self._received,
            session_expiry_s=session_expiry_s,
            manual_ack=True,
        )

    @property
    def connected(self) -> bool:
        return self._link.connected

    def start(self, *, wait_s: float | None = None) -> None:
        self._link.start(wait_s=wait_s)

    def wait_connected(self, timeout_s: float) -> bool:
        return self._link.wait_connected(timeout_s)

    def close(self) -> None:
        self._link.stop()

    # -- outbound -------------------------------------------------------------------------
    def publish(
        self,
        brand: str,
        car: str,
        channel: Channel,
        payload: bytes,
        *,
        retain: bool = False,
        expiry_s: int | None = None,
    ) -> None:
        try:
            topic = self.topics.car(brand, car, channel)
        except ValueError as e:
            raise AdapterError("unknown_vehicle", str(e)) from e
        try:
            self._link.publish(
                topic, payload, retain=retain, expiry_s=expiry_s, wait_s=self._publish_wait_s
            )
        except LinkUnavailable as e:
            raise AdapterError("car_link_unavailable", str(e)) from e

    def publish_raw(self, topic: str, payload: bytes, *, retain: bool = True) -> None:
        """Publish on a topic of the link's own (the simulated world's clock)."""
        try:
            self._link.publish(topic, payload, retain=retain, wait_s=self._publish_wait_s)
        except LinkUnavailable as e:
            raise AdapterError("car_link_unavailable", str(e)) from e

    # -- inbound: the ReportSource port ---------------------------------------------------
    def take(self, now: datetime) -> list[Report]:
        """The reports received since the last call, oldest first."""
        with self._lock:
            taken = list(self._inbox)
            self._inbox.clear()
            for (_, event), mid in taken:
                self._unsettled[str(event["event_id"])] = mid
        return [report for report, _ in taken]

    def redeliver(self, reports: list[Report]) -> None:
        """Reports the platform could not take in go back to the front, unacknowledged."""
        with self._lock:
            again = [(r, self._unsettled.pop(str(r[1]["event_id"]), 0)) for r in reports]
            self._inbox.extendleft(reversed(again))

    def settle(self, reports: list[Report]) -> None:
        """The platform committed these: the broker may forget them."""
        with self._lock:
            mids = [self._unsettled.pop(str(event["event_id"]), 0) for _, event in reports]
        for mid in mids:
            if mid:
                self._link.ack(mid, 1)

    def _received(self, msg: paho.MQTTMessage) -> None:
        try:
            where = self.topics.parse(msg.topic)
        except ValueError:
            log.warning("car link: message on unexpected topic %s dropped", msg.topic)
            self._link.ack(msg.mid, msg.qos)
            return
        try:
            if where.channel == "reports":
                report = ReportMessage.model_validate_json(msg.payload)
                # The topic is what the broker's ACL vouches for: a car speaks only for itself.
                if report.vehicle_id != where.car:
                    raise ValueError(f"report for {report.vehicle_id} on {where.car}'s topic")
                with self._lock:
                    self._inbox.append(((where.brand, report.event()), msg.mid))
                return  # acknowledged when settled
            if where.channel == "state":
                if msg.payload:
                    state = StateMessage.model_validate_json(msg.payload)
                    self.states[(where.brand, where.car)] = state
            elif where.channel == "acks":
                ack = AckMessage.model_validate_json(msg.payload)
                self.acks[ack.command_id] = ack
                log.debug(
                    "car %s/%s: command %s %s", where.brand, where.car, ack.command_id, ack.status
                )
        except (ValidationError, ValueError) as e:
            log.warning("car link: bad message on %s dropped: %s", msg.topic, why_refused(e))
        self._link.ack(msg.mid, msg.qos)


class MqttAdapter:
    """One brand's `VehicleAdapter` over the car link."""

    def __init__(self, brand: str, link: MqttCarLink) -> None:
        if brand not in MQTT_BRANDS:
            raise ValueError(f"unknown brand on the car link {brand!r}")
        self._meta = MQTT_BRANDS[brand]
        self._link = link

    @property
    def metadata(self) -> AdapterMetadata:
        return self._meta

    def confirm_vehicle(self, *, external_id: str, now: datetime) -> VehicleConfirmation:
        # Retained: the fleet (or the maker's cloud) learns of the car whenever it connects.
        message = LinkMessage(brand=self._meta.brand, external_id=external_id, at=now)
        self._link.publish(self._meta.brand, external_id, "link", message.encode(), retain=True)
        return VehicleConfirmation(
            external_id=external_id,
            consent_scopes=CONSENT_SCOPES,
            capabilities=self._meta.capabilities,
            consent_expires_at=self._meta.consent_expires_at(now),
        )

    def authorization_url(self, ask: ConsentAsk) -> str:
        raise AdapterError("not_supported", "the car link confirms consent directly")

    def exchange_consent(
        self, *, external_id: str, code: str, code_verifier: str, redirect_uri: str, now: datetime
    ) -> VehicleConfirmation:
        raise AdapterError("not_supported", "the car link confirms consent directly")

    def send_command(self, order: CommandOrder, *, now: datetime) -> None:
        state = self._link.states.get((self._meta.brand, order.vehicle_external_id))
        if state is not None and state.online and state.asleep:
            raise VehicleAsleep()
        # An offline car gets it from its session when it is back, if still in time.
        message = CommandMessage.of(order, sent_at=now)
        self._publish_command(order.vehicle_external_id, message, now)

    def wake(self, *, external_id: str, now: datetime) -> None:
        expiry = timedelta(seconds=self._meta.capabilities.typical_latency_s * 3)
        message = CommandMessage(
            command_id=f"wake-{secrets.token_hex(8)}",
            kind="wake",
            expires_at=now + expiry,
            sent_at=now,
        )
        self._publish_command(external_id, message, now)

    def _publish_command(self, external_id: str, message: CommandMessage, now: datetime) -> None:
        left = int((message.expires_at - now).total_seconds())
        self._link.publish(
            self._meta.brand,
            external_id,
            "commands",
            message.encode(),
            expiry_s=left + BROKER_EXPIRY_GRACE_S,
        )

    def provision_grant_keys(self, *, external_id: str, keys: GrantKeys, now: datetime) -> None:
        if not self._meta.capabilities.offline_grants:
            raise AdapterError("not_supported", f"{self._meta.brand} cars do not check grants")
        message = KeysMessage(
            issuer=keys.issuer,
            vehicle_id=keys.vehicle_id,
            public_keys={kid: KeysMessage.encode_key(raw) for kid, raw in keys.public_keys.items()},
            at=now,
        )
        # Retained: a car out of reach gets its keys when it connects.
        self._link.publish(self._meta.brand, external_id, "keys", message.encode(), retain=True)

    def revoke_grant(self, *, external_id: str, grant_id: str, now: datetime) -> None:
        if not self._meta.capabilities.offline_grants:
            raise AdapterError("not_supported", f"{self._meta.brand} cars do not check grants")
        message = RevocationMessage(grant_id=grant_id, at=now)
        self._link.publish(self._meta.brand, external_id, "revocations", message.encode())
