"""What happened, as one small value, and what each kind of event is recorded as.

Pure: no database, no clock. A use case builds an `Event`; `events.service.record` writes
what `RECORDINGS` says for its kind (the delivery's timeline, the audit chain, a message to
the parties) in the use case's own transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened: its kind, when, to what, by whom, and the facts."""

    kind: str
    at: datetime
    subject: str  # the id the event is about (an attempt, a car, a grant, …)
    actor: str = "platform"
    delivery_id: str | None = None
    facts: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # The words a person reads on the timeline and in the message; never a position.
    text: str | None = None
    # Who the event concerns and is told (retailer, carrier, customer; a car's owner).
    parties: tuple[str | None, ...] = ()


@dataclass(frozen=True, slots=True)
class Recording:
    """What an event of one kind leaves behind. None: nothing of that sort."""

    timeline: str | None = None  # the kind of the delivery's timeline entry
    audit: str | None = None  # the audit chain's action
    topic: str | None = None  # the message's topic, to each of the event's parties
    # The public name in the event log (the feed, webhooks) of an event its parties may
    # follow; None: an internal step nobody outside learns of.
    published: str | None = None


def _audited(kind: str) -> Recording:
    return Recording(audit=kind)


RECORDINGS: Mapping[str, Recording] = MappingProxyType(
    {
        # A delivery's life, told to its parties.
        "delivery.booked": Recording(
            "booked", "delivery.booked", "delivery.booked", "delivery.booked"
        ),
        "delivery.cancelled": Recording(
            "cancelled", "delivery.cancelled", "delivery.cancelled", "delivery.cancelled"
        ),
        "delivery.planned": Recording("planned"),
        "delivery.out_for_delivery": Recording(
            "out_for_delivery",
            topic="delivery.out_for_delivery",
            published="delivery.out_for_delivery",
        ),
        "delivery.not_planned": Recording(
            "not_planned", topic="delivery.not_planned", published="delivery.not_planned"
        ),
        "delivery.not_reached": Recording(
            "not_reached", topic="delivery.not_reached", published="delivery.not_reached"
        ),
        "delivery.delivered": Recording(
            "delivered", "delivery.delivered", "delivery.delivered", "delivery.delivered"
        ),
        # What the fallback policy decided after a visit that did not deliver.
        "delivery.next_place": Recording(
            "fallback_next_place",
            topic="delivery.attempt_failed",
            published="delivery.attempt_failed",
        ),
        "delivery.to_home": Recording(
            "fallback_home", topic="delivery.attempt_failed", published="delivery.attempt_failed"
        ),
        "delivery.returned_to_sender": Recording(
            "fallback_return_to_sender",
            topic="delivery.attempt_failed",
            published="delivery.returned_to_sender",
        ),
        # A parcel nobody could take waits at a pickup point; the customer's code goes to
        # the customer alone (`delivery.pickup_code`), never into the log.
        "delivery.at_pickup_point": Recording(
            "at_pickup_point", "delivery.at_pickup_point", published="delivery.at_pickup_point"
        ),
        # Only a message, to the customer alone: no timeline, audit or log holds the code.
        "delivery.pickup_code": Recording(topic="delivery.at_pickup_point"),
        "delivery.collected_by_customer": Recording(
            "collected_by_customer",
            "delivery.collected_by_customer",
            "delivery.collected_by_customer",
            "delivery.collected_by_customer",
        ),
        "delivery.uncollected_returned": Recording(
            "fallback_return_to_sender",
            "delivery.returned_to_sender",
            "delivery.uncollected_returned",
            "delivery.returned_to_sender",
        ),
        "pickup_point.created": _audited("pickup_point.created"),
        "pickup_point.updated": _audited("pickup_point.updated"),
        # A wrong pickup code at the point: counted, and audited (a guesser leaves a trail).
        "pickup_point.code_refused": _audited("pickup_point.code_refused"),
        # The customer (or the shop with consent) moved a booking's windows or places.
        "delivery.moved": Recording("moved", "delivery.moved", "delivery.moved", "delivery.moved"),
        "stop.rerouted": Recording("rerouted", "stop.rerouted"),
        # A van's load checked as it left: a parcel moved to a van still at the depot.
        "stop.moved_van": Recording("moved_van", "stop.moved_van"),
        # Pickups from the trunk: returns and sends.
        "return.authorised": Recording(audit="return.authorised", published="return.authorised"),
        "send.bought": Recording(audit="send.bought", published="send.bought"),
        "pickup.parcel_ready": Recording(
            "parcel_ready", "pickup.parcel_ready", published="pickup.parcel_ready"
        ),
        "attempt.collected": Recording("collected_from_trunk", "attempt.collected"),
        "delivery.collected": Recording(
            "collected", "delivery.collected", "delivery.collected", "delivery.collected"
        ),
        "delivery.not_collected": Recording(
            "not_collected",
            "delivery.not_collected",
            "delivery.attempt_failed",
            "delivery.not_collected",
        ),
        # An attempt at the car or the door.
        "attempt.refused": _audited("attempt.refused"),
        "attempt.started": Recording("attempt_started"),
        "access.refused": _audited("access.refused"),
        "access.granted": Recording("access_granted"),
        "attempt.trunk_open": Recording("trunk_open"),
        "attempt.deposited": Recording("deposited"),
        # A proof photo taken at the open trunk (proofs/): on the timeline and audited.
        "attempt.photo_taken": Recording("photo_taken", "attempt.photo_taken"),
        "attempt.failed": Recording("attempt_failed", "attempt.failed"),
        "attempt.secured": Recording("locked", "vehicle.secured"),
        "attempt.relock_sent": Recording("relock"),
        # The car never confirmed it locked: the driver goes on, the incident stays open.
        "attempt.left_unconfirmed": Recording("left_unconfirmed", "attempt.left_unconfirmed"),
        # An operator settles an attempt the car left undecided.
        "attempt.settled": Recording("settled", "attempt.settled"),
        # The car, its owner's switches, and what the platform told it.
        "vehicle.locked": _audited("vehicle.locked"),
        "vehicle.unlocked": _audited("vehicle.unlocked"),
        "vehicle.trunk_opened": _audited("vehicle.trunk_opened"),
        "vehicle.trunk_closed": _audited("vehicle.trunk_closed"),
        "vehicle.waking": Recording("vehicle_waking"),
        "vehicle.relock": Recording(topic="vehicle.relock"),
        "vehicle.relocked": Recording(topic="vehicle.relocked"),
        "vehicle.access_blocked": _audited("vehicle.access_blocked"),
        "vehicle.access_unblocked": _audited("vehicle.access_unblocked"),
        "vehicle.consent_withdrawn": _audited("vehicle.consent_withdrawn"),
        "vehicle.consent_given": _audited("vehicle.consent_given"),
        # The car maker's consent is about to run out (the owner is told), or ran out.
        "vehicle.consent_expiring": Recording(topic="vehicle.consent_expiring"),
        "vehicle.consent_expired": Recording(
            audit="vehicle.consent_expired", topic="vehicle.consent_expired"
        ),
        "vehicle.keys_provisioned": _audited("vehicle.keys_provisioned"),
        "vehicle.unlinked": _audited("vehicle.unlinked"),
        "command.unlock_trunk": _audited("command.unlock_trunk"),
        "command.lock": _audited("command.lock"),
        "command.dropped": _audited("command.dropped"),
        "command.expired": _audited("command.expired"),
        "command.executed": _audited("command.executed"),
        "command.rejected": _audited("command.rejected"),
        # Grants and keys.
        "key.created": _audited("key.created"),
        "grant.issued": _audited("grant.issued"),
        "grant.redeemed": _audited("grant.redeemed"),
        "grant.reused": _audited("grant.reused"),
        "grant.refused": _audited("grant.refused"),
        "grant.revoked": _audited("grant.revoked"),
        "grant.expired": _audited("grant.expired"),
        # Handsets, drivers, API keys.
        "device.registered": _audited("device.registered"),
        "device.approved": _audited("device.approved"),
        "device.revoked": _audited("device.revoked"),
        "driver.position_refused": _audited("driver.position_refused"),
        "api_keys.revoked": _audited("api_keys.revoked"),
        "api_key.issued": _audited("api_key.issued"),
        # A person signed in to the pages with an e-mail link, or out again.
        "session.started": _audited("session.started"),
        "session.ended": _audited("session.ended"),
        # The operator's side.
        "incident.opened": Recording(audit="incident.opened", published="incident.opened"),
        "incident.resolved": Recording(audit="incident.resolved", published="incident.resolved"),
        "incident.acknowledged": _audited("incident.acknowledged"),
        # A webhook endpoint that never answered: its owner is told.
        "webhook_endpoint.disabled": Recording(
            audit="webhook_endpoint.disabled", topic="webhook_endpoint.disabled"
        ),
        "route.replanned": _audited("route.replanned"),
        # A customer's consent to a shop (OAuth), and their own data.
        "oauth_client.registered": _audited("oauth_client.registered"),
        "consent.given": _audited("consent.given"),
        "consent.revoked": _audited("consent.revoked"),
        # A customer erased their data (GDPR art. 17): ids and counts only, never the data.
        "party.erased": _audited("party.erased"),
    }
)


# Every public name, for validating what an integrator subscribes to.
PUBLISHED_KINDS: frozenset[str] = frozenset(
    r.published for r in RECORDINGS.values() if r.published is not None
)


def recording_of(event: Event) -> Recording:
    """What `event` is recorded as; a kind nobody described, or a timeline entry without a
    delivery or words, is a mistake in the code that built it."""
    recording = RECORDINGS.get(event.kind)
    if recording is None:
        raise ValueError(f"no recording is described for event kind {event.kind!r}")
    if recording.timeline is not None and (event.delivery_id is None or not event.text):
        raise ValueError(f"a {event.kind!r} event goes on a timeline: it needs a delivery and text")
    if recording.topic is not None and event.text is None and not event.facts:
        raise ValueError(f"a {event.kind!r} event is a message: it needs text or facts")
    return recording
