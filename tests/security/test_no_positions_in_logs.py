"""Nothing positional in the logs: a whole trunk delivery run with the platform's JSON logs
at DEBUG (SQL logging on) leaves no coordinate it used in the log output."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from tests.security.common import NEAR
from tests.support import CENTRE, HOME, OFFICE, World
from trunkdrop.operations import logs

# Where the car is parked for the late report below, and a driver's refused position.
ELSEWHERE = (48.1623, 11.5861)
TOO_FAR = (48.1457, 11.5709)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The platform's own JSON log configuration at DEBUG, written to a buffer; the test
    run's handlers are put back afterwards."""
    root = logging.getLogger()
    kept, level = root.handlers[:], root.level
    engine = logging.getLogger("sqlalchemy.engine")
    engine_level = engine.level
    buffer = io.StringIO()
    logs.configure("DEBUG", json=True)
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    engine.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        engine.setLevel(engine_level)
        root.handlers[:] = kept
        root.setLevel(level)


def _forms(value: float) -> set[str]:
    """How a coordinate would appear written with 3 or more decimals (rounded or cut)."""
    cut = f"{value:.7f}"[: f"{value:.7f}".index(".") + 4]
    return {cut, f"{value:.3f}"}


def test_a_whole_delivery_logs_no_coordinate(world: World, json_log: io.StringIO) -> None:
    """A delivery (booking, planning, the car's reports, the driver's positions, access,
    unlock, deposit, lock), a refused position and a bad car report log at DEBUG without
    any of the coordinates used, to three decimals."""
    vehicle, _, attempt = world.ready_at_car()
    refused = world.request_access(attempt["id"], TOO_FAR)
    assert refused.status_code == 409
    world.deliver_into_trunk(vehicle, attempt)
    report = {
        "event_id": "late-1",
        "vehicle_id": vehicle["external_id"],
        "type": "position",
        "occurred_at": world.clock.now().isoformat(),
        "latitude": ELSEWHERE[0],
        "longitude": ELSEWHERE[1],
    }
    world.ok(world.post("aurora-cloud", "/v1/vehicle-events", report), 202)
    bad = {**report, "event_id": "late-2", "latitude": 91.2345678}
    assert world.post("aurora-cloud", "/v1/vehicle-events", bad).status_code == 422
    world.tick(10)

    logged = json_log.getvalue()
    lines = logged.splitlines()
    assert len(lines) > 50 and all(line.startswith("{") for line in lines)
    assert any('"sqlalchemy.engine' in line for line in lines), "SQL was logged"
    used = {*CENTRE, *OFFICE, *HOME, *NEAR, *TOO_FAR, *ELSEWHERE, 91.2345678}
    leaks = sorted(
        {form for value in used for form in _forms(value) if re.search(re.escape(form), logged)}
    )
    assert leaks == [], f"coordinates in the logs: {leaks}"
