"""Each party sees and does only what it may, over HTTP with its own key; every refusal is
a problem+json answer with a stable code, and a refused action leaves no trace in the state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from httpx import Response
from sqlalchemy import func, select

from tests.support import OFFICE, World
from trunkdrop.vehicles.models import Vehicle, VehicleCommand, VehicleEvent

NEAR = (OFFICE[0] + 0.0001, OFFICE[1])  # ~11 m from the parked car
FAR = (OFFICE[0] + 0.01, OFFICE[1])  # ~1.1 km from it


def refused(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert a problem+json refusal with this status (and code) and return its body."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body


def attempt_status(world: World, attempt_id: str) -> str:
    status: str = world.ok(world.get("driver", f"/v1/attempts/{attempt_id}"))["status"]
    return status


def unlock_commands(world: World, attempt_id: str) -> list[VehicleCommand]:
    with world.platform.uow() as session:
        commands = list(
            session.scalars(
                select(VehicleCommand).where(
                    VehicleCommand.attempt_id == attempt_id, VehicleCommand.kind == "unlock_trunk"
                )
            )
        )
        session.expunge_all()
        return commands


def trunk_open(world: World, vehicle: dict[str, Any]) -> bool:
    return world.platform.simulator.car(vehicle["brand"], vehicle["external_id"]).trunk_open


# -- customers --------------------------------------------------------------------------------
def test_customer_cannot_read_or_switch_another_customers_car(world: World) -> None:
    """Ben gets 403 reading Anna's car and cannot block it or withdraw its consent."""
    car = world.link_car("anna")
    refused(world.get("ben", f"/v1/vehicles/{car['id']}"), 403, "forbidden")
    refused(world.post("ben", f"/v1/vehicles/{car['id']}/block"), 403, "forbidden")
    refused(world.delete("ben", f"/v1/vehicles/{car['id']}/consent"), 403, "forbidden")
    assert world.ok(world.get("ben", "/v1/vehicles"))["data"] == []
    mine = world.ok(world.get("anna", f"/v1/vehicles/{car['id']}"))
    assert mine["access_blocked"] is False
    assert "trunk_access" in mine["consent_scopes"]


def test_customer_cannot_read_another_customers_delivery_or_place(world: World) -> None:
    """Ben gets 403 on Anna's delivery and place, and his delivery list does not show hers."""
    car = world.link_car("anna")
    office = world.add_place("anna")
    delivery = world.book(car, [(office, 10, 12)])
    refused(world.get("ben", f"/v1/deliveries/{delivery['id']}"), 403, "forbidden")
    refused(world.delete("ben", f"/v1/places/{office['id']}"), 403, "forbidden")
    assert world.ok(world.get("ben", "/v1/deliveries"))["data"] == []
    assert [d["id"] for d in world.ok(world.get("anna", "/v1/deliveries"))["data"]] == [
        delivery["id"]
    ]
    assert [p["id"] for p in world.ok(world.get("anna", "/v1/places"))["data"]] == [office["id"]]


# -- retailers -------------------------------------------------------------------------------
def test_retailer_cannot_read_or_cancel_another_retailers_delivery(world: World) -> None:
    """The other shop gets 403 reading or cancelling this shop's delivery, which stays booked."""
    car = world.link_car()
    delivery = world.book(car, [(world.add_place(), 10, 12)], shop="shop")
    refused(world.get("other-shop", f"/v1/deliveries/{delivery['id']}"), 403, "forbidden")
    refused(world.post("other-shop", f"/v1/deliveries/{delivery['id']}/cancel"), 403, "forbidden")
    assert world.ok(world.get("other-shop", "/v1/deliveries"))["data"] == []
    assert world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))["status"] == "booked"


