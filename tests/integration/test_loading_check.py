"""A van's load is checked as it sets off: a parcel whose car reported itself offline goes
to the car's next place, on a van still at the depot when that one serves it better."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.support import HOME, OFFICE, World
from trunkdrop.dispatch import loading, replans, routes
from trunkdrop.dispatch import service as dispatch
from trunkdrop.errors import Conflict, ServiceUnavailable
from trunkdrop.parties import service as parties

NEAR_HOME = (HOME[0] + 0.002, HOME[1] + 0.002)


def _offline(world: World, vehicle: dict[str, Any]) -> None:
    world.platform.simulator.go_offline(vehicle["brand"], vehicle["external_id"], world.clock.now())
    world.tick(2)


def _stops_of(world: World, delivery: dict[str, Any]) -> list[dict[str, Any]]:
    routes = world.ok(world.get("carrier", "/v1/routes"))["data"]
    return [s for r in routes for s in r["stops"] if s["delivery_id"] == delivery["id"]]


def _two_vans(world: World) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Anna's car is booked at the office in the morning, then at home in the evening; Ben's
    only at home in the evening. Each is on its own van; neither van has left."""
    anna_car, ben_car = world.link_car(), world.link_car("ben")
    office, home = world.add_place(), world.add_place("anna", "home", HOME)
    ben_home = world.add_place("ben", "home", NEAR_HOME)
    # No door to fall back to: the car's next place is the only way left.
    morning = world.book(anna_car, [(office, 10, 12), (home, 17, 20)], fallback=False)
    evening = world.book(ben_car, [(ben_home, 17, 20)], who="ben")
    world.until(world.at(8))
    morning_van = world.route(morning, start=False)
    world.route(evening, driver="driver2", start=False)
    return anna_car, morning, morning_van


def test_an_offline_car_s_parcel_moves_to_the_van_at_the_depot_that_passes_its_next_place(
    world: World,
) -> None:
    """The morning van sets off while Anna's car is offline: the office stop is skipped
    without a trip, and her home stop goes on the evening van, which passes next door."""
    anna_car, morning, morning_van = _two_vans(world)
    world.park(anna_car, OFFICE)
    _offline(world, anna_car)
    started = world.ok(world.post("carrier", f"/v1/routes/{morning_van['id']}/start"))
    assert started["status"] in ("started", "finished")
    stops = _stops_of(world, morning)
    skipped = [s for s in stops if s["status"] == "cancelled"]
    [pending] = [s for s in stops if s["status"] == "pending"]
    assert [s["label"] for s in skipped] == ["office"]
    assert pending["route_id"] != morning_van["id"]
    assert (pending["mode"], pending["label"]) == ("trunk", "home")
    evening_van = world.ok(world.get("carrier", f"/v1/routes/{pending['route_id']}"))
    assert evening_van["status"] == "planned"
    assert len(evening_van["stops"]) == 2
    timeline = world.ok(world.get("anna", f"/v1/deliveries/{morning['id']}"))["timeline"]
    assert "moved_van" in [entry["kind"] for entry in timeline]


def test_an_online_car_keeps_its_stop_on_its_van(world: World) -> None:
    """A car that has not reported itself offline is not second-guessed: its office stop
    stays on the van that leaves."""
    _, morning, morning_van = _two_vans(world)
    world.ok(world.post("carrier", f"/v1/routes/{morning_van['id']}/start"))
    [stop] = _stops_of(world, morning)
    assert (stop["status"], stop["label"], stop["route_id"]) == (
        "pending",
        "office",
        morning_van["id"],
    )


def test_a_car_offline_somewhere_else_keeps_its_stop(world: World) -> None:
    """Anna's car went offline at home, not at the office where it is booked: it may well be
    back online when it gets there, so the stop stays."""
    anna_car, morning, morning_van = _two_vans(world)
    world.park(anna_car, HOME)
    _offline(world, anna_car)
    world.ok(world.post("carrier", f"/v1/routes/{morning_van['id']}/start"))
    [stop] = _stops_of(world, morning)
    assert (stop["status"], stop["label"]) == ("pending", "office")


