"""Returns collected from the trunk over HTTP: the shop's label, the customer's booking, the
driver's scan; collected only when the car reports closed and locked."""

from __future__ import annotations

from sqlalchemy import select

from tests.security.common import unlock_count
from tests.support import OFFICE, World
from trunkdrop.access.models import AuditEntry


def _timeline(world: World, delivery_id: str, who: str = "anna") -> list[str]:
    read = world.ok(world.get(who, f"/v1/deliveries/{delivery_id}"))
    return [t["kind"] for t in read["timeline"]]


def test_a_return_is_collected_from_the_trunk_only_once_the_car_is_locked(world: World) -> None:
    """Authorise, book, ready, access, scan the label, close: collected after the lock report,
    the stop marked a pickup, and the shop sees the return collected."""
    vehicle, pickup, stop = world.at_the_pickup()
    assert (stop["purpose"], stop["parcel_ref"]) == ("return", pickup["parcel_ref"])
    assert stop["load"] == "pickup"
    assert pickup["purpose"] == "return" and pickup["parcel_ready_at"] is not None
    label = pickup["return"]["code_payload"]
    attempt = world.ok(world.start_attempt(stop), 201)
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(20)
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "trunk_open"
    deposit = world.post("driver", f"/v1/attempts/{attempt['id']}/deposit")
    assert (deposit.status_code, deposit.json()["code"]) == (409, "not_a_delivery")
    taken = world.ok(
        world.post("driver", f"/v1/attempts/{attempt['id']}/collect", {"scanned_label": label})
    )
    assert taken["status"] == "deposited"
    read = world.ok(world.get("shop", f"/v1/deliveries/{pickup['id']}"))
    assert read["status"] == "out_for_delivery", "taking it out alone must not finish the pickup"
    world.close_trunk(vehicle)
    read = world.ok(world.get("shop", f"/v1/deliveries/{pickup['id']}"))
    assert (read["status"], read["outcome"]) == ("collected", "collected_trunk")
    kinds = _timeline(world, pickup["id"])
    assert kinds.index("collected_from_trunk") < kinds.index("locked") < kinds.index("collected")
    returned = world.ok(world.get("shop", f"/v1/returns/{pickup['return']['id']}"))
    assert returned["status"] == "collected"
    feed = world.ok(world.get("shop", "/v1/events"))["data"]
    assert {"return.authorised", "delivery.collected"} <= {e["type"] for e in feed}
    assert world.ok(world.get("operator", "/v1/audit/verify"))["ok"] is True


def test_a_wrong_label_leaves_the_parcel_and_the_trunk_relocks(world: World) -> None:
    """Scanning another label fails the attempt with label_mismatch; the parcel stays, the
    trunk is locked again on the car's report, and the pickup ends not collected."""
    vehicle, pickup, attempt = world.open_for_pickup()
    wrong = world.post(
        "driver", f"/v1/attempts/{attempt['id']}/collect", {"scanned_label": "TDR000000000000"}
    )
    assert wrong.status_code == 409
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["code"] == "label_mismatch"
    att = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (att["status"], att["failure_reason"]) == ("failed", "label_mismatch")
    world.close_trunk(vehicle)
    car = world.platform.simulator.car(vehicle["brand"], vehicle["external_id"])
    assert car.locked is True and car.trunk_open is False
    att = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert att["secured_at"] is not None, "the car's lock report must be matched to the attempt"
    read = world.ok(world.get("shop", f"/v1/deliveries/{pickup['id']}"))
    assert (read["status"], read["outcome_reason"]) == ("not_collected", "label_mismatch")
    assert "not_collected" in _timeline(world, pickup["id"])


def test_an_empty_trunk_ends_the_pickup_with_nothing_to_collect(world: World) -> None:
    """The driver finds nothing in the open trunk: nothing_to_collect, recorded, not collected."""
    vehicle, pickup, attempt = world.open_for_pickup()
    failed = world.ok(
        world.post("driver", f"/v1/attempts/{attempt['id']}/fail", {"reason": "nothing_to_collect"})
    )
    assert (failed["status"], failed["failure_reason"]) == ("failed", "nothing_to_collect")
    world.close_trunk(vehicle)
    read = world.ok(world.get("anna", f"/v1/deliveries/{pickup['id']}"))
    assert (read["status"], read["outcome_reason"]) == ("not_collected", "nothing_to_collect")


def test_a_pickup_never_said_ready_is_not_opened(world: World) -> None:
    """Without the customer's word that the parcel is in the trunk no grant is issued: the
    attempt fails with nothing_to_collect and no unlock is sent."""
    _vehicle, pickup, stop = world.at_the_pickup(ready=False)
    attempt = world.ok(world.start_attempt(stop), 201)
    refused = world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1]))
    assert (refused.status_code, refused.json()["code"]) == (409, "nothing_to_collect")
    read = world.ok(world.get("anna", f"/v1/deliveries/{pickup['id']}"))
    assert unlock_count(world, attempt["id"]) == 0
    assert read["status"] == "not_collected"


def test_a_delivery_cannot_be_failed_as_nothing_to_collect(world: World) -> None:
    """nothing_to_collect is a pickup's reason: a delivery's driver gets a 422 naming it."""
    _vehicle, _delivery, attempt = world.ready_at_car()
    wrong = world.post(
        "driver", f"/v1/attempts/{attempt['id']}/fail", {"reason": "nothing_to_collect"}
    )
    assert (wrong.status_code, wrong.json()["field"]) == (422, "reason")


def test_only_the_returns_customer_books_its_pickup_and_only_once(world: World) -> None:
    """Another customer cannot book a return's pickup; a second booking is a conflict."""
    vehicle = world.link_car()
    office = world.add_place()
    pickup = world.book_pickup(vehicle, [(office, 10, 12)])
    ret = pickup["return"]
    body = {
        "vehicle_id": vehicle["id"],
        "itinerary": [
            {
                "place_id": office["id"],
                "window_start": world.at(14).isoformat(),
                "window_end": world.at(16).isoformat(),
            }
        ],
    }
    assert world.post("ben", f"/v1/returns/{ret['id']}/pickup", body).status_code == 403
    again = world.post("anna", f"/v1/returns/{ret['id']}/pickup", body)
    assert (again.status_code, again.json()["code"]) == (409, "pickup_already_booked")
    mine = world.ok(world.get("anna", "/v1/returns"))
    assert [r["id"] for r in mine["data"]] == [ret["id"]] and mine["has_more"] is False
    assert world.ok(world.get("ben", "/v1/returns"))["data"] == []


def test_the_parcel_is_scanned_again_at_the_trunk(world: World) -> None:
    """Deposit with another parcel's reference is refused parcel_mismatch and audited; the
    attempt stays open and the booked parcel is then accepted and on the timeline."""
    _vehicle, delivery, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(20)
    path = f"/v1/attempts/{attempt['id']}/deposit"
    wrong = world.post("driver", path, {"scanned_parcel_ref": "PCL-NOT-MINE"})
    assert (wrong.status_code, wrong.json()["code"]) == (409, "parcel_mismatch")
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "trunk_open"
    with world.platform.uow() as s:
        refusals = s.scalars(
            select(AuditEntry.data).where(AuditEntry.action == "attempt.refused")
        ).all()
    assert [r.get("reason") for r in refusals] == ["parcel_mismatch"]
    done = world.ok(world.post("driver", path, {"scanned_parcel_ref": delivery["parcel_ref"]}))
    assert done["status"] == "deposited"
    read = world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))
    assert "parcel scanned and placed in the trunk" in [t["text"] for t in read["timeline"]]