def test_booking_another_customers_car_or_place_is_not_found_alike(world: World) -> None:
    """Naming Anna's car or place in Ben's booking answers 404, as an id that never existed."""
    anna_car, anna_place = world.link_car("anna"), world.add_place("anna")
    ben_car, ben_place = world.link_car("ben"), world.add_place("ben")

    def booking(car_id: str, place_id: str) -> Response:
        body = {
            "customer_id": world.ids["ben"],
            "vehicle_id": car_id,
            "retailer_reference": f"ORD-{car_id}-{place_id}",
            "parcel": world.parcel(),
            "itinerary": [
                {
                    "place_id": place_id,
                    "window_start": world.at(10).isoformat(),
                    "window_end": world.at(12).isoformat(),
                }
            ],
        }
        return world.post("shop", "/v1/deliveries", body)

    answers = [
        refused(booking(anna_car["id"], ben_place["id"]), 404, "not_found"),
        refused(booking("veh_00000000000000000000", ben_place["id"]), 404, "not_found"),
        refused(booking(ben_car["id"], anna_place["id"]), 404, "not_found"),
        refused(booking(ben_car["id"], "plc_00000000000000000000"), 404, "not_found"),
    ]
    assert [a["field"] for a in answers] == ["vehicle_id"] * 2 + ["itinerary[0].place_id"] * 2
    world.ok(booking(ben_car["id"], ben_place["id"]), 201)


def test_carrier_cannot_route_another_carriers_delivery(world: World) -> None:
    """Another carrier can neither read this carrier's delivery nor put it on its route."""
    car = world.link_car()
    delivery = world.book(car, [(world.add_place(), 10, 12)])
    refused(world.get("other-carrier", f"/v1/deliveries/{delivery['id']}"), 403, "forbidden")
    refused(
        world.post(
            "other-carrier",
            "/v1/routes",
            {
                "driver_id": world.ids["driver"],
                "service_date": world.at(0).date().isoformat(),
                "delivery_ids": [delivery["id"]],
            },
        ),
        403,
        "forbidden",
    )
    assert world.ok(world.get("other-carrier", "/v1/routes"))["data"] == []


# -- drivers ---------------------------------------------------------------------------------
def test_driver_cannot_use_another_drivers_attempt(world: World) -> None:
    """Driver 2 gets 403 reading, opening or confirming driver 1's attempt; nothing changes."""
    vehicle, _, attempt = world.ready_at_car()
    refused(world.get("driver2", f"/v1/attempts/{attempt['id']}"), 403, "forbidden")
    refused(world.request_access(attempt["id"], NEAR, driver="driver2"), 403, "forbidden")
    refused(world.post("driver2", f"/v1/attempts/{attempt['id']}/deposit"), 403, "forbidden")
    refused(
        world.post("driver2", f"/v1/attempts/{attempt['id']}/fail", {"reason": "other"}),
        403,
        "forbidden",
    )
    assert attempt_status(world, attempt["id"]) == "started"
    assert unlock_commands(world, attempt["id"]) == []
    world.tick(20)
    assert trunk_open(world, vehicle) is False


def test_driver_cannot_start_an_attempt_on_another_drivers_route(world: World) -> None:
    """Driver 2 gets 403 starting an attempt at a stop of driver 1's route, and sees no stops."""
    vehicle = world.link_car()
    delivery = world.book(vehicle, [(world.add_place(), 10, 12)])
    world.route(delivery, driver="driver")
    world.park(vehicle, OFFICE)
    world.until(world.at(10, 15))
    stop = world.next_stop("driver")
    refused(world.start_attempt(stop, driver="driver2"), 403, "forbidden")
    assert world.ok(world.get("driver2", "/v1/stops"))["data"] == []
    refused(world.get("driver2", f"/v1/routes/{stop['route_id']}"), 403, "forbidden")
    refused(world.get("driver2", f"/v1/deliveries/{delivery['id']}"), 403, "forbidden")
    assert world.next_stop("driver")["attempt_id"] is None


def test_only_the_next_stop_starts_when_two_routes_are_started(world: World) -> None:
    """With two routes started, the first stop of the second route is refused stop_not_open until the first route is done."""
    vehicle = world.link_car()
    first = world.book(vehicle, [(world.add_place(), 10, 12)])
    second = world.book(vehicle, [(world.add_place(), 10, 12)])
    world.route(first)
    world.route(second)
    world.park(vehicle, OFFICE)
    world.until(world.at(10, 15))
    stops = world.ok(world.get("driver", "/v1/stops"))["data"]
    later = next(s for s in stops if not s["is_next"])
    assert later["delivery_id"] == second["id"]
    refused(world.start_attempt(later), 409, "stop_not_open")
    assert world.start_attempt(world.next_stop()).status_code == 201


