"""A car that ran the unlock but whose "trunk opened" report was lost is not left unlocked
without an incident."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import OFFICE, World


def test_an_unlock_whose_opening_report_is_lost_is_locked_with_an_incident(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The car confirms the unlock but its "trunk opened" never arrives: after relock_after_s
    the watchdog opens one `unlock_unconfirmed` incident and sends a lock to the car."""
    simulator = world.platform.simulator
    advance = simulator.advance

    def lose_openings(now: Any) -> list[tuple[str, dict[str, Any]]]:
        return [e for e in advance(now) if e[1]["type"] != "trunk_opened"]

    monkeypatch.setattr(simulator, "advance", lose_openings)
    _vehicle, delivery, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(4 * 60, step=10)
    read = world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))
    assert read["status"] == "unlocking", "the opening was lost: the platform never saw it"
    assert world.ok(world.get("operator", "/v1/incidents"))["data"] == []
    world.tick(2 * 60, step=5)
    incidents = world.ok(world.get("operator", "/v1/incidents"))["data"]
    assert [i["kind"] for i in incidents] == ["unlock_unconfirmed"]
    assert incidents[0]["delivery_id"] == delivery["id"]
    timeline = world.ok(world.get("operator", f"/v1/deliveries/{delivery['id']}"))["timeline"]
    assert "relock" in [t["kind"] for t in timeline] or any(
        "lock sent" in (t.get("text") or "") for t in timeline
    )
    world.tick(5 * 60, step=30)
    again = world.ok(world.get("operator", "/v1/incidents"))["data"]
    assert [i["kind"] for i in again] == ["unlock_unconfirmed"], "one incident per attempt"
