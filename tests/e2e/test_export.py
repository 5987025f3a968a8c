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


def test_the_export_holds_returns_and_sends(world: World) -> None:
    """anna's return (with her reason) and send (with its recipient) are in her export;
    ben's send is not."""
    letter = {
        "kind": "letter",
        "parcel": {"length_cm": 22, "width_cm": 11, "height_cm": 1, "weight_g": 20,
                   "declared_value_cents": 0},
        "recipient": {"name": "Max Muster", "address": "Hauptstr. 1"},
    }  # fmt: skip
    send = world.ok(world.post("anna", "/v1/sends", letter), 201)
    world.ok(world.post("ben", "/v1/sends", letter), 201)
    authorised = world.authorise_return()

    export = world.ok(world.get("anna", "/v1/me/export"))

    [exported_send] = export["sends"]
    assert exported_send["id"] == send["id"]
    assert exported_send["recipient_name"] == "Max Muster"
    assert exported_send["recipient_address"] == "Hauptstr. 1"
    [exported_return] = export["returns"]
    assert exported_return["id"] == authorised["id"] and exported_return["reason"] == "wrong size"