# -- the access rules --------------------------------------------------------------------------
def test_access_before_the_window_is_refused_and_the_attempt_stays_open(world: World) -> None:
    """Asking at 09:30 for a 10–12 window: 409 outside_window, the attempt is still started."""
    _, _, attempt = world.ready_at_car(at_hour=9, minute=30)
    body = refused(world.request_access(attempt["id"], NEAR), 409, "outside_window")
    assert body["attempt_status"] == "started"
    assert attempt_status(world, attempt["id"]) == "started"
    assert unlock_commands(world, attempt["id"]) == []
    world.until(world.at(10, 1))
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    assert len(unlock_commands(world, attempt["id"])) == 1


def test_access_after_the_window_is_refused_and_the_attempt_fails(world: World) -> None:
    """Asking at 12:05 for a 10–12 window: 409 outside_window, the attempt fails for good."""
    vehicle, delivery, attempt = world.ready_at_car(at_hour=12, minute=5)
    refused(world.request_access(attempt["id"], NEAR), 409, "outside_window")
    att = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (att["status"], att["failure_reason"]) == ("failed", "outside_window")
    assert unlock_commands(world, attempt["id"]) == []
    again = refused(world.request_access(attempt["id"], NEAR), 409, "outside_window")
    assert again["attempt_status"] == "failed"
    assert unlock_commands(world, attempt["id"]) == []
    world.tick(20)
    assert trunk_open(world, vehicle) is False
    read = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert read["attempts"][0]["failure_reason"] == "outside_window"


def test_second_access_request_is_refused_and_only_one_unlock_exists(world: World) -> None:
    """A repeated access request: 409 access_already_requested, still exactly one unlock command."""
    _, _, attempt = world.ready_at_car()
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    refused(world.request_access(attempt["id"], NEAR), 409, "access_already_requested")
    commands = unlock_commands(world, attempt["id"])
    assert [c.id for c in commands] == [granted["command_id"]]
    world.tick(20)
    refused(world.request_access(attempt["id"], NEAR), 409, "access_already_requested")
    assert len(unlock_commands(world, attempt["id"])) == 1


def test_driver_too_far_from_the_car_is_refused_until_close(world: World) -> None:
    """A driver 1 km from the car: 409 driver_not_at_vehicle, attempt still started; close by: 202."""
    _, _, attempt = world.ready_at_car()
    body = refused(world.request_access(attempt["id"], FAR), 409, "driver_not_at_vehicle")
    assert body["attempt_status"] == "started"
    assert attempt_status(world, attempt["id"]) == "started"
    assert unlock_commands(world, attempt["id"]) == []
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    assert granted["attempt"]["status"] == "unlocking"
    assert len(unlock_commands(world, attempt["id"])) == 1


def test_owner_blocking_before_access_refuses_it(world: World) -> None:
    """The owner blocks while the driver is at the car: access refused with access_blocked."""
    vehicle, _, attempt = world.ready_at_car()
    blocked = world.ok(world.post("anna", f"/v1/vehicles/{vehicle['id']}/block"))
    assert blocked["access_blocked"] is True
    body = refused(world.request_access(attempt["id"], NEAR), 409, "access_blocked")
    assert body["code"] == "access_blocked"
    att = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (att["status"], att["failure_reason"]) == ("failed", "access_blocked")
    assert unlock_commands(world, attempt["id"]) == []
    world.tick(30)
    assert trunk_open(world, vehicle) is False


def test_owner_blocking_after_the_grant_drops_the_unlock(world: World) -> None:
    """Blocking after the grant: the pending unlock is dropped and the trunk never opens."""
    vehicle, _, attempt = world.ready_at_car()
    granted = world.ok(world.request_access(attempt["id"], NEAR), 202)
    world.ok(world.post("anna", f"/v1/vehicles/{vehicle['id']}/block"))
    [command] = unlock_commands(world, attempt["id"])
    assert command.id == granted["command_id"]
    assert command.status == "dropped"
    world.tick(60)
    assert trunk_open(world, vehicle) is False
    att = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (att["status"], att["failure_reason"]) == ("failed", "access_blocked")
    assert att["trunk_opened_at"] is None


