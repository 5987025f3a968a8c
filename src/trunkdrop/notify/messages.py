"""The words of a customer message, from an event's topic and facts, in the reader's
language and time zone (the zone shown). Pure: no database, no clock. Never a position."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGUAGES = ("en", "de")


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    body: str
    language: str


# topic → language → (subject, body). `{time}` is the event's time in the reader's zone with
# the zone's name; `{delivery}` the delivery's id.
_TEXTS: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "delivery.booked": {
        "en": ("Delivery booked", "Your parcel {delivery} is booked for delivery into your trunk."),
        "de": (
            "Zustellung gebucht",
            "Ihr Paket {delivery} ist zur Zustellung in Ihren Kofferraum gebucht.",
        ),
    },
    "delivery.collected": {
        "en": (
            "Parcel collected",
            "Parcel {delivery} was collected from your trunk; the trunk was locked at {time}.",
        ),
        "de": (
            "Paket abgeholt",
            "Paket {delivery} wurde aus Ihrem Kofferraum abgeholt; "
            "der Kofferraum wurde um {time} verriegelt.",
        ),
    },
    # To the customer alone: the one place the pickup code is ever shown.
    "delivery.at_pickup_point": {
        "en": (
            "Parcel at a pickup point",
            "We could not deliver parcel {delivery}. It waits for you at {point}, {address}, "
            "until {until}. Your pickup code: {code}. Show it with the parcel number there.",
        ),
        "de": (
            "Paket in der Filiale",
            "Wir konnten Paket {delivery} nicht zustellen. Es liegt bis {until} für Sie bei "
            "{point}, {address}. Ihr Abholcode: {code}. Zeigen Sie ihn dort mit der "
            "Paketnummer vor.",
        ),
    },
    "delivery.collected_by_customer": {
        "en": ("Parcel collected", "You collected parcel {delivery} at {point} at {time}."),
        "de": ("Paket abgeholt", "Sie haben Paket {delivery} um {time} bei {point} abgeholt."),
    },
    "delivery.uncollected_returned": {
        "en": (
            "Parcel going back",
            "Parcel {delivery} was not collected from {point} in time and goes back to the sender.",
        ),
        "de": (
            "Paket geht zurück",
            "Paket {delivery} wurde nicht rechtzeitig bei {point} abgeholt und geht an den "
            "Absender zurück.",
        ),
    },
    # The same event when the driver took the parcel at the door (a door pickup).
    "delivery.collected:collected_door": {
        "en": ("Parcel collected", "Parcel {delivery} was collected at your door at {time}."),
        "de": ("Paket abgeholt", "Paket {delivery} wurde um {time} an Ihrer Tür abgeholt."),
    },
    "delivery.cancelled": {
        "en": ("Delivery cancelled", "The delivery of parcel {delivery} was cancelled."),
        "de": ("Zustellung storniert", "Die Zustellung von Paket {delivery} wurde storniert."),
    },
    "delivery.moved": {
        "en": ("Delivery moved", "The delivery of parcel {delivery} was moved to a new window."),
        "de": (
            "Zustellung verlegt",
            "Die Zustellung von Paket {delivery} wurde in ein neues Zeitfenster verlegt.",
        ),
    },
    "delivery.out_for_delivery": {
        "en": (
            "Driver on the way",
            "Driver on the way — please don't move the car. Parcel {delivery}, since {time}.",
        ),
        "de": (
            "Fahrer unterwegs",
            "Der Fahrer ist unterwegs – bitte bewegen Sie das Auto nicht. "
            "Paket {delivery}, seit {time}.",
        ),
    },
    "delivery.not_planned": {
        "en": (
            "Not on today's route",
            "Parcel {delivery} could not be planned for its window; it stays booked.",
        ),
        "de": (
            "Heute nicht eingeplant",
            "Paket {delivery} konnte für sein Zeitfenster nicht eingeplant werden; "
            "die Buchung bleibt bestehen.",
        ),
    },
    "delivery.not_reached": {
        "en": (
            "Stop not reached",
            "The driver did not reach your car at {time} (parcel {delivery}).",
        ),
        "de": (
            "Nicht erreicht",
            "Der Fahrer hat Ihr Auto um {time} nicht erreicht (Paket {delivery}).",
        ),
    },
    "delivery.delivered": {
        "en": ("Delivered", "Delivered, trunk locked at {time}. Parcel {delivery}."),
        "de": ("Zugestellt", "Zugestellt, Kofferraum um {time} verriegelt. Paket {delivery}."),
    },
    "delivery.attempt_failed": {
        "en": (
            "Delivery not completed",
            "Parcel {delivery} could not be put into your trunk at {time}; "
            "we will try as your booking says.",
        ),
        "de": (
            "Zustellung nicht abgeschlossen",
            "Paket {delivery} konnte um {time} nicht in Ihren Kofferraum gelegt werden; "
            "wir versuchen es wie gebucht weiter.",
        ),
    },
    "vehicle.relock": {
        "en": (
            "Trunk left open",
            "Your trunk was left open; we are locking it again ({time}).",
        ),
        "de": (
            "Kofferraum offen",
            "Ihr Kofferraum stand offen; wir verriegeln ihn wieder ({time}).",
        ),
    },
    "vehicle.relocked": {
        "en": (
            "Trunk locked again",
            "Your trunk was left open and has been locked again ({time}).",
        ),
        "de": (
            "Kofferraum wieder verriegelt",
            "Ihr Kofferraum stand offen und wurde wieder verriegelt ({time}).",
        ),
    },
    "vehicle.consent_expiring": {
        "en": (
            "Renew your car maker consent",
            "Your consent at the car maker for car {vehicle} ends on {until}; renew it to "
            "keep trunk deliveries into this car.",
        ),
        "de": (
            "Zustimmung beim Hersteller erneuern",
            "Ihre Zustimmung beim Autohersteller für Auto {vehicle} endet am {until}; "
            "erneuern Sie sie, damit weiter in den Kofferraum geliefert werden kann.",
        ),
    },
    "vehicle.consent_expired": {
        "en": (
            "Car maker consent ended",
            "Your consent at the car maker for car {vehicle} ended at {time}; trunk "
            "deliveries into it stop until you renew it.",
        ),
        "de": (
            "Zustimmung beim Hersteller beendet",
            "Ihre Zustimmung beim Autohersteller für Auto {vehicle} endete um {time}; "
            "bis zur Erneuerung wird nicht mehr in den Kofferraum geliefert.",
        ),
    },
    "webhook_endpoint.disabled": {
        "en": (
            "Webhook endpoint disabled",
            "Your webhook endpoint {endpoint_id} did not answer and was disabled at {time}.",
        ),
        "de": (
            "Webhook-Endpunkt deaktiviert",
            "Ihr Webhook-Endpunkt {endpoint_id} hat nicht geantwortet und wurde um {time} "
            "deaktiviert.",
        ),
    },
}

TOPICS = frozenset(_TEXTS)


def zone_of(name: str | None, default: str) -> ZoneInfo:
    """The reader's zone; an unknown name falls back to the platform's."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def local_time(at: datetime, zone: ZoneInfo) -> str:
    """ "14:02 CET": the reader's wall clock and the zone it is in."""
    local = at.astimezone(zone)
    return f"{local:%H:%M} {local.tzname() or zone.key}"


