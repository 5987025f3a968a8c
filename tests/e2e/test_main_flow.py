"""The whole flow over HTTP, each party with its own key."""

from __future__ import annotations

import pytest

from tests.support import HOME, OFFICE, World
from trunkdrop import workers


def test_trunk_delivery_is_done_only_when_the_car_reports_closed_and_locked(world: World) -> None:
    """Link, book, route, access, open, deposit, close, lock: delivered only after the car's lock report."""
    vehicle, delivery, attempt = world.ready_at_car()
    granted = world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    assert granted["attempt"]["status"] == "unlocking"
    world.tick(20)
    attempt = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert attempt["status"] == "trunk_open"
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    read = world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))
    assert read["status"] == "out_for_delivery", "deposit alone must not finish the delivery"
    world.platform.simulator.close_trunk(
        vehicle["brand"], vehicle["external_id"], world.clock.now()
    )
    world.tick(30)
    read = world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))
    assert read["status"] == "delivered"
    assert read["outcome"] == "delivered_trunk"
    kinds = [t["kind"] for t in read["timeline"]]
    assert kinds.index("locked") < kinds.index("delivered")
    assert world.ok(world.get("operator", "/v1/audit/verify"))["ok"] is True


def test_moved_car_fails_with_reason_and_falls_back_to_next_place(world: World) -> None:
    """A car parked away from the booked place: vehicle_moved, the next itinerary place takes over."""
    vehicle = world.link_car()
    office = world.add_place()
    home = world.add_place(label="home", where=HOME)
    delivery = world.book(vehicle, [(office, 10, 12), (home, 18, 20)])
    world.route(delivery)
    world.park(vehicle, (OFFICE[0] + 0.02, OFFICE[1]))
    world.until(world.at(10, 30))
    stop = world.next_stop()
    attempt = world.ok(world.start_attempt(stop, at=(OFFICE[0] + 0.02, OFFICE[1])), 201)
    refused = world.request_access(attempt["id"], (OFFICE[0] + 0.02, OFFICE[1]))
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "vehicle_moved"
    read = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert read["attempts"][0]["failure_reason"] == "vehicle_moved"
    assert read["current_option"] == 2
    nxt = world.next_stop()
    assert nxt["label"] == "home"


def test_only_one_stop_of_a_driver_with_several_started_routes_is_next(world: World) -> None:
    """Two started routes of one driver: `is_next` marks one stop in all, the same as /stops/next."""
    vehicle = world.link_car()
    office = world.add_place()
    world.route(world.book(vehicle, [(office, 10, 12)]))
    world.route(world.book(vehicle, [(office, 10, 12)]))
    world.until(world.at(10, 15))
    stops = world.ok(world.get("driver", "/v1/stops"))["data"]
    assert len(stops) == 2
    marked = [s["id"] for s in stops if s["is_next"]]
    assert marked == [world.ok(world.get("driver", "/v1/stops/next"))["id"]]
    routes = world.ok(world.get("carrier", "/v1/routes"))["data"]
    assert sum(s["is_next"] for r in routes for s in r["stops"]) == 1


def test_trunk_left_open_is_relocked_by_the_watchdog_with_an_incident(world: World) -> None:
    """No lock within 5 min of unlock: trunkdrop sends lock itself and opens an incident."""
    _vehicle, delivery, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(20)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    world.tick(4 * 60, step=10)
    assert world.ok(world.get("operator", "/v1/incidents"))["data"] == []
    world.tick(2 * 60, step=5)
    incidents = world.ok(world.get("operator", "/v1/incidents"))["data"]
    assert [i["kind"] for i in incidents] == ["trunk_not_locked"]
    assert incidents[0]["status"] == "resolved"
    read = world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))
    assert read["status"] == "delivered"
    assert "relock" in [t["kind"] for t in read["timeline"]]


def test_a_failing_worker_step_does_not_stop_the_watchdog(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker step that fails on every pass (here the keyring cannot be loaded) is logged
    and the others still run: a trunk left open is relocked with an incident all the same."""
    _vehicle, _, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(20)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))

    def unreadable(*_: object, **__: object) -> None:
        raise ValueError("Bad decrypt. Incorrect password?")

    monkeypatch.setattr(world.platform.keyrings, "refresh_if_rotated", unreadable)
    failed = []
    for _ in range(6 * 60 // 5):
        try:
            workers.run_once(world.platform, world.clock.advance(5))
        except workers.WorkerStepsFailed as e:
            failed.append(e.steps)
    assert failed and all(steps == ["keys"] for steps in failed)
    incidents = world.ok(world.get("operator", "/v1/incidents"))["data"]
    assert [i["kind"] for i in incidents] == ["trunk_not_locked"]
    assert incidents[0]["status"] == "resolved"


def test_offline_car_unlock_expires_and_falls_back_to_home_address(world: World) -> None:
    """An unlock that never reaches an offline car expires; the attempt fails and the parcel goes home."""
    vehicle, delivery, attempt = world.ready_at_car()
    sim = world.platform.simulator
    sim.configure(vehicle["brand"], vehicle["external_id"], online=False)
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(40)
    att = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert att["status"] == "failed"
    assert att["failure_reason"] in ("command_expired", "vehicle_offline")
    assert sim.car(vehicle["brand"], vehicle["external_id"]).trunk_open is False
    incidents = world.ok(world.get("operator", "/v1/incidents"))["data"]
    assert [i["kind"] for i in incidents] == ["command_expired"]
    stop = world.next_stop()
    assert stop["mode"] == "home"
    home_attempt = world.ok(world.start_attempt(stop), 201)
    world.ok(world.post("driver", f"/v1/attempts/{home_attempt['id']}/handover"))
    read = world.ok(world.get("shop", f"/v1/deliveries/{delivery['id']}"))
    assert (read["status"], read["outcome"]) == ("delivered", "delivered_home")


def test_attempt_event_stream_reports_the_attempt_until_it_ends(world: World) -> None:
    """The server-sent event stream sends the attempt and an end event once it has succeeded."""
    vehicle, _, attempt = world.ready_at_car()
    world.deliver_into_trunk(vehicle, attempt)
    with world.client.stream(
        "GET", f"/v1/attempts/{attempt['id']}/events", headers=world.auth("driver")
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = "".join(stream.iter_text())
    assert "event: attempt" in body
    assert 'event: end\ndata: {"status": "succeeded"}' in body


def test_next_stop_is_the_first_open_stop_and_moves_on_when_it_is_finished(world: World) -> None:
    """GET /v1/stops/next shows the stop the driver must do now, then the following one;
    with nothing left it is a 404 problem, and a carrier key cannot use it."""
    vehicle = world.link_car()
    office = world.add_place()
    first = world.book(vehicle, [(office, 10, 12)])
    second = world.book(vehicle, [(office, 10, 12)])
    world.route(first, second)
    world.park(vehicle, OFFICE)
    world.until(world.at(10, 15))
    stop = world.ok(world.get("driver", "/v1/stops/next"))
    assert (stop["delivery_id"], stop["is_next"]) == (first["id"], True)
    assert stop == world.next_stop()
    attempt = world.ok(world.start_attempt(stop), 201)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/fail", {"reason": "trunk_full"}))
    assert world.ok(world.get("driver", "/v1/stops/next"))["delivery_id"] == second["id"]
    assert world.get("carrier", "/v1/stops/next").status_code == 403
    world.ok(world.post("carrier", f"/v1/routes/{stop['route_id']}/close"))
    missing = world.get("driver", "/v1/stops/next")
    assert (missing.status_code, missing.json()["code"]) == (404, "no_open_stop")
