"""The carrier's page in a real browser: approve a handset, plan a day, see its routes,
re-plan the rest of the day."""

from __future__ import annotations

from tests.browser.conftest import Site, serious_violations


def test_carrier_approves_a_handset_and_plans_the_day(site: Site) -> None:
    """A handset waiting for approval is approved with one click; planning the day puts
    both booked deliveries on routes, drawn on the map, and the API has the routes;
    re-planning from the page re-solves the day and keeps both deliveries on it."""
    world = site.world
    handset = world.register_handset("driver2", approve=False)
    vehicle = world.link_car()
    office = world.add_place()
    for _ in range(2):
        world.book(vehicle, [(office, 10, 12)])
    page = site.page()
    site.sign_in(page, "carrier")
    assert page.url.endswith("/app/carrier")
    page.get_by_role("button", name=f"Approve {handset.id}").click()
    page.get_by_text("None waiting.").wait_for()
    devices = world.ok(world.get("carrier", "/v1/devices"))["data"]
    assert next(d for d in devices if d["id"] == handset.id)["approved_at"] is not None

    day = world.at(0).date().isoformat()
    page.get_by_label("Day", exact=True).fill(day)
    page.get_by_label("Search time (seconds)").fill("1")
    page.get_by_label("Drivers (ids, one van each, separated by commas)").fill(world.ids["driver"])
    page.get_by_role("button", name="Plan the day's deliveries").click()
    page.get_by_text("Planned 2 stops on 1 routes; 0 not planned.").wait_for()
    assert page.locator("#routes-map polyline").count() == 1
    routes = world.ok(world.get("carrier", f"/v1/routes?date={day}"))["data"]
    assert [len(r["stops"]) for r in routes] == [2]

    # Re-planning the rest of the day (nothing done yet) keeps both stops on the route.
    page.get_by_label("Day to re-plan").fill(day)
    page.get_by_label("Search time for re-planning (seconds)").fill("1")
    page.get_by_role("button", name="Re-plan the day").click()
    page.get_by_text("Re-planned: 2 stops on 1 routes.").wait_for()
    replanned = world.ok(world.get("carrier", f"/v1/routes?date={day}"))["data"]
    assert sorted(s["delivery_id"] for r in replanned for s in r["stops"]) == sorted(
        s["delivery_id"] for r in routes for s in r["stops"]
    )
    site.screen(page, "carrier")
    assert serious_violations(page) == []
    assert page.errors == []  # type: ignore[attr-defined]