def _local_day(at: object, zone: ZoneInfo) -> str:
    """ "2027-03-01 14:02 CET" from an ISO time in the facts; empty when there is none."""
    if not isinstance(at, str):
        return ""
    try:
        local = datetime.fromisoformat(at).astimezone(zone)
    except ValueError:
        return ""
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or zone.key}"


def _local_date(value: Any, zone: ZoneInfo) -> str:
    """An ISO time from an event's facts as the reader's calendar day."""
    if not isinstance(value, str):
        return ""
    try:
        return f"{datetime.fromisoformat(value).astimezone(zone):%Y-%m-%d}"
    except ValueError:
        return value


def render(
    *, topic: str, facts: Mapping[str, Any], at: datetime, language: str, zone: ZoneInfo
) -> Message | None:
    """The message for an event of `topic`, or None for a topic nobody is written to."""
    # A variant for the event's outcome, where one is written ("collected at the door").
    texts = _TEXTS.get(f"{topic}:{facts.get('outcome')}") or _TEXTS.get(topic)
    if texts is None:
        return None
    language = language if language in texts else "en"
    subject, body = texts[language]
    values = {
        "time": local_time(at, zone),
        "delivery": str(facts.get("delivery_id") or ""),
        "endpoint_id": str(facts.get("endpoint_id") or ""),
        "vehicle": str(facts.get("vehicle_id") or ""),
        "until": _local_day(facts.get("expires_at"), zone)
        or _local_date(facts.get("collect_by"), zone),
        "point": str(facts.get("pickup_point") or ""),
        "address": str(facts.get("address") or ""),
        "code": str(facts.get("code") or ""),
    }
    return Message(subject=subject, body=body.format(**values), language=language)
