"""The customer's page in a real browser: link a car, save a place, block the car; revoke
a shop's consent, download and erase their data."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.browser.conftest import Site, serious_violations
from tests.support import OFFICE


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


def test_customer_revokes_a_shop_downloads_their_data_and_erases_it(site: Site) -> None:
    """Ben revokes the shop's consent from the page (the API then has it revoked),
    downloads his data as JSON, is told why erasure waits while his parcel is out for
    delivery, and once it is delivered erases his data and is signed out."""
    world = site.world
    vehicle = world.link_car("ben")
    office = world.add_place("ben")
    delivery = world.book(vehicle, [(office, 10, 12)], who="ben")
    world.route(delivery)
    page = site.page()
    site.sign_in(page, "ben")

    page.get_by_role("button", name="Revoke shop").click()
    page.get_by_text("shop may no longer act for you.").wait_for()
    page.get_by_text("No shop may act for you.").wait_for()
    consents = world.ok(world.get("ben", "/v1/me/consents"))["data"]
    assert [c["client_name"] for c in consents] == ["shop"]
    assert consents[0]["revoked_at"] is not None

    with page.expect_download() as download:
        page.get_by_role("link", name="Download all your data (JSON)").click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert world.ids["ben"] in json.dumps(exported)
    assert download.value.suggested_filename == "trunkdrop-my-data.json"

    page.get_by_role("button", name="Erase my data…").click()
    page.get_by_text("This cannot be undone.").wait_for()
    assert serious_violations(page) == []
    page.get_by_role("button", name="Yes, erase everything").click()
    page.get_by_text("Not erased:").wait_for()
    assert world.ok(world.get("ben", "/v1/me"))["id"] == world.ids["ben"]

    world.park(vehicle, OFFICE)
    world.until(world.at(10, 15))
    attempt = world.ok(world.start_attempt(world.next_stop()), 201)
    world.deliver_into_trunk(vehicle, attempt)
    assert world.ok(world.get("ben", f"/v1/deliveries/{delivery['id']}"))["status"] == "delivered"
    page.get_by_role("button", name="Erase my data…").click()
    page.get_by_role("button", name="Yes, erase everything").click()
    # Anchored: the confirmation's own text also says "you are signed out".
    page.get_by_text(re.compile(r"^Erased: .*You are signed out\.$")).wait_for()
    site.screen(page, "customer-erased")
    answer = page.request.get(f"{site.url}/app/customer", max_redirects=0)
    assert (answer.status, answer.headers["location"]) == (303, "/app/signin")
    page.reload()
    page.wait_for_url(re.compile(r"/app/signin$"))
    assert page.errors == []  # type: ignore[attr-defined]
