"""Unlinking a car ends access to it as a consent withdrawal does; only its owner can."""

from __future__ import annotations

from datetime import timedelta

from tests.security.common import (
    grant_status,
    offline_car_ready,
    offline_grant,
    present,
    trunk_open,
)
from tests.support import World
from trunkdrop.vehicles.models import Vehicle


def test_unlinking_a_car_kills_its_grant_and_its_delivery_falls_back(world: World) -> None:
    """anna unlinks the car a driver holds a live grant for: the grant is revoked and the
    car (offline) refuses it, the attempt failed, the delivery goes on to its fallback address; the car is gone from her
    list and can no longer be booked; once the grant expired its maker's id is forgotten,
    and linking it again makes a new link."""
    vehicle, delivery, attempt = offline_car_ready(world)
    granted = offline_grant(world, attempt["id"])
    assert grant_status(world, granted["grant_id"]) == "live"

    world.ok(world.delete("anna", f"/v1/vehicles/{vehicle['id']}"), 204)

    assert grant_status(world, granted["grant_id"]) == "revoked"
    world.tick(2)  # the revocation is pushed to the car under its maker's id
    verdict = present(world, vehicle, granted["grant_token"], world.handsets["driver"],
                      attempt["id"])  # fmt: skip
    assert verdict == "grant_revoked" and trunk_open(world, vehicle) is False
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "failed"
    after = world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))
    assert after["mode"] == "home" and after["status"] == "out_for_delivery"
    assert world.ok(world.get("anna", "/v1/vehicles"))["data"] == []
    assert world.get("anna", f"/v1/vehicles/{vehicle['id']}").status_code == 404
    office = world.add_place()
    body = {"customer_id": world.ids["anna"], "vehicle_id": vehicle["id"],
            "retailer_reference": "ORD-unlinked", "parcel": world.parcel(),
            "itinerary": [{"place_id": office["id"], "window_start": world.at(14).isoformat(),
                           "window_end": world.at(16).isoformat()}]}  # fmt: skip
    assert world.post("shop", "/v1/deliveries", body).status_code == 404
    world.until(world.clock.now() + timedelta(hours=1))  # the revoked grant has expired
    with world.platform.uow() as session:
        old = session.get(Vehicle, vehicle["id"])
        assert old is not None and old.external_id != vehicle["external_id"]
        assert old.plate == "erased"
    again = world.ok(world.post("anna", "/v1/vehicles", {
        k: vehicle[k] for k in ("brand", "external_id", "make", "model", "year", "plate",
                                "colour", "trunk_volume_l")}), 201)  # fmt: skip
    assert again["id"] != vehicle["id"], "linking it again makes a new link"
    assert again["plate"] == vehicle["plate"]


def test_another_customers_car_cannot_be_unlinked(world: World) -> None:
    """ben unlinking anna's car gets 404 (as for a car that does not exist); it stays linked."""
    vehicle = world.link_car()

    assert world.delete("ben", f"/v1/vehicles/{vehicle['id']}").status_code == 404
    listed = world.ok(world.get("anna", "/v1/vehicles"))["data"]
    assert [v["id"] for v in listed] == [vehicle["id"]]