def test_owner_blocking_after_the_unlock_was_sent_relocks_at_once(world: World) -> None:
    """Blocking after the unlock left for the car: when the trunk opens anyway, trunkdrop locks it
    again at once and opens an incident (the car-side check of issue 4 keeps it shut)."""
    vehicle, _, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    world.tick(2)
    assert [c.status for c in unlock_commands(world, attempt["id"])] == ["sent"]
    world.ok(world.post("anna", f"/v1/vehicles/{vehicle['id']}/block"))
    world.tick(60)
    assert trunk_open(world, vehicle) is False
    car = world.platform.simulator.car(vehicle["brand"], vehicle["external_id"])
    assert car.locked is True
    incidents = world.ok(world.get("operator", "/v1/incidents"))["data"]
    assert "unexpected_trunk_open" in [i["kind"] for i in incidents]


def test_scanned_parcel_must_be_the_booked_one(world: World) -> None:
    """Scanning another parcel: 409 parcel_mismatch naming the field, and no attempt is created."""
    _, _, stop = world.at_the_stop()
    wrong = {**stop, "parcel_ref": "PCL-NOT-THIS-ONE"}
    body = refused(world.start_attempt(wrong), 409, "parcel_mismatch")
    assert body["field"] == "scanned_parcel_ref"
    assert world.next_stop()["attempt_id"] is None
    assert world.ok(world.start_attempt(stop), 201)["status"] == "started"


# -- cancelling --------------------------------------------------------------------------------
def test_cancel_is_refused_once_out_for_delivery(world: World) -> None:
    """A delivery out for delivery cannot be cancelled (409); a booked one can (200, cancelled)."""
    car = world.link_car()
    office = world.add_place()
    out = world.book(car, [(office, 10, 12)])
    booked = world.book(car, [(office, 14, 16)])
    world.route(out)
    refused(world.post("shop", f"/v1/deliveries/{out['id']}/cancel"), 409)
    assert (
        world.ok(world.get("shop", f"/v1/deliveries/{out['id']}"))["status"] == "out_for_delivery"
    )
    refused(world.post("anna", f"/v1/deliveries/{booked['id']}/cancel"), 403, "forbidden")
    cancelled = world.ok(world.post("shop", f"/v1/deliveries/{booked['id']}/cancel"))
    assert (cancelled["status"], cancelled["outcome"]) == ("cancelled", "cancelled")
    assert world.ok(world.get("anna", f"/v1/deliveries/{booked['id']}"))["status"] == "cancelled"
    refused(world.post("shop", f"/v1/deliveries/{booked['id']}/cancel"), 409)


# -- roles and keys ----------------------------------------------------------------------------
WRONG_ROLE = [
    ("anna", "POST", "/v1/checkout/options"),
    ("anna", "POST", "/v1/deliveries"),
    ("shop", "POST", "/v1/vehicles"),
    ("shop", "POST", "/v1/places"),
    ("driver", "POST", "/v1/routes"),
    ("driver", "POST", "/v1/service-areas"),
    ("carrier", "POST", "/v1/stops/stp_x/attempts"),
    ("carrier", "POST", "/v1/attempts/att_x/access"),
    ("anna", "POST", "/v1/vehicle-events"),
    ("driver", "GET", "/v1/incidents"),
    ("shop", "GET", "/v1/audit/verify"),
    ("carrier", "POST", "/v1/sim/vehicles/veh_x"),
    ("anna", "GET", "/v1/routes"),
    ("aurora-cloud", "GET", "/v1/vehicles"),
]


def test_wrong_role_is_forbidden(world: World) -> None:
    """A valid key of the wrong role gets 403 forbidden, before the body is even looked at."""
    for who, method, path in WRONG_ROLE:
        response = world.client.request(method, path, headers=world.auth(who), json={})
        assert response.status_code == 403, (who, method, path, response.text)
        refused(response, 403, "forbidden")
    with world.platform.uow() as session:
        assert session.scalar(select(func.count()).select_from(Vehicle)) == 0


