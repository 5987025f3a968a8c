"""A car that sees the driver's handset over its short-range link opens only for the
grant's handset beside it: a driver far away who copies the car's coordinates is refused
by the car itself."""

from __future__ import annotations

from typing import Any

from tests.security.common import NEAR, trunk_open
from tests.support import OFFICE, Handset, World
from trunkdrop.access.tokens import b64u, proximity_message

FAR = (OFFICE[0] + 0.018, OFFICE[1])  # ~2 km from the car
BESIDE = (OFFICE[0] + 0.00003, OFFICE[1])  # ~3 m: within Bluetooth range


def _eira_at_the_car(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """An Eira car (handset proximity) parked at Anna's office, booked 10–12, the driver's
    attempt started at 10:15. Returns (vehicle, attempt)."""
    vehicle = world.link_car(brand="sim-eira")
    assert vehicle["capabilities"]["handset_proximity"] is True
    office = world.add_place()
    delivery = world.book(vehicle, [(office, 10, 12)])
    world.route(delivery)
    world.park(vehicle, OFFICE)
    world.until(world.at(10, 15))
    attempt = world.ok(world.start_attempt(world.next_stop()), 201)
    return vehicle, attempt


def _answer_the_car(
    world: World, vehicle: dict[str, Any], handset: Handset, at: tuple[float, float]
) -> str:
    """The handset, truly at `at`, answers the car's own challenge over Bluetooth."""
    path = f"/v1/sim/vehicles/{vehicle['id']}"
    nonce = world.ok(world.post("operator", path, {"action": "car_challenge"}))["nonce"]
    signature = b64u(
        handset.private_key.sign(proximity_message(nonce=nonce, vehicle=vehicle["external_id"]))
    )
    answer = world.post(
        "operator",
        path,
        {
            "action": "handset_nearby",
            "public_key": handset.public_key,
            "nonce": nonce,
            "signature": signature,
            "latitude": at[0],
            "longitude": at[1],
        },
    )
    verdict: str = world.ok(answer)["handset"]
    return verdict


def test_a_driver_far_away_with_copied_coordinates_is_refused_by_the_car(world: World) -> None:
    """The platform believes the copied position and queues the unlock, but the car has not
    seen the handset beside it: the trunk stays shut and the attempt fails
    driver_not_at_vehicle."""
    vehicle, attempt = _eira_at_the_car(world)
    handset = world.handsets["driver"]
    assert _answer_the_car(world, vehicle, handset, FAR) == "out_of_range"
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    world.tick(20)
    assert not trunk_open(world, vehicle)
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert (read["status"], read["failure_reason"]) == ("failed", "driver_not_at_vehicle")


def test_the_grants_handset_beside_the_car_opens_it(world: World) -> None:
    """The driver's handset answered the car from beside it: the unlock opens the trunk."""
    vehicle, attempt = _eira_at_the_car(world)
    assert _answer_the_car(world, vehicle, world.handsets["driver"], BESIDE) == "seen"
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    world.tick(20)
    assert trunk_open(world, vehicle)
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "trunk_open"


def test_another_handset_beside_the_car_does_not_open_it_for_the_grant(world: World) -> None:
    """An accomplice's phone beside the car proves only itself: the grant is bound to the
    driver's handset, which the car has not seen, so the trunk stays shut."""
    vehicle, attempt = _eira_at_the_car(world)
    assert _answer_the_car(world, vehicle, Handset(), BESIDE) == "seen"
    world.ok(world.request_access(attempt["id"], NEAR), 202)
    world.tick(20)
    assert not trunk_open(world, vehicle)


def test_an_answer_signed_by_another_key_is_not_taken(world: World) -> None:
    """A signature over the car's nonce by a key other than the one presented: refused."""
    vehicle, _ = _eira_at_the_car(world)
    path = f"/v1/sim/vehicles/{vehicle['id']}"
    nonce = world.ok(world.post("operator", path, {"action": "car_challenge"}))["nonce"]
    forged = b64u(
        Handset().private_key.sign(proximity_message(nonce=nonce, vehicle=vehicle["external_id"]))
    )
    answer = world.ok(
        world.post(
            "operator",
            path,
            {
                "action": "handset_nearby",
                "public_key": world.handsets["driver"].public_key,
                "nonce": nonce,
                "signature": forged,
                "latitude": BESIDE[0],
                "longitude": BESIDE[1],
            },
        )
    )
    assert answer["handset"] == "proof_invalid"
