"""Consent at the car maker: the owner approves on the maker's page (OAuth 2 code with
PKCE) and the car is linked with scopes and an expiry; an expired consent blocks booking
and the owner is told; renewing it through the maker's page makes the car bookable again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.security.common import refused
from tests.support import World

LINK = {
    "brand": "sim-fjord",
    "external_id": "FJORD00000000001",
    "make": "Fjord",
    "model": "Tourer",
    "year": 2024,
    "plate": "M-FJ 1",
    "colour": "grey",
    "trunk_volume_l": 480,
}


def _approve_at_maker(world: World, asked: dict[str, Any], decision: str = "approve") -> str:
    """The owner on the car maker's page: what is asked, then approve; the maker's redirect."""
    url = asked["authorization_url"]
    page = world.ok(world.client.get(url))
    assert page["scopes"] == ["location_during_windows", "trunk_access"]
    answer = world.client.post(f"{url}&decision={decision}", follow_redirects=False)
    assert answer.status_code == 303, answer.text
    location: str = answer.headers["location"]
    assert urlsplit(location).path == "/v1/vehicle-consents/callback"
    return location


def _link_through_maker(world: World, who: str = "anna") -> dict[str, Any]:
    asked = world.ok(world.post(who, "/v1/vehicle-consents", LINK), 201)
    back = _approve_at_maker(world, asked)
    linked: dict[str, Any] = world.ok(world.client.get(back, headers=world.auth(who)))
    return linked


def _booking(world: World, vehicle: dict[str, Any], place: dict[str, Any]) -> dict[str, Any]:
    return {
        "customer_id": world.ids["anna"],
        "vehicle_id": vehicle["id"],
        "retailer_reference": f"ORD-{vehicle['id']}-{world.clock.now().timestamp()}",
        "parcel": world.parcel(),
        "itinerary": [
            {
                "place_id": place["id"],
                "window_start": world.at(14).isoformat(),
                "window_end": world.at(16).isoformat(),
            }
        ],
    }


def test_linking_goes_through_the_car_makers_page(world: World) -> None:
    """A redirect brand is not linked directly; through the maker's page and the callback
    the car is linked with the approved scopes and the maker's 90-day expiry, and the
    callback's state works once only and for its owner only."""
    refused(world.post("anna", "/v1/vehicles", LINK), 409, "consent_redirect_required")
    asked = world.ok(world.post("anna", "/v1/vehicle-consents", LINK), 201)
    query = parse_qs(urlsplit(asked["authorization_url"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    back = _approve_at_maker(world, asked)
    state = parse_qs(urlsplit(back).query)["state"][0]
    refused(world.client.get(back, headers=world.auth("ben")), 422, "consent_state_invalid")

    car = world.ok(world.client.get(back, headers=world.auth("anna")))

    assert car["brand"] == "sim-fjord" and car["trunk_delivery_blockers"] == []
    assert car["consent_scopes"] == ["location_during_windows", "trunk_access"]
    ends = datetime.fromisoformat(car["consent_expires_at"])
    assert ends == world.clock.now() + timedelta(days=90)
    assert [v["id"] for v in world.ok(world.get("anna", "/v1/vehicles"))["data"]] == [car["id"]]
    again = world.client.get(back, headers=world.auth("anna"))
    refused(again, 422, "consent_state_invalid")
    assert state not in again.text


def test_a_denial_or_a_wrong_verifier_links_nothing(world: World) -> None:
    """The owner denying at the maker links no car; a code replayed under another request
    (its PKCE verifier does not match) is refused by the maker's exchange."""
    asked = world.ok(world.post("anna", "/v1/vehicle-consents", LINK), 201)
    back = _approve_at_maker(world, asked, decision="deny")
    refused(world.client.get(back, headers=world.auth("anna")), 403, "carmaker_consent_denied")
    first = world.ok(world.post("anna", "/v1/vehicle-consents", LINK), 201)
    second = world.ok(world.post("anna", "/v1/vehicle-consents", LINK), 201)
    code = parse_qs(urlsplit(_approve_at_maker(world, first)).query)["code"][0]
    other = parse_qs(urlsplit(_approve_at_maker(world, second)).query)["state"][0]
    crossed = f"/v1/vehicle-consents/callback?state={other}&code={code}"
    refused(world.client.get(crossed, headers=world.auth("anna")), 422, "consent_code_invalid")
    assert world.ok(world.get("anna", "/v1/vehicles"))["data"] == []


def test_expired_consent_blocks_checkout_until_the_owner_renews(world: World) -> None:
    """Two weeks before the end anna is warned; after it the car shows `consent_expired`,
    a booking is refused naming it and she is told; renewing through the maker's page
    gives a new 90-day term and the shop books again."""
    car = _link_through_maker(world)
    office = world.add_place()
    ends = datetime.fromisoformat(car["consent_expires_at"])
    world.until(ends - timedelta(days=13))
    world.until(ends + timedelta(minutes=1))

    expired = world.ok(world.get("anna", f"/v1/vehicles/{car['id']}"))
    assert expired["trunk_delivery_blockers"] == ["consent_expired"]
    body = refused(
        world.post("shop", "/v1/deliveries", _booking(world, car, office)),
        409,
        "vehicle_not_eligible",
    )
    assert body["blockers"] == ["consent_expired"]
    topics = [m["topic"] for m in world.ok(world.get("anna", "/v1/me/export"))["messages"]]
    assert topics.count("vehicle.consent_expiring") == 1
    assert topics.count("vehicle.consent_expired") == 1

    asked = world.ok(world.post("anna", f"/v1/vehicles/{car['id']}/consent-requests"), 201)
    renewed = world.ok(
        world.client.get(_approve_at_maker(world, asked), headers=world.auth("anna"))
    )

    assert renewed["id"] == car["id"] and renewed["trunk_delivery_blockers"] == []
    assert datetime.fromisoformat(renewed["consent_expires_at"]) == world.clock.now() + timedelta(
        days=90
    )
    world.ok(world.post("shop", "/v1/deliveries", _booking(world, car, office)), 201)


def test_direct_brands_renew_with_the_consent_endpoint(world: World) -> None:
    """A brand that confirms directly (and the MQTT car link) also expires; renewing it is
    the direct consent call, and the redirect flow is refused for it."""
    car = world.link_car()
    ends = datetime.fromisoformat(car["consent_expires_at"])
    refused(
        world.post("anna", f"/v1/vehicles/{car['id']}/consent-requests"),
        422,
        "consent_redirect_not_supported",
    )
    world.until(ends + timedelta(seconds=1))
    stale = world.ok(world.get("anna", f"/v1/vehicles/{car['id']}"))
    assert stale["trunk_delivery_blockers"] == ["consent_expired"]
    renewed = world.ok(world.post("anna", f"/v1/vehicles/{car['id']}/consent"))
    assert renewed["trunk_delivery_blockers"] == []
    assert datetime.fromisoformat(renewed["consent_expires_at"]) > world.clock.now()


def test_no_window_is_offered_or_booked_past_the_consents_end(world: World) -> None:
    """The day the consent ends (07:00, before the first window): checkout offers no trunk
    window for the car and says why, and a booking into that day is refused
    `consent_ends_before_window`; windows the day before are still offered."""
    car = world.link_car()
    office = world.add_place()
    ends = datetime.fromisoformat(car["consent_expires_at"])
    world.until(ends - timedelta(days=1))
    parcel = {k: v for k, v in world.parcel().items()}
    ask = {"customer_id": world.ids["anna"], "parcel": parcel}
    day_before = world.ok(world.post("shop", "/v1/checkout/options", {
        **ask, "date": (ends - timedelta(days=1)).date().isoformat()}))  # fmt: skip
    assert day_before["trunk_possible"] is True
    last_day = world.ok(world.post("shop", "/v1/checkout/options", {
        **ask, "date": ends.date().isoformat()}))  # fmt: skip
    assert last_day["trunk_possible"] is False
    assert "consent_ends_before_window" in [r["code"] for r in last_day["reasons"]]
    world.clock.set(ends - timedelta(hours=2))  # 05:00 that day: the windows lie after 07:00
    body = refused(
        world.post("shop", "/v1/deliveries", _booking(world, car, office)),
        409,
        "consent_ends_before_window",
    )
    assert datetime.fromisoformat(body["consent_expires_at"]) == ends
