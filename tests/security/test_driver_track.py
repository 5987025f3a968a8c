"""A driver's reported positions must follow a track a van can drive: a handset that
jumps 2 km to the car in seconds is refused, audited, and its track does not move."""

from __future__ import annotations

from sqlalchemy import select

from tests.security.common import NEAR, refused
from tests.support import OFFICE, World
from trunkdrop.access.models import AuditEntry
from trunkdrop.geo import implausible_move

FAR = (OFFICE[0] + 0.018, OFFICE[1])  # ~2 km from the car


def test_implausible_move_allows_a_van_and_the_gps_slack() -> None:
    """2 km in 10 s is too fast; in 2 min it is a van's pace; 150 m at once is GPS slack."""
    fast = {"max_speed_mps": 130 / 3.6, "slack_m": 200}
    assert implausible_move(metres=2000, seconds=10, **fast)
    assert not implausible_move(metres=2000, seconds=120, **fast)
    assert not implausible_move(metres=150, seconds=0, **fast)
    assert implausible_move(metres=500, seconds=-5, **fast)


def test_a_jump_to_the_car_faster_than_a_van_is_refused_and_audited(world: World) -> None:
    """The handset said it was 2 km away; 10 s later it claims to be at the car: 409
    implausible_track, audited without positions, the attempt still started."""
    _, _, stop = world.at_the_stop()
    attempt = world.ok(world.start_attempt(stop, at=FAR), 201)
    world.clock.advance(10)
    refused(world.request_access(attempt["id"], NEAR), 409, "implausible_track")
    with world.platform.uow() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "driver.position_refused")
        ).one()
        assert entry.subject == attempt["id"]
        assert set(entry.data) == {"metres", "seconds"}
    assert world.ok(world.get("driver", f"/v1/attempts/{attempt['id']}"))["status"] == "started"


def test_a_refused_position_does_not_move_the_track(world: World) -> None:
    """Asking twice from the car does not help: the second try is measured from the same
    last fix 2 km away; once a van could have driven it, access is granted."""
    _, _, stop = world.at_the_stop()
    attempt = world.ok(world.start_attempt(stop, at=FAR), 201)
    world.clock.advance(5)
    refused(world.request_access(attempt["id"], NEAR), 409, "implausible_track")
    world.clock.advance(5)
    refused(world.request_access(attempt["id"], NEAR), 409, "implausible_track")
    world.clock.advance(60)
    world.ok(world.request_access(attempt["id"], NEAR), 202)
