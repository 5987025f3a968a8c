"""A customer's export (GDPR art. 15, 20) holds every personal record made for them."""

from __future__ import annotations

from tests.support import World


def test_the_export_holds_every_record_the_customer_has(world: World) -> None:
    """Car, places, the shop's consent, the delivery with its timeline and the messages to
    anna are all in her export; nothing of ben's is."""
    vehicle = world.link_car()
    office, home = world.add_place(), world.add_place(label="home")
    delivery = world.book(vehicle, [(office, 10, 12)])
    world.link_car("ben")
    world.add_place("ben", label="ben's")

    export = world.ok(world.get("anna", "/v1/me/export"))

    assert export["party"]["id"] == world.ids["anna"]
    assert [v["id"] for v in export["vehicles"]] == [vehicle["id"]]
    assert {p["id"] for p in export["places"]} == {office["id"], home["id"]}
    [consent] = export["consents"]
    assert consent["retailer_id"] == world.ids["shop"]
    [exported] = export["deliveries"]
    assert exported["id"] == delivery["id"] and exported["timeline"]
    assert any(m["delivery_id"] == delivery["id"] for m in export["messages"])
