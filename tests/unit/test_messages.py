"""Customer message texts: every topic in both languages, the reader's zone shown."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from trunkdrop.events.domain import RECORDINGS
from trunkdrop.notify import messages

AT = datetime(2026, 12, 1, 13, 2, tzinfo=UTC)


@pytest.mark.parametrize("language", messages.LANGUAGES)
def test_every_message_topic_of_the_catalog_has_words_in_each_language(language: str) -> None:
    """No topic an event is told under falls through unwritten, in English or German."""
    topics = {r.topic for r in RECORDINGS.values() if r.topic is not None}
    assert topics <= messages.TOPICS
    for topic in topics:
        message = messages.render(
            topic=topic,
            facts={"delivery_id": "dlv_1", "endpoint_id": "whe_1"},
            at=AT,
            language=language,
            zone=ZoneInfo("Europe/Berlin"),
        )
        assert message is not None and message.language == language
        assert message.body and "{" not in message.body


def test_delivered_shows_the_lock_time_in_the_readers_zone_with_the_zone() -> None:
    """13:02 UTC reads 14:02 CET in Berlin, 08:02 EST in New York."""
    berlin = messages.render(
        topic="delivery.delivered", facts={}, at=AT, language="en", zone=ZoneInfo("Europe/Berlin")
    )
    new_york = messages.render(
        topic="delivery.delivered",
        facts={},
        at=AT,
        language="de",
        zone=ZoneInfo("America/New_York"),
    )
    assert berlin is not None and "Delivered, trunk locked at 14:02 CET" in berlin.body
    assert new_york is not None and "Kofferraum um 08:02 EST verriegelt" in new_york.body


def test_an_unknown_language_reads_english_and_an_unknown_zone_the_default() -> None:
    """A language without texts falls back to English; a zone nobody knows to the platform's."""
    zone = messages.zone_of("Mars/Olympus", "Europe/Berlin")
    assert zone.key == "Europe/Berlin"
    message = messages.render(topic="vehicle.relocked", facts={}, at=AT, language="fr", zone=zone)
    assert message is not None and message.language == "en"
    assert message.body == "Your trunk was left open and has been locked again (14:02 CET)."


def test_facts_with_a_position_never_reach_the_words() -> None:
    """Coordinates among the facts are not rendered."""
    message = messages.render(
        topic="delivery.out_for_delivery",
        facts={"delivery_id": "dlv_1", "latitude": 48.1402, "longitude": 11.56},
        at=AT,
        language="en",
        zone=ZoneInfo("Europe/Berlin"),
    )
    assert message is not None
    assert "48.14" not in message.body and "11.56" not in message.body


@pytest.mark.parametrize("language", messages.LANGUAGES)
def test_the_pickup_point_message_names_the_point_the_day_and_the_code(language: str) -> None:
    """The customer's message carries the point, its address, the local day to collect by
    and the code; without them the words would not let anyone collect."""
    message = messages.render(
        topic="delivery.at_pickup_point",
        facts={
            "delivery_id": "dlv_1",
            "pickup_point": "Kiosk Schelling",
            "address": "Schellingstr. 20",
            "collect_by": "2026-12-08T22:30:00+00:00",
            "code": "40271953",
        },
        at=AT,
        language=language,
        zone=ZoneInfo("Europe/Berlin"),
    )
    assert message is not None
    for part in ("Kiosk Schelling", "Schellingstr. 20", "2026-12-08", "40271953"):
        assert part in message.body
    assert "2026-12-09" not in message.body  # 23:30 in Berlin is still the 8th


def test_a_door_pickup_is_not_told_as_taken_from_the_trunk() -> None:
    """A pickup collected at the door gets the door's words, one from the trunk the trunk's."""
    zone = ZoneInfo("Europe/Berlin")
    door = messages.render(
        topic="delivery.collected",
        facts={"outcome": "collected_door"},
        at=AT,
        language="en",
        zone=zone,
    )
    trunk = messages.render(
        topic="delivery.collected",
        facts={"outcome": "collected_trunk"},
        at=AT,
        language="en",
        zone=zone,
    )
    assert door is not None and "door" in door.body and "trunk" not in door.body
    assert trunk is not None and "trunk" in trunk.body
