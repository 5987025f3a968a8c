"""The operator's page in a real browser: acknowledge and resolve an incident, check the
audit chain, rotate the grant-signing key."""

from __future__ import annotations

from sqlalchemy import select

from tests.browser.conftest import Site, serious_violations
from tests.support import OFFICE
from trunkdrop.access.models import SigningKey


def test_operator_acknowledges_and_resolves_an_incident(site: Site) -> None:
    """An unlock that expired at an offline car opens an incident; on the page the operator
    acknowledges it, resolves it with a note, checks the audit chain intact, and rotates
    the signing key (the page names the key the database now has as its one current)."""
    world = site.world
    vehicle, _, attempt = world.ready_at_car()
    site.platform.simulator.configure(vehicle["brand"], vehicle["external_id"], online=False)
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(40)
    incidents = world.ok(world.get("operator", "/v1/incidents"))["data"]
    assert [(i["kind"], i["status"]) for i in incidents] == [("command_expired", "open")]

    page = site.page()
    site.sign_in(page, "operator")
    assert page.url.endswith("/app/operator")
    page.get_by_role("button", name="Acknowledge command_expired").click()
    page.get_by_text("acknowledged by").wait_for()
    site.screen(page, "operator")
    assert serious_violations(page) == []
    page.get_by_label("What was done").fill("car was in a garage; called the owner")
    page.get_by_role("button", name="Resolve command_expired").click()
    page.get_by_text("No open incident.").wait_for()
    read = world.ok(world.get("operator", f"/v1/incidents/{incidents[0]['id']}"))
    assert read["status"] == "resolved"
    assert read["resolution"] == "car was in a garage; called the owner"
    assert read["acknowledged_by"] == world.ids["operator"]
    page.get_by_role("button", name="Check the audit chain").click()
    page.get_by_text("Intact:").wait_for()

    page.get_by_role("button", name="Rotate the signing key").click()
    page.get_by_text("is now current.").wait_for()
    with site.platform.uow() as session:
        current = session.scalars(select(SigningKey.kid).where(SigningKey.retired_at.is_(None)))
        kids = list(current)
    assert len(kids) == 1
    page.get_by_text(f"New signing key {kids[0]} is now current.").wait_for()
    assert serious_violations(page) == []
    assert page.errors == []  # type: ignore[attr-defined]
