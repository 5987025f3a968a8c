"""A letter sent from the car over HTTP: postage bought from the price list and paid
through the payment port, its label as PNG and PDF, the pickup collected from the trunk."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from tests.support import OFFICE, World
from trunkdrop.payments.fake import FakePayments

LETTER = {
    "length_cm": 22,
    "width_cm": 11,
    "height_cm": 1,
    "weight_g": 20,
    "declared_value_cents": 0,
}
RECIPIENT = {"name": "Max Muster", "address": "Hauptstr. 1, 80331 Munich"}


def _buy(world: World, **over: Any) -> Any:
    body = {"kind": "letter", "parcel": LETTER, "recipient": RECIPIENT, **over}
    return world.post("anna", "/v1/sends", body)


def test_a_letter_is_sent_from_the_car(world: World) -> None:
    """Buy postage (95 cents, paid), fetch the label, book the pickup, say it is in the
    trunk; the driver scans the label's code, takes it out; collected on the car's lock."""
    sent = world.ok(_buy(world), 201)
    assert (sent["postage_class"], sent["amount_cents"], sent["paid"]) == ("letter", 95, True)
    payments = world.platform.payments
    assert isinstance(payments, FakePayments)
    paid = payments.payments[sent["payment_id"]]
    assert (paid.reference, paid.amount_cents, paid.paid) == (sent["id"], 95, True)
    png = world.get("anna", sent["label_png"])
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (600, 400)
    pdf = world.get("anna", sent["label_pdf"])
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert world.get("ben", sent["label_png"]).status_code == 403

    vehicle = world.link_car()
    office = world.add_place()
    itinerary = [
        {
            "place_id": office["id"],
            "window_start": world.at(10).isoformat(),
            "window_end": world.at(12).isoformat(),
        }
    ]
    body = {"vehicle_id": vehicle["id"], "itinerary": itinerary}
    booked = world.ok(world.post("anna", f"/v1/sends/{sent['id']}/pickup", body), 201)
    world.ok(world.post("anna", f"/v1/sends/{sent['id']}/ready"))
    pickup = world.ok(world.get("anna", f"/v1/deliveries/{booked['delivery_id']}"))
    assert (pickup["purpose"], pickup["parcel_ref"]) == ("send", sent["tracking_number"])
    world.route(pickup)
    world.park(vehicle, OFFICE)
    world.until(world.at(10, 15))
    stop = world.next_stop()
    assert (stop["purpose"], stop["load"]) == ("send", "pickup")
    attempt = world.ok(world.start_attempt(stop), 201)
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(20)
    world.ok(
        world.post(
            "driver",
            f"/v1/attempts/{attempt['id']}/collect",
            {"scanned_label": sent["code_payload"]},
        )
    )
    world.close_trunk(vehicle)
    assert world.ok(world.get("anna", f"/v1/sends/{sent['id']}"))["status"] == "collected"


def test_an_item_no_class_takes_is_refused_by_field(world: World) -> None:
    """A 5 kg 'letter': 422 no_postage_class naming the parcel; nothing is charged."""
    response = _buy(world, parcel={**LETTER, "weight_g": 5_000})
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("no_postage_class", "parcel")
    payments = world.platform.payments
    assert isinstance(payments, FakePayments) and payments.payments == {}


def test_a_declined_payment_buys_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The payment port declines: 409 payment_declined and no send is kept."""
    monkeypatch.setattr(world.platform, "payments", FakePayments(decline=True))
    response = _buy(world)
    assert (response.status_code, response.json()["code"]) == (409, "payment_declined")
    assert world.ok(world.get("anna", "/v1/sends"))["data"] == []
