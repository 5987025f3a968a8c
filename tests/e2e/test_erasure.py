"""A customer's erasure (GDPR art. 17): none of their personal records are left, the audit
chain still verifies, and it is refused while a driver is on the way."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import MetaData, select

from tests.support import World
from trunkdrop.access import audit
from trunkdrop.events.models import LoggedEvent

NAME, EMAIL = "Zelda Quistorp", "zelda.quistorp@example.org"
GARAGE, GARDEN = (48.14461, 11.57313), (48.13377, 11.55829)


def _traces(world: World, words: set[str], numbers: set[float]) -> list[str]:
    """Every table.column holding one of `words` (in any text or JSON) or `numbers`."""
    hits = []
    tables = MetaData()
    tables.reflect(world.platform.engine)
    with world.platform.engine.connect() as connection:
        for table in tables.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                for column, value in row.items():
                    if isinstance(value, float) and any(abs(value - n) < 1e-9 for n in numbers):
                        hits.append(f"{table}.{column}")
                    elif isinstance(value, str | dict | list):
                        raw = value if isinstance(value, str) else json.dumps(value)
                        if any(w.lower() in raw.lower() for w in words) or any(
                            repr(n) in raw for n in numbers
                        ):
                            hits.append(f"{table}.{column}")
    return hits


def _customer(world: World) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    world.add_party("customer", NAME)
    world.ok(world.client.patch("/v1/me", json={"email": EMAIL}, headers=world.auth(NAME)))
    vehicle = world.link_car(NAME)
    places = [
        world.add_place(NAME, label="Quistorp garage", where=GARAGE),
        world.add_place(NAME, label="Quistorp garden", where=GARDEN),
    ]
    return vehicle, places


def test_erasure_leaves_none_of_the_customers_records_and_the_chain_verifies(
    world: World,
) -> None:
    """Zelda's name, e-mail, plate, VIN, place labels, addresses and coordinates are nowhere
    in the database after `DELETE /v1/me` (they were before); her booking is cancelled (the
    shop sees it), her key is dead, and the audit chain verifies."""
    vehicle, (garage, garden) = _customer(world)
    delivery = world.book(vehicle, [(garage, 10, 12), (garden, 13, 15)], who=NAME)
    world.ok(world.get(NAME, "/v1/me/export"))
    words = {NAME, EMAIL, vehicle["plate"], vehicle["external_id"], "Quistorp"}
    numbers = {*GARAGE, *GARDEN}
    assert _traces(world, words, numbers), "the scan must see the records before erasure"

    erased = world.ok(world.delete(NAME, "/v1/me"))

    assert erased["deliveries_cancelled"] == 1 and erased["places"] == 2
    assert _traces(world, words, numbers) == []
    assert world.get(NAME, "/v1/me").status_code == 401
    seen = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert seen["status"] == "cancelled"
    with world.platform.uow() as session:
        cancelled = session.scalars(
            select(LoggedEvent.party_ids).where(
                LoggedEvent.kind == "delivery.cancelled", LoggedEvent.delivery_id == delivery["id"]
            )
        ).one()
        assert {world.ids["shop"], world.ids["carrier"]} <= set(cancelled)
        report = audit.verify(session=session)
    assert report.problems == [], report.problems


def test_erasure_is_refused_while_a_delivery_is_out_for_delivery(world: World) -> None:
    """A driver on the way to anna's car: 409 `delivery_in_progress`, and nothing erased."""
    vehicle, delivery, _ = world.ready_at_car()

    refused = world.delete("anna", "/v1/me")

    assert refused.status_code == 409
    assert refused.json()["code"] == "delivery_in_progress"
    assert world.ok(world.get("anna", "/v1/me"))["name"] == "anna"
    assert world.ok(world.get("anna", f"/v1/vehicles/{vehicle['id']}"))["plate"] == vehicle["plate"]
    assert world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))["status"] == (
        "out_for_delivery"
    )


RECIPIENT, RECIPIENT_ADDRESS = "Eberhard Wunderlich", "Kaulbachstr. 77, 80539 Muenchen"
RETURN_WHY = "Quistorp: the sleeves are too short"


def test_erasure_covers_returns_and_sends(world: World) -> None:
    """Zelda's send (recipient's name and address) and her return (the reason in her words)
    are in the database and her export, and nowhere after `DELETE /v1/me`; the shop still
    finds its return authorisation by id, and the audit chain verifies."""
    vehicle, (garage, _) = _customer(world)
    send = world.ok(
        world.post(NAME, "/v1/sends", {
            "kind": "letter",
            "parcel": {"length_cm": 22, "width_cm": 11, "height_cm": 1, "weight_g": 20,
                       "declared_value_cents": 0},
            "recipient": {"name": RECIPIENT, "address": RECIPIENT_ADDRESS},
        }),
        201,
    )  # fmt: skip
    item = {k: v for k, v in world.parcel().items() if k != "reference"}
    authorised = world.ok(
        world.post("shop", "/v1/returns", {"customer_id": world.ids[NAME],
                   "order_ref": "ORD-Q-1", "reason": RETURN_WHY, "parcel": item}),
        201,
    )  # fmt: skip
    pickup = {"vehicle_id": vehicle["id"], "itinerary": [{"place_id": garage["id"],
              "window_start": world.at(14).isoformat(), "window_end": world.at(16).isoformat()}]}  # fmt: skip
    world.ok(world.post(NAME, f"/v1/sends/{send['id']}/pickup", pickup), 201)
    export = world.ok(world.get(NAME, "/v1/me/export"))
    assert [(s["recipient_name"], s["recipient_address"]) for s in export["sends"]] == [
        (RECIPIENT, RECIPIENT_ADDRESS)
    ]
    assert [r["reason"] for r in export["returns"]] == [RETURN_WHY]
    words = {RECIPIENT, RECIPIENT_ADDRESS, "Wunderlich", "sleeves are too short"}
    assert set(_traces(world, words, set())) >= {
        "sends.recipient_name",
        "return_authorisations.reason",
    }

    erased = world.ok(world.delete(NAME, "/v1/me"))

    assert erased["sends"] == 1 and erased["returns"] == 1
    assert _traces(world, words, set()) == []
    kept = world.ok(world.get("shop", f"/v1/returns/{authorised['id']}"))
    assert kept["order_ref"] == "ORD-Q-1" and kept["reason"] == "erased"
    with world.platform.uow() as session:
        report = audit.verify(session=session)
    assert report.problems == [], report.problems


def test_erasure_drops_open_consent_requests_at_the_car_maker(world: World) -> None:
    """A car maker consent request Zelda started (it holds the plate and VIN she typed)
    is gone after erasure."""
    world.add_party("customer", NAME)
    link = {"brand": "sim-fjord", "external_id": "FJORDQUISTORP001", "make": "Fjord",
            "model": "Tourer", "year": 2024, "plate": "M-QU 77", "colour": "grey",
            "trunk_volume_l": 480}  # fmt: skip
    world.ok(world.post(NAME, "/v1/vehicle-consents", link), 201)
    assert _traces(world, {"M-QU 77", "FJORDQUISTORP001"}, set())

    world.ok(world.delete(NAME, "/v1/me"))

    assert _traces(world, {"M-QU 77", "FJORDQUISTORP001"}, set()) == []
