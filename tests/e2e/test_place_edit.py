"""A customer edits a saved place; bookings already made keep their copy; nobody else can."""

from __future__ import annotations

from tests.support import World


def test_a_customer_edits_a_place_and_bookings_keep_their_copy(world: World) -> None:
    """anna moves her office place and renames it; the booking made before still shows the
    old place, her list the new one; ben gets 403 on it."""
    vehicle, office = world.link_car(), world.add_place()
    delivery = world.book(vehicle, [(office, 10, 12)])
    changed = world.ok(
        world.client.patch(
            f"/v1/places/{office['id']}",
            json={"label": "new office", "latitude": 48.1450, "parking_notes": "bay 3"},
            headers=world.auth("anna"),
        )
    )
    assert (changed["label"], changed["latitude"], changed["parking_notes"]) == (
        "new office", 48.1450, "bay 3"
    )  # fmt: skip
    [listed] = world.ok(world.get("anna", "/v1/places"))["data"]
    assert listed["latitude"] == 48.1450 and listed["longitude"] == office["longitude"]
    booked = world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))
    assert booked["itinerary"][0]["latitude"] == office["latitude"]
    other = world.client.patch(
        f"/v1/places/{office['id']}", json={"label": "mine"}, headers=world.auth("ben")
    )
    assert other.status_code == 403
    null = world.client.patch(
        f"/v1/places/{office['id']}", json={"label": None}, headers=world.auth("anna")
    )
    assert null.status_code == 422
