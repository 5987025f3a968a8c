"""One MQTT 5 connection (paho-mqtt): persistent session, QoS 1, bounded waits.

Both ends use it: the platform's link to the cars and each simulated car. The session is
not clean (`clean_start=False` with a session expiry), so what the broker queued for a
client while it was away reaches it when it is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)
MessageHandler = Callable[[paho.MQTTMessage], None]
# DISCONNECT reason 0x04: the broker publishes the client's will (a car leaving coverage).
DISCONNECT_WITH_WILL = 4


class LinkUnavailable(Exception):
    """The broker did not take a message in time (down, unreachable, refusing us)."""


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """`mqtt://[user:password@]host[:1883]` or `mqtts://…[:8883]` (TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker URL must start with mqtt:// or mqtts://, not {url!r}")
        if not parts.hostname:
            raise ValueError("broker URL has no host")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as e:
            raise ValueError(f"broker URL has a bad port: {e}") from None
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class MqttLink:
    """A paho client on its own network thread that reconnects by itself."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        subscriptions: Iterable[str] = (),
        on_message: MessageHandler | None = None,
        session_expiry_s: int = 86_400,
        manual_ack: bool = False,
        will: tuple[str, bytes] | None = None,
        reconnect_max_s: int = 10,
    ) -> None:
        """`reconnect_max_s`: the longest wait between two tries to reconnect (the wait
        doubles from 1 s up to it)."""
        self.address = address
        self.client_id = client_id
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._session_expiry_s = session_expiry_s
        self._connected = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=manual_ack,
        )
        if address.username is not None:
            self._client.username_pw_set(address.username, address.password)
        if address.tls:
            self._client.tls_set()
        if will is not None:
            self._client.will_set(will[0], will[1], qos=1, retain=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=reconnect_max_s)
        self._client.on_connect = self._connected_cb
        self._client.on_disconnect = self._disconnected_cb
        self._client.on_message = self._message_cb

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self, *, wait_s: float | None = None) -> None:
        """Connect in the background (and keep reconnecting); with `wait_s`, wait that long
        for the first connection and raise LinkUnavailable without it."""
        connect = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        connect.SessionExpiryInterval = self._session_expiry_s
        self._client.connect_async(
            self.address.host,
            self.address.port,
            keepalive=30,
            clean_start=False,
            properties=connect,
        )
        self._client.loop_start()
        if wait_s is not None and not self._connected.wait(wait_s):
            self.stop()
            raise LinkUnavailable(
                f"no connection to mqtt://{self.address.host}:{self.address.port} in {wait_s} s"
            )

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        expiry_s: int | None = None,
        wait_s: float | None = 5.0,
    ) -> None:
        """Publish at QoS 1. With `wait_s` (never from this link's own callbacks), wait for
        the broker's PUBACK and raise LinkUnavailable without it."""
        properties = None
        if expiry_s is not None:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.MessageExpiryInterval = max(1, expiry_s)
        info = self._client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        if wait_s is None:
            return
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise LinkUnavailable(f"broker not connected ({paho.error_string(info.rc)})")
        try:
            info.wait_for_publish(wait_s)
        except (RuntimeError, ValueError) as e:
            raise LinkUnavailable(str(e)) from e
        if not info.is_published():
            raise LinkUnavailable(f"broker did not acknowledge within {wait_s} s")

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a message taken with manual_ack, once it is safely handled."""
        self._client.ack(mid, qos)

    def stop(self, *, with_will: bool = False) -> None:
        """Disconnect (the session stays on the broker until it expires)."""
        if with_will:
            self._client.disconnect(
                reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=DISCONNECT_WITH_WILL)
            )
        else:
            self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    # -- paho callbacks (its network thread) -------------------------------------------
    def _connected_cb(
        self,
        client: paho.Client,
        _userdata: object,
        _flags: paho.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("mqtt %s: connection refused: %s", self.client_id, reason)
            return
        if self._subscriptions:
            client.subscribe([(topic, 1) for topic in self._subscriptions])
        self._connected.set()

    def _disconnected_cb(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: paho.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if reason.is_failure:
            log.warning("mqtt %s: disconnected: %s", self.client_id, reason)

    def _message_cb(self, _client: paho.Client, _userdata: object, msg: paho.MQTTMessage) -> None:
        if self._on_message is None:
            return
        try:
            self._on_message(msg)
        except Exception:  # one bad message must not end the network thread
            log.exception("mqtt %s: message on %s not handled", self.client_id, msg.topic)
