"""The car link's topics and messages: built and parsed the same way on both ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from trunkdrop.vehicles.adapters.mqtt.link import BrokerAddress
from trunkdrop.vehicles.adapters.mqtt.schemas import (
    CommandMessage,
    KeysMessage,
    ReportMessage,
    SimMessage,
    why_refused,
)
from trunkdrop.vehicles.adapters.mqtt.topics import CarTopic, Topics
from trunkdrop.vehicles.ports import CommandOrder

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_car_topic_round_trips() -> None:
    """Brand, car and channel put into a topic come back out of it."""
    topics = Topics("trunkdrop")
    topic = topics.car("sim-aurora", "VIN00000000000001", "commands")
    assert topic == "trunkdrop/v1/sim-aurora/VIN00000000000001/commands"
    assert topics.parse(topic) == CarTopic("sim-aurora", "VIN00000000000001", "commands")


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/sim-aurora/VIN1/reports",
        "trunkdrop/v2/sim-aurora/VIN1/reports",
        "trunkdrop/v1/sim-aurora/VIN1/reports/extra",
        "trunkdrop/v1/sim-aurora/VIN1/unknown",
        "trunkdrop/v1/_fleet/clock",
        "trunkdrop/v1/sim-aurora/+/reports",
    ],
)
def test_topics_outside_the_layout_are_refused(topic: str) -> None:
    """A topic of another root or version, another shape or channel names no car."""
    with pytest.raises(ValueError):
        Topics("trunkdrop").parse(topic)


@pytest.mark.parametrize("car", ["VIN/1", "+", "#", "", "x" * 65])
def test_a_car_id_that_is_no_topic_level_is_refused(car: str) -> None:
    """A car id with a separator or wildcard could reach other cars' topics: refused."""
    with pytest.raises(ValueError):
        Topics().car("sim-aurora", car, "commands")


def test_wildcard_subscriptions_cover_every_car() -> None:
    """The platform's subscriptions name the channel for every brand and car."""
    assert Topics("t").every_car("reports") == "t/v1/+/+/reports"
    assert Topics("t").clock == "t/v1/_fleet/clock"


def test_a_command_carries_its_expiry_and_version() -> None:
    """A command message is the order with its expiry, tagged v1, and decodes to it again."""
    order = CommandOrder(
        command_id="c1",
        vehicle_external_id="VIN1",
        kind="unlock_trunk",
        expires_at=NOW + timedelta(seconds=30),
        handset_key="key",
    )
    wire = CommandMessage.of(order, sent_at=NOW).encode()
    decoded = CommandMessage.model_validate_json(wire)
    assert decoded.v == 1
    assert decoded.order("VIN1") == order


def test_an_unknown_version_is_refused() -> None:
    """A receiver refuses a message version it does not know rather than guess."""
    wire = b'{"v": 2, "command_id": "c", "kind": "lock", "expires_at": "2026-12-01T09:00:30Z", "sent_at": "2026-12-01T09:00:00Z"}'
    with pytest.raises(ValidationError):
        CommandMessage.model_validate_json(wire)


def test_a_command_without_a_timezone_is_refused() -> None:
    """An expiry without an offset is ambiguous between car and platform: refused."""
    wire = b'{"v": 1, "command_id": "c", "kind": "lock", "expires_at": "2026-12-01T09:00:30", "sent_at": "2026-12-01T09:00:00Z"}'
    with pytest.raises(ValidationError):
        CommandMessage.model_validate_json(wire)


def test_a_report_is_the_webhook_event_with_a_version() -> None:
    """A report decodes to exactly the car maker webhook's event (event id kept)."""
    wire = (
        b'{"v": 1, "event_id": "sim-1", "vehicle_id": "VIN1", "type": "locked",'
        b' "occurred_at": "2026-12-01T09:00:00+00:00"}'
    )
    event = ReportMessage.model_validate_json(wire).event()
    assert event == {
        "event_id": "sim-1",
        "vehicle_id": "VIN1",
        "type": "locked",
        "occurred_at": "2026-12-01T09:00:00Z",
    }


def test_a_report_with_unknown_fields_is_refused() -> None:
    """Extra fields are refused, not silently dropped."""
    wire = (
        b'{"v": 1, "event_id": "e", "vehicle_id": "VIN1", "type": "locked",'
        b' "occurred_at": "2026-12-01T09:00:00Z", "unlock_everything": true}'
    )
    with pytest.raises(ValidationError):
        ReportMessage.model_validate_json(wire)


def test_a_refused_report_is_logged_without_its_position() -> None:
    """A report refused for a bad latitude is named in the log by field and fault, never by
    the coordinates it carried (pydantic's own message would echo them)."""
    wire = (
        b'{"v": 1, "event_id": "e", "vehicle_id": "VIN1", "type": "position",'
        b' "occurred_at": "2026-12-01T09:00:00Z", "latitude": 91.2345678,'
        b' "longitude": 11.5600123}'
    )
    with pytest.raises(ValidationError) as refused:
        ReportMessage.model_validate_json(wire)
    assert "91.234" in str(refused.value)  # what logging the exception itself would leak
    why = why_refused(refused.value)
    assert why == "latitude: less_than_equal"
    assert "91.2" not in why and "11.56" not in why


def test_keys_survive_the_base64_round_trip() -> None:
    """A car's grant keys arrive byte for byte."""
    raw = bytes(range(32))
    assert KeysMessage.decode_key(KeysMessage.encode_key(raw)) == raw


def test_a_sim_message_checks_positions() -> None:
    """The operator's park control refuses a latitude off the globe."""
    with pytest.raises(ValidationError):
        SimMessage(action="park", latitude=91.0, longitude=11.0, at=NOW)


def test_broker_urls_parse_with_credentials_and_tls() -> None:
    """mqtt:// and mqtts:// with user, password and default ports; other schemes refused."""
    plain = BrokerAddress.parse("mqtt://127.0.0.1")
    assert (plain.host, plain.port, plain.tls) == ("127.0.0.1", 1883, False)
    secure = BrokerAddress.parse("mqtts://car%40x:p%2Fw@broker.example:8884")
    assert (secure.port, secure.tls, secure.username, secure.password) == (
        8884,
        True,
        "car@x",
        "p/w",
    )
    with pytest.raises(ValueError):
        BrokerAddress.parse("http://127.0.0.1:1883")


def test_the_mqtt_car_link_needs_a_broker_url() -> None:
    """car_link=mqtt without TRUNKDROP_MQTT_URL is refused when the settings load."""
    from trunkdrop.config import Settings

    with pytest.raises(ValidationError, match="TRUNKDROP_MQTT_URL"):
        Settings(car_link="mqtt")
    assert Settings().car_link == "embedded"