BAD_KEYS: list[dict[str, str]] = [
    {},
    {"Authorization": "Bearer td_cust_not-a-real-key"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer " + "x" * 10_000},
]


def test_missing_or_unknown_key_is_unauthenticated(world: World) -> None:
    """No key, an unknown key, or another scheme: 401 with a Bearer challenge, nothing done."""
    car = world.link_car()
    for headers in BAD_KEYS:
        for method, path in [
            ("GET", "/v1/me"),
            ("GET", f"/v1/vehicles/{car['id']}"),
            ("POST", f"/v1/vehicles/{car['id']}/block"),
            ("POST", "/v1/checkout/options"),
            ("GET", "/v1/attempts/att_x/events"),
        ]:
            response = world.client.request(method, path, headers=headers)
            assert response.status_code == 401, (headers.keys(), method, path, response.text)
            refused(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"] == "Bearer"
    assert world.ok(world.get("anna", f"/v1/vehicles/{car['id']}"))["access_blocked"] is False


def test_revoked_key_is_unauthenticated(world: World) -> None:
    """A key revoked in the store stops working at once."""
    from trunkdrop.parties.models import ApiKey

    world.ok(world.get("ben", "/v1/me"))
    with world.platform.uow() as session:
        for key in session.scalars(select(ApiKey).where(ApiKey.party_id == world.ids["ben"])):
            key.revoked_at = world.clock.now()
    refused(world.get("ben", "/v1/me"), 401, "unauthenticated")


# -- car makers --------------------------------------------------------------------------------
def event(
    vehicle: dict[str, Any], event_id: str, kind: str = "position", **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "vehicle_id": vehicle["external_id"],
        "type": kind,
        "occurred_at": "2026-12-01T05:30:00+00:00",  # before the clock: a report made earlier
        **extra,
    }


def test_carmaker_cannot_report_a_car_of_another_brand(world: World) -> None:
    """Aurora's cloud reporting a Borealis car: 404, and the car's state is untouched."""
    car = world.link_car(brand="sim-borealis")
    refused(
        world.post(
            "aurora-cloud", "/v1/vehicle-events", event(car, "ev-1", latitude=48.0, longitude=11.0)
        ),
        404,
        "not_found",
    )
    read = world.ok(world.get("anna", f"/v1/vehicles/{car['id']}"))
    assert read["latitude"] is None
    with world.platform.uow() as session:
        assert session.scalar(select(func.count()).select_from(VehicleEvent)) == 0


def test_duplicate_event_is_acknowledged_but_not_applied_twice(world: World) -> None:
    """The same event id twice: 202 both times, duplicate true the second, state changed once."""
    car = world.link_car()
    world.book(car, [(world.add_place(), 10, 12)])  # a delivery needs the car's position
    first = world.ok(
        world.post(
            "aurora-cloud", "/v1/vehicle-events", event(car, "ev-7", latitude=48.1, longitude=11.5)
        ),
        202,
    )
    assert first == {"event_id": "ev-7", "duplicate": False}
    again = world.ok(
        world.post(
            "aurora-cloud", "/v1/vehicle-events", event(car, "ev-7", latitude=48.2, longitude=11.6)
        ),
        202,
    )
    assert again == {"event_id": "ev-7", "duplicate": True}
    read = world.ok(world.get("anna", f"/v1/vehicles/{car['id']}"))
    assert (read["latitude"], read["longitude"]) == (48.1, 11.5)
    with world.platform.uow() as session:
        count = session.scalar(
            select(func.count()).select_from(VehicleEvent).where(VehicleEvent.event_id == "ev-7")
        )
        assert count == 1
        vehicle = session.get(Vehicle, car["id"])
        assert vehicle is not None
        assert vehicle.latitude == 48.1


# -- eligibility and item rules ----------------------------------------------------------------
def checkout(world: World, **parcel: Any) -> dict[str, Any]:
    result: dict[str, Any] = world.ok(
        world.post(
            "shop",
            "/v1/checkout/options",
            {
                "customer_id": world.ids["anna"],
                "date": world.at(0).date().isoformat(),
                "parcel": world.parcel(**parcel),
            },
        )
    )
    return result


def test_whole_car_unlock_brand_is_not_offered(world: World) -> None:
    """A Borealis car (whole-car unlock only): no trunk option, reason whole_car_unlock_only."""
    car = world.link_car(brand="sim-borealis")
    world.add_place()
    result = checkout(world)
    assert result["trunk_possible"] is False
    assert result["options"] == []
    codes = {(r["code"], r["vehicle_id"]) for r in result["reasons"]}
    assert ("whole_car_unlock_only", car["id"]) in codes
    office = world.ok(world.get("anna", "/v1/places"))["data"][0]
    body = {
        "customer_id": world.ids["anna"],
        "vehicle_id": car["id"],
        "retailer_reference": "ORD-BOREALIS",
        "parcel": world.parcel(),
        "itinerary": [
            {
                "place_id": office["id"],
                "window_start": world.at(10).isoformat(),
                "window_end": world.at(12).isoformat(),
            }
        ],
    }
    refused(world.post("shop", "/v1/deliveries", body), 409, "vehicle_not_eligible")


def test_a_capable_car_is_offered(world: World) -> None:
    """The control case: an Aurora car with a saved place gets trunk options."""
    world.link_car()
    world.add_place()
    result = checkout(world)
    assert result["trunk_possible"] is True
    assert result["options"]
    assert result["reasons"] == []


def test_checkout_offers_the_last_window_of_the_day_that_booking_takes(world: World) -> None:
    """08–21 in 2 h slots: checkout offers 20–21, and booking that very window is accepted."""
    car = world.link_car()
    world.add_place()
    options = checkout(world)["options"]
    last = max(options, key=lambda o: o["window_end"])
    window = [datetime.fromisoformat(last[k]) for k in ("window_start", "window_end")]
    assert window == [world.at(20), world.at(21)]
    body = {
        "customer_id": world.ids["anna"],
        "vehicle_id": car["id"],
        "retailer_reference": "ORD-LAST-SLOT",
        "parcel": world.parcel(),
        "itinerary": [
            {
                "place_id": last["place_id"],
                "window_start": last["window_start"],
                "window_end": last["window_end"],
            }
        ],
    }
    world.ok(world.post("shop", "/v1/deliveries", body), 201)


ITEM_RULES: list[tuple[dict[str, Any], str, str]] = [
    ({"weight_g": 25_000}, "parcel_too_heavy", "parcel.weight_g"),
    ({"age_restricted": True}, "age_restricted_not_allowed", "parcel.age_restricted"),
    ({"signature_required": True}, "signature_required_not_allowed", "parcel.signature_required"),
    ({"perishable": True}, "perishable_not_allowed", "parcel.perishable"),
    ({"hazardous": True}, "hazardous_not_allowed", "parcel.hazardous"),
    ({"declared_value_cents": 200_000}, "declared_value_too_high", "parcel.declared_value_cents"),
    ({"length_cm": 70}, "parcel_too_big", "parcel"),
]


def test_item_rules_refuse_with_their_code(world: World) -> None:
    """A parcel breaking an item rule: checkout says why, booking is refused with the rule code."""
    car = world.link_car()
    office = world.add_place()
    for parcel, code, field in ITEM_RULES:
        result = checkout(world, **parcel)
        assert result["trunk_possible"] is False, parcel
        assert result["options"] == [], parcel
        assert (code, field) in {(r["code"], r["field"]) for r in result["reasons"]}, result
        body = {
            "customer_id": world.ids["anna"],
            "vehicle_id": car["id"],
            "retailer_reference": f"ORD-{code}",
            "parcel": world.parcel(**parcel),
            "itinerary": [
                {
                    "place_id": office["id"],
                    "window_start": world.at(10).isoformat(),
                    "window_end": world.at(12).isoformat(),
                }
            ],
        }
        problem = refused(world.post("shop", "/v1/deliveries", body), 422, code)
        assert problem["field"] == field
    assert world.ok(world.get("shop", "/v1/deliveries"))["data"] == []
