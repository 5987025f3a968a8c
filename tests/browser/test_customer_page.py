"""The customer's page in a real browser: link a car, save a place, block the car."""

from __future__ import annotations

from tests.browser.conftest import Site, serious_violations


def test_customer_links_a_car_saves_a_place_and_blocks_the_car(site: Site) -> None:
    """Anna signs in, links her car through the form (the brand's abilities shown), saves
    her office, and blocks the car: the API then reports it blocked, the page says so, and
    the page has no serious accessibility violation and no script error."""
    page = site.page()
    site.sign_in(page, "anna")
    assert page.url.endswith("/app/customer")
    page.get_by_label("Brand").select_option("sim-aurora")
    page.get_by_text("opens the trunk alone").wait_for()
    page.get_by_label("The maker's car id (VIN)").fill("VINBROWSER000001")
    page.get_by_label("Plate", exact=True).fill("M-WB 1")
    page.get_by_label("Make", exact=True).fill("Aurora")
    page.get_by_label("Model", exact=True).fill("Estate")
    page.get_by_label("Year", exact=True).fill("2023")
    page.get_by_label("Colour", exact=True).fill("green")
    page.get_by_role("button", name="Link this car").click()
    page.get_by_text("Linked M-WB 1.").wait_for()

    page.get_by_label("Name", exact=True).fill("office")
    page.get_by_label("Address", exact=True).fill("Karlstr. 1, München")
    page.get_by_label("Latitude").fill("48.1402")
    page.get_by_label("Longitude").fill("11.56")
    page.get_by_label("Parking notes for the driver").fill("level -1, bay 12")
    page.get_by_role("button", name="Save this place").click()
    page.get_by_text("Saved office.").wait_for()
    assert page.locator("#places-map circle").count() == 1

    page.get_by_role("button", name="Block M-WB 1").click()
    page.get_by_text("blocked: no trunk opens").wait_for()
    cars = site.world.ok(site.world.get("anna", "/v1/vehicles"))["data"]
    assert [(c["plate"], c["access_blocked"]) for c in cars] == [("M-WB 1", True)]
    places = site.world.ok(site.world.get("anna", "/v1/places"))["data"]
    assert [p["parking_notes"] for p in places] == ["level -1, bay 12"]
    site.screen(page, "customer")
    assert serious_violations(page) == []
    assert page.errors == []  # type: ignore[attr-defined]
