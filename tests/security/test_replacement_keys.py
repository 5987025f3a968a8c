"""A driver whose phone was stolen gets a new API key without becoming a new party, and
revoking the stolen handset revokes the key that came with it."""

from __future__ import annotations

from typing import Any

from tests.security.common import refused
from tests.support import World


def _issue(world: World, who: str, for_whom: str, body: dict[str, Any] | None = None) -> Any:
    body = {"label": "new phone", **(body or {})}
    return world.post(who, f"/v1/parties/{world.ids[for_whom]}/api-keys", body)


def test_carrier_issues_a_replacement_key_to_its_driver(world: World) -> None:
    """After the old keys are revoked, the carrier's new key works for the same driver
    (same party id, same routes); the old key stays dead."""
    old = world.keys["driver"]
    world.ok(world.post("carrier", f"/v1/parties/{world.ids['driver']}/api-keys/revoke"))
    issued = world.ok(_issue(world, "carrier", "driver"), 201)
    assert issued["party_id"] == world.ids["driver"]
    assert issued["api_key"].startswith("td_driv_")
    world.keys["driver"] = issued["api_key"]
    me = world.ok(world.get("driver", "/v1/me"))
    assert me["id"] == world.ids["driver"]
    world.keys["driver"] = old
    assert world.get("driver", "/v1/me").status_code == 401


def test_only_self_carrier_or_operator_may_issue(world: World) -> None:
    """Another carrier, a shop or another driver gets 404 (ids are not confirmed)."""
    for who in ("other-carrier", "shop", "driver2"):
        refused(_issue(world, who, "driver"), 404, "not_found")
    world.ok(_issue(world, "driver", "driver"), 201)
    world.ok(_issue(world, "operator", "driver"), 201)


def test_revoking_the_handset_revokes_the_key_issued_for_it(world: World) -> None:
    """A key issued for a handset dies with the handset; a key not bound to it lives on."""
    handset = world.register_handset("driver")
    bound = world.ok(_issue(world, "carrier", "driver", {"device_id": handset.id}), 201)
    assert bound["device_id"] == handset.id
    spare = world.ok(_issue(world, "carrier", "driver"), 201)
    world.ok(world.post("carrier", f"/v1/devices/{handset.id}/revoke"))
    world.keys["stolen"] = bound["api_key"]
    world.keys["spare"] = spare["api_key"]
    assert world.get("stolen", "/v1/me").status_code == 401
    assert world.get("spare", "/v1/me").status_code == 200


def test_a_key_cannot_be_bound_to_another_drivers_or_a_revoked_handset(world: World) -> None:
    """The handset must be the driver's own and still live."""
    theirs = world.register_handset("driver2")
    refused(_issue(world, "carrier", "driver", {"device_id": theirs.id}), 422, "invalid_input")
    mine = world.register_handset("driver")
    world.ok(world.post("carrier", f"/v1/devices/{mine.id}/revoke"))
    refused(_issue(world, "carrier", "driver", {"device_id": mine.id}), 409, "device_revoked")