def test_with_no_other_van_at_the_depot_the_next_place_stays_on_the_leaving_van(
    world: World,
) -> None:
    """The evening van has left already: the parcel cannot change vans, so the car's next
    place is served by the van that carries it."""
    anna_car, morning, morning_van = _two_vans(world)
    evening_van = next(
        r
        for r in world.ok(world.get("carrier", "/v1/routes"))["data"]
        if r["id"] != morning_van["id"]
    )
    world.ok(world.post("carrier", f"/v1/routes/{evening_van['id']}/start"))
    world.park(anna_car, OFFICE)
    _offline(world, anna_car)
    world.ok(world.post("carrier", f"/v1/routes/{morning_van['id']}/start"))
    [pending] = [s for s in _stops_of(world, morning) if s["status"] == "pending"]
    assert (pending["route_id"], pending["label"]) == (morning_van["id"], "home")


def _waiting_on_a_lock(world: World) -> bool:
    with world.platform.engine.connect() as c:
        return bool(
            c.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            )
        )


def test_two_vans_setting_off_at_once_both_place_their_parcels_on_the_waiting_van(
    world: World,
) -> None:
    """PostgreSQL: two vans leave at the same moment, each with a car offline at the office,
    and both parcels go on the one van still at the depot. The second check waits for the
    first and weighs that van as the first left it: its stops keep one time order."""
    if world.platform.engine.dialect.name != "postgresql":
        pytest.skip("row locks and snapshots are PostgreSQL's; SQLite has one writer")
    world.add_party("driver", "driver3", carrier="carrier")
    world.add_party("customer", "clara")
    anna_car, ben_car = world.link_car(), world.link_car("ben")
    clara_car = world.link_car("clara")
    anna = world.book(
        anna_car,
        [(world.add_place(), 10, 12), (world.add_place("anna", "home", HOME), 17, 20)],
        fallback=False,
    )
    ben = world.book(
        ben_car,
        [
            (world.add_place("ben", "office", OFFICE), 10, 12),
            (world.add_place("ben", "home", NEAR_HOME), 17, 20),
        ],
        who="ben",
        fallback=False,
    )
    clara_home = world.add_place("clara", "home", (HOME[0] - 0.002, HOME[1] - 0.002))
    clara = world.book(clara_car, [(clara_home, 17, 20)], who="clara")
    world.until(world.at(8))
    vans = [
        world.route(anna, start=False),
        world.route(ben, driver="driver2", start=False),
        world.route(clara, driver="driver3", start=False),
    ]
    for car in (anna_car, ben_car):
        world.park(car, OFFICE)
        _offline(world, car)
    p, now = world.platform, world.clock.now()

    def set_off(session: Session, route_id: str) -> None:
        route = dispatch.get_route(session=session, route_id=route_id)
        loading.check_load(
            session=session, settings=p.settings, route=route, matrix=p.matrix, now=now
        )

    first = p.session_factory()
    set_off(first, vans[0]["id"])
    first.flush()
    errors: list[BaseException] = []

    def other() -> None:
        second = p.session_factory()
        try:
            set_off(second, vans[1]["id"])
            second.commit()
        except BaseException as e:  # any failure is reported to the test
            errors.append(e)
            second.rollback()
        finally:
            second.close()

    t = threading.Thread(target=other)
    t.start()
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock(world) and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    first.commit()
    first.close()
    t.join(30)
    assert not t.is_alive() and not errors, errors
    waiting = world.ok(world.get("carrier", f"/v1/routes/{vans[2]['id']}"))
    on_it = {s["delivery_id"] for s in waiting["stops"] if s["status"] == "pending"}
    assert on_it == {anna["id"], ben["id"], clara["id"]}
    etas = [s["eta"] for s in sorted(waiting["stops"], key=lambda s: s["seq"])]
    assert None not in etas and etas == sorted(etas)


