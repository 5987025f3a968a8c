"""The driver's page in a real browser: sign in, make and register the handset key with
WebCrypto, be approved, open the trunk, deposit, and see the delivery done."""

from __future__ import annotations

from tests.browser.conftest import Site, serious_violations
from tests.support import OFFICE
from trunkdrop import workers


def _run_workers(site: Site, times: int = 10) -> None:
    for _ in range(times):
        workers.run_once(site.platform, site.clock.advance(2))


def test_driver_opens_the_trunk_and_completes_a_delivery(site: Site) -> None:
    """The page makes a non-extractable Ed25519 key, registers it and waits; once the
    carrier approves, "I'm at the car" starts the attempt and signs the access request;
    the simulated car opens (the owner's page shows it live), the driver deposits, the car
    locks: delivered."""
    world = site.world
    vehicle, delivery, stop = world.at_the_stop()
    page = site.page(
        geolocation={"latitude": OFFICE[0] + 0.0001, "longitude": OFFICE[1]},
        permissions=["geolocation"],
    )
    site.sign_in(page, "driver")
    assert page.url.endswith("/app/driver")
    page.get_by_role("button", name="Set up this phone to open trunks").click()
    page.get_by_text("awaiting your carrier's approval").wait_for()
    devices = world.ok(world.get("carrier", "/v1/devices"))["data"]
    waiting = [d for d in devices if d["approved_at"] is None and d["label"] == "phone (browser)"]
    assert len(waiting) == 1
    extractable = page.evaluate(
        """() => new Promise((resolve) => {
             const open = indexedDB.open("trunkdrop-handset", 1);
             open.onsuccess = () => {
               const get = open.result.transaction("keys").objectStore("keys").getAll();
               get.onsuccess = () => resolve(get.result.map((h) => h.privateKey.extractable));
             };
           })"""
    )
    assert extractable == [False]
    world.ok(world.post("carrier", f"/v1/devices/{waiting[0]['id']}/approve"))
    page.get_by_text("is approved: it can open trunks").wait_for()
    page.get_by_text(f"{vehicle['plate']} — blue Aurora Estate").wait_for()
    site.screen(page, "driver")
    assert serious_violations(page) == []

    owner = site.page()
    site.sign_in(owner, "anna")
    parcel = owner.locator("#deliveries li").filter(has_text=stop["parcel_ref"])
    parcel.filter(has_text="out_for_delivery").wait_for()

    page.get_by_label("Scanned parcel label").fill(stop["parcel_ref"])
    page.get_by_role("button", name="I'm at the car").click()
    page.get_by_text("The car is opening the trunk").wait_for()
    _run_workers(site)
    page.get_by_text("The trunk is open").wait_for()
    # The owner's page finds the attempt and follows its event stream.
    parcel.filter(has_text="attempt: trunk_open").wait_for()
    page.get_by_role("button", name="The parcel is in the trunk").click()
    page.get_by_text("waiting for the car to lock").wait_for()
    site.platform.simulator.close_trunk(vehicle["brand"], vehicle["external_id"], site.clock.now())
    _run_workers(site, 15)
    page.get_by_text("No stop left: the day is done").wait_for()
    read = world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))
    assert (read["status"], read["outcome"]) == ("delivered", "delivered_trunk")
    assert read["attempts"][0]["status"] == "succeeded"
    assert page.errors == []  # type: ignore[attr-defined]