def test_two_vans_each_weighing_the_other_do_not_deadlock(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: van B has skipped its offline car's stop and pauses before weighing vans;
    van A sets off meanwhile and picks B for its parcel. The vans at the depot are locked
    before anything is written, so A waits for B instead of the two waiting for each other."""
    if world.platform.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer")
    anna_car, ben_car = world.link_car(), world.link_car("ben")
    anna = world.book(
        anna_car,
        [(world.add_place(), 10, 12), (world.add_place("anna", "home", HOME), 17, 20)],
        fallback=False,
    )
    ben = world.book(
        ben_car,
        [
            (world.add_place("ben", "office", OFFICE), 10, 12),
            (world.add_place("ben", "home", NEAR_HOME), 17, 20),
        ],
        who="ben",
        fallback=False,
    )
    world.until(world.at(8))
    van_a = world.route(anna, start=False)
    van_b = world.route(ben, driver="driver2", start=False)
    for car in (anna_car, ben_car):
        world.park(car, OFFICE)
        _offline(world, car)
    p, now = world.platform, world.clock.now()
    go_b, b_paused = threading.Event(), threading.Event()
    weigh = loading._to_cheapest_van

    def paused(**kw: Any) -> bool:
        if kw["route"].id == van_b["id"]:
            b_paused.set()
            go_b.wait(10)
        return weigh(**kw)

    monkeypatch.setattr(loading, "_to_cheapest_van", paused)
    errors: dict[str, BaseException] = {}

    def run(name: str, route_id: str) -> None:
        s = p.session_factory()
        try:
            route = dispatch.get_route(session=s, route_id=route_id)
            loading.check_load(
                session=s, settings=p.settings, route=route, matrix=p.matrix, now=now
            )
            s.commit()
        except BaseException as e:  # any failure is reported to the test
            errors[name] = e
            s.rollback()
        finally:
            s.close()

    tb = threading.Thread(target=run, args=("B", van_b["id"]))
    tb.start()
    assert b_paused.wait(10)
    ta = threading.Thread(target=run, args=("A", van_a["id"]))
    ta.start()
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock(world) and time.monotonic() < deadline:
        time.sleep(0.02)
    go_b.set()
    ta.join(30)
    tb.join(30)
    assert not ta.is_alive() and not tb.is_alive()
    assert not errors, {k: repr(v)[:300] for k, v in errors.items()}
    pending = [s for d in (anna, ben) for s in _stops_of(world, d) if s["status"] == "pending"]
    assert sorted(s["label"] for s in pending) == ["home", "home"]


def test_a_van_setting_off_waits_for_a_check_moving_a_parcel_onto_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the morning van's check has moved Anna's parcel onto the evening van and
    has not committed; the evening van sets off meanwhile. It waits for the check, then
    leaves with the parcel on board and Anna told that the driver is on the way."""
    if world.platform.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer")
    anna_car, morning, morning_van = _two_vans(world)
    [evening_van] = [
        r for r in world.ok(world.get("carrier", "/v1/routes"))["data"]
        if r["id"] != morning_van["id"]
    ]  # fmt: skip
    world.park(anna_car, OFFICE)
    _offline(world, anna_car)
    p, now = world.platform, world.clock.now()
    moved, go_on = threading.Event(), threading.Event()
    weigh = loading._to_cheapest_van

    def paused(**kw: Any) -> bool:
        changed = weigh(**kw)
        moved.set()
        go_on.wait(10)
        return changed

    monkeypatch.setattr(loading, "_to_cheapest_van", paused)
    errors: dict[str, BaseException] = {}

    def run(name: str, work: Any) -> None:
        s = p.session_factory()
        try:
            work(s)
            s.commit()
        except BaseException as e:  # any failure is reported to the test
            errors[name] = e
            s.rollback()
        finally:
            s.close()

    def check_morning(s: Session) -> None:
        route = dispatch.get_route(session=s, route_id=morning_van["id"])
        loading.check_load(session=s, settings=p.settings, route=route, matrix=p.matrix, now=now)

    def set_off_evening(s: Session) -> None:
        route = dispatch.get_route(session=s, route_id=evening_van["id"])
        carrier = parties.get_party(session=s, party_id=route.carrier_id)
        loading.set_off(
            session=s, settings=p.settings, party=carrier, route=route, matrix=p.matrix, now=now
        )

    checking = threading.Thread(target=run, args=("check", check_morning))
    checking.start()
    assert moved.wait(10)
    leaving = threading.Thread(target=run, args=("set_off", set_off_evening))
    leaving.start()
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock(world) and leaving.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert leaving.is_alive(), "the evening van left while a check was moving a parcel onto it"
    go_on.set()
    checking.join(30)
    leaving.join(30)
    assert not checking.is_alive() and not leaving.is_alive()
    assert not errors, {k: repr(v)[:300] for k, v in errors.items()}
    evening = world.ok(world.get("carrier", f"/v1/routes/{evening_van['id']}"))
    assert evening["status"] == "started"
    assert morning["id"] in {s["delivery_id"] for s in evening["stops"] if s["status"] == "pending"}
    assert world.ok(world.get("anna", f"/v1/deliveries/{morning['id']}"))["status"] == (
        "out_for_delivery"
    )


def test_two_set_offs_of_one_van_start_it_once(world: World) -> None:
    """PostgreSQL: the driver taps "set off" twice at once. One set-off starts the van and
    tells the customers; the other waits for it and is refused (a route starts once)."""
    if world.platform.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer")
    _, morning, morning_van = _two_vans(world)
    p, now = world.platform, world.clock.now()
    first = p.session_factory()
    route = dispatch.get_route(session=first, route_id=morning_van["id"])
    carrier = parties.get_party(session=first, party_id=route.carrier_id)
    loading.set_off(
        session=first, settings=p.settings, party=carrier, route=route, matrix=p.matrix, now=now
    )
    outcome: dict[str, Any] = {}

    def again() -> None:
        s = p.session_factory()
        try:
            r = dispatch.get_route(session=s, route_id=morning_van["id"])
            who = parties.get_party(session=s, party_id=r.carrier_id)
            loading.set_off(
                session=s, settings=p.settings, party=who, route=r, matrix=p.matrix, now=now
            )
            s.commit()
            outcome["second"] = "started"
        except Conflict as e:
            s.rollback()
            outcome["second"] = e.code
        finally:
            s.close()

    t = threading.Thread(target=again)
    t.start()
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock(world) and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    first.commit()
    first.close()
    t.join(30)
    assert outcome == {"second": "illegal_transition"}
    timeline = world.ok(world.get("anna", f"/v1/deliveries/{morning['id']}"))["timeline"]
    assert [e["kind"] for e in timeline].count("out_for_delivery") == 1


def test_vans_without_a_car_to_weigh_set_off_without_waiting_for_each_other(
    world: World,
) -> None:
    """PostgreSQL: two vans whose cars are all online set off at the same moment of the
    morning wave. Each holds only its own van: the second leaves while the first's set-off is
    still open (it would wait for it if every set-off held all the depot's vans)."""
    if world.platform.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer")
    _, _, morning_van = _two_vans(world)
    p, now = world.platform, world.clock.now()
    [evening_id] = [
        r["id"] for r in world.ok(world.get("carrier", "/v1/routes"))["data"]
        if r["id"] != morning_van["id"]
    ]  # fmt: skip
    first = p.session_factory()
    route = dispatch.get_route(session=first, route_id=evening_id)
    carrier = parties.get_party(session=first, party_id=route.carrier_id)
    loading.set_off(
        session=first, settings=p.settings, party=carrier, route=route, matrix=p.matrix, now=now
    )
    try:
        with p.session_factory() as second:
            # Bounded: a set-off that waits for the open one fails here instead of hanging.
            second.execute(text("SET LOCAL lock_timeout = '3s'"))
            other = dispatch.get_route(session=second, route_id=morning_van["id"])
            loading.set_off(
                session=second, settings=p.settings, party=carrier, route=other,
                matrix=p.matrix, now=now,
            )  # fmt: skip
            second.commit()
    finally:
        first.commit()
        first.close()
    assert world.ok(world.get("carrier", f"/v1/routes/{morning_van['id']}"))["status"] == "started"
    assert world.ok(world.get("carrier", f"/v1/routes/{evening_id}"))["status"] == "started"


def test_a_close_waiting_for_a_set_off_takes_its_parcels_back_to_the_depot(
    world: World,
) -> None:
    """PostgreSQL: the carrier closes a van's day while its driver's set-off is still under
    way. The close waits for the set-off, then reads what it did: the parcel that went out
    for delivery comes back as booked (not reached), not left out on a finished route."""
    if world.platform.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer")
    _, morning, morning_van = _two_vans(world)
    p, now = world.platform, world.clock.now()
    first = p.session_factory()
    route = dispatch.get_route(session=first, route_id=morning_van["id"])
    carrier = parties.get_party(session=first, party_id=route.carrier_id)
    loading.set_off(
        session=first, settings=p.settings, party=carrier, route=route, matrix=p.matrix, now=now
    )
    errors: list[BaseException] = []

    def close() -> None:
        s = p.session_factory()
        try:
            r = dispatch.get_route(session=s, route_id=morning_van["id"])
            who = parties.get_party(session=s, party_id=r.carrier_id)
            routes.close_route(session=s, party=who, route=r, now=now)
            s.commit()
        except BaseException as e:  # any failure is reported to the test
            errors.append(e)
            s.rollback()
        finally:
            s.close()

    t = threading.Thread(target=close)
    t.start()
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock(world) and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    first.commit()
    first.close()
    t.join(30)
    assert not t.is_alive() and not errors, errors
    closed = world.ok(world.get("carrier", f"/v1/routes/{morning_van['id']}"))
    assert closed["status"] == "finished"
    parcel = world.ok(world.get("anna", f"/v1/deliveries/{morning['id']}"))
    assert parcel["status"] == "booked"


def _planned_alone(world: World, delivery: dict[str, Any], driver: str, **van: Any) -> str:
    """Plan `delivery` on `driver`'s van alone (a plan of its own); the route's id."""
    body = {
        "service_date": world.at(0).date().isoformat(),
        "driver_ids": [world.ids[driver]],
        "delivery_ids": [delivery["id"]],
        "home_as_option": False,
        "seconds": 1.0,
        **van,
    }
    [route] = world.ok(world.post("carrier", "/v1/plans", body), 201)["routes"]
    return str(route["id"])


@pytest.mark.parametrize(
    ("van", "moves"),
    [({}, True), ({"van_capacity_l": 150}, False), ({"shift_end": "17:45:00"}, False)],
    ids=["as-settings", "small-van", "short-shift"],
)
def test_a_parcel_moves_only_onto_a_van_it_fits_as_planned(
    world: World, van: dict[str, Any], moves: bool
) -> None:
    """The evening van was planned with its own capacity and shift: Anna's 120-litre parcel
    joins it only if it fits that van and its hours (a 150-litre van already carrying Ben's
    120 litres, or a shift ending 17:45 before her 18:00-20:00 window, cannot take it). The
    morning van, planned to be back by 13:00, keeps it then: no van fits it."""
    big = {"length_cm": 60, "width_cm": 50, "height_cm": 40}
    anna_car, ben_car = world.link_car(), world.link_car("ben")
    office, home = world.add_place(), world.add_place("anna", "home", HOME)
    ben_home = world.add_place("ben", "home", NEAR_HOME)
    morning = world.book(anna_car, [(office, 10, 12), (home, 18, 20)], fallback=False, **big)
    evening = world.book(ben_car, [(ben_home, 17, 19)], who="ben", **big)
    world.until(world.at(8))
    morning_van = _planned_alone(world, morning, "driver", shift_end="13:00:00")
    evening_van = _planned_alone(world, evening, "driver2", **van)
    world.park(anna_car, OFFICE)
    _offline(world, anna_car)
    world.ok(world.post("carrier", f"/v1/routes/{morning_van}/start"))
    [pending] = [s for s in _stops_of(world, morning) if s["status"] == "pending"]
    assert pending["label"] == "home"
    assert pending["route_id"] == (evening_van if moves else morning_van)


def test_a_van_out_past_its_planned_shift_still_has_its_parcels_re_planned(
    world: World,
) -> None:
    """A van planned to be back by 13:00 is still out at 13:30 with Anna's parcel on board:
    a re-plan may still move it to her evening place (the van runs over, as re-plans always
    let it), instead of leaving it frozen because the planned shift is over."""
    anna_car = world.link_car()
    office, home = world.add_place(), world.add_place("anna", "home", HOME)
    morning = world.book(anna_car, [(office, 10, 12), (home, 18, 20)], fallback=False)
    world.until(world.at(8))
    van = _planned_alone(world, morning, "driver", shift_end="13:00:00")
    world.ok(world.post("carrier", f"/v1/routes/{van}/start"))
    world.until(world.at(13, 30))
    p = world.platform
    with p.uow() as s:
        route = dispatch.get_route(session=s, route_id=van)
        draft = replans.prepare_replan(
            session=s,
            settings=p.settings,
            carrier=parties.get_party(session=s, party_id=route.carrier_id),
            service_date=route.service_date,
            matrix=p.matrix,
            now=world.clock.now(),
            route_ids=[route.id],
        )
    assert len(draft.movable) == 1
    assert draft.day is not None
    assert draft.day.vans[0].end_s == p.settings.shift_end_hour * 3600


def test_a_routing_server_outage_does_not_keep_the_van_at_the_depot(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Weighing the other vans needs travel times; when the routing server is down the van
    still leaves, and the car's next place stays on it."""
    anna_car, morning, morning_van = _two_vans(world)
    world.park(anna_car, OFFICE)
    _offline(world, anna_car)

    def down(self: Any, points: Any) -> Any:
        raise ServiceUnavailable("the routing server did not answer")

    monkeypatch.setattr(type(world.platform.matrix), "matrices", down)
    started = world.ok(world.post("carrier", f"/v1/routes/{morning_van['id']}/start"))
    assert started["status"] == "started"
    [pending] = [s for s in _stops_of(world, morning) if s["status"] == "pending"]
    assert (pending["route_id"], pending["label"]) == (morning_van["id"], "home")


def test_a_van_at_the_depot_is_weighed_from_the_depot_not_a_cancelled_stop(
    world: World,
) -> None:
    """A parcel withdrawn before its van left leaves a cancelled stop far out of town: the
    van never drives there, so a re-plan starts it at the depot."""
    world.add_party("customer", "clara")
    ben_car, clara_car = world.link_car("ben"), world.link_car("clara")
    ben = world.book(ben_car, [(world.add_place("ben", "home", NEAR_HOME), 8, 20)], who="ben")
    far = world.add_place("clara", "far", (48.06, 11.70))
    clara = world.book(clara_car, [(far, 8, 20)], who="clara")
    world.until(world.at(8))
    van = world.route(clara, ben, driver="driver2", start=False)
    world.ok(world.post("shop", f"/v1/deliveries/{clara['id']}/cancel"))
    p = world.platform
    with p.uow() as s:
        route = dispatch.get_route(session=s, route_id=van["id"])
        draft = replans.prepare_replan(
            session=s,
            settings=p.settings,
            carrier=parties.get_party(session=s, party_id=route.carrier_id),
            service_date=route.service_date,
            capacity_l=p.settings.van_capacity_l,
            shift_end_hour=p.settings.shift_end_hour,
            matrix=p.matrix,
            now=world.clock.now(),
            route_ids=[route.id],
        )
        assert draft.day is not None
        area = dispatch.list_service_areas(session=s, carrier_id=route.carrier_id)[0]
        assert draft.day.vans[0].start == (area.depot_latitude, area.depot_longitude)


def test_a_stop_the_driver_has_started_is_not_skipped_when_its_car_goes_offline(
    world: World,
) -> None:
    """The load check leaves alone a stop where an attempt exists: the driver is at the
    car, and that attempt, not the check, decides what becomes of the parcel."""
    anna_car, morning, morning_van = _two_vans(world)
    world.park(anna_car, OFFICE)
    world.ok(world.post("carrier", f"/v1/routes/{morning_van['id']}/start"))
    world.until(world.at(10))
    world.ok(world.start_attempt(world.next_stop()), 201)
    _offline(world, anna_car)
    p = world.platform
    with p.uow() as s:
        route = dispatch.get_route(session=s, route_id=morning_van["id"])
        moved = loading.check_load(
            session=s, settings=p.settings, route=route, matrix=p.matrix, now=world.clock.now()
        )
    assert moved == []
    [stop] = _stops_of(world, morning)
    assert (stop["status"], stop["label"], stop["route_id"]) == (
        "pending",
        "office",
        morning_van["id"],
    )
