"""The car simulator, the reference vehicle adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trunkdrop.vehicles.adapters.simulator import SIM_BRANDS, CarSimulator, SimulatorAdapter
from trunkdrop.vehicles.ports import CommandOrder, VehicleAsleep

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def setup() -> tuple[CarSimulator, SimulatorAdapter]:
    sim = CarSimulator()
    adapter = SimulatorAdapter("sim-aurora", sim)
    adapter.confirm_vehicle(external_id="CAR1", now=T0)
    return sim, adapter


def test_unlock_reaches_the_car_after_its_latency_and_opens_only_the_trunk() -> None:
    """The trunk opens after the brand's latency, and the car reports it."""
    sim, adapter = setup()
    adapter.send_command(
        CommandOrder("cmd1", "CAR1", "unlock_trunk", T0 + timedelta(seconds=30)), now=T0
    )
    assert sim.advance(T0 + timedelta(seconds=1)) == []
    events = sim.advance(T0 + timedelta(seconds=10))
    assert [e["type"] for _, e in events] == ["command_executed", "trunk_opened"]
    assert sim.car("sim-aurora", "CAR1").trunk_open is True


def test_a_command_that_arrives_late_is_dropped_by_the_car() -> None:
    """A command whose expiry passed before it reached the car is rejected, never executed."""
    sim, adapter = setup()
    sim.configure("sim-aurora", "CAR1", latency_s=45.0)
    adapter.send_command(
        CommandOrder("cmd1", "CAR1", "unlock_trunk", T0 + timedelta(seconds=30)), now=T0
    )
    events = sim.advance(T0 + timedelta(seconds=60))
    assert [(e["type"], e.get("detail")) for _, e in events] == [("command_rejected", "expired")]
    assert sim.car("sim-aurora", "CAR1").trunk_open is False


def test_sleeping_car_must_be_woken_explicitly() -> None:
    """A parked car of a sleepy brand refuses commands until woken."""
    sim = CarSimulator()
    adapter = SimulatorAdapter("sim-cirrus", sim)
    adapter.confirm_vehicle(external_id="CAR2", now=T0)
    sim.park("sim-cirrus", "CAR2", 48.1, 11.5, T0)
    order = CommandOrder("cmd1", "CAR2", "unlock_trunk", T0 + timedelta(seconds=30))
    with pytest.raises(VehicleAsleep):
        adapter.send_command(order, now=T0)
    adapter.wake(external_id="CAR2", now=T0)
    adapter.send_command(order, now=T0)
    assert sim.pending_commands() == 1


def test_whole_car_brand_is_not_eligible_for_trunk_delivery() -> None:
    """A brand that can only unlock the whole car declares it, and eligibility follows."""
    assert (
        "whole_car_unlock_only" in SIM_BRANDS["sim-borealis"].capabilities.trunk_delivery_blockers()
    )
    assert SIM_BRANDS["sim-aurora"].capabilities.trunk_delivery_blockers() == []


def test_lock_with_trunk_open_closes_a_power_tailgate_first() -> None:
    """Locking a car with a power tailgate closes the trunk and reports closed and locked."""
    sim, adapter = setup()
    adapter.send_command(
        CommandOrder("u", "CAR1", "unlock_trunk", T0 + timedelta(seconds=30)), now=T0
    )
    sim.advance(T0 + timedelta(seconds=10))
    adapter.send_command(
        CommandOrder("l", "CAR1", "lock", T0 + timedelta(seconds=60)),
        now=T0 + timedelta(seconds=20),
    )
    events = sim.advance(T0 + timedelta(seconds=40))
    assert [e["type"] for _, e in events] == ["trunk_closed", "command_executed", "locked"]


def test_offline_car_never_receives_commands() -> None:
    """A command to an offline car is accepted by the cloud but never executed."""
    sim, adapter = setup()
    sim.go_offline("sim-aurora", "CAR1", T0)
    adapter.send_command(
        CommandOrder("u", "CAR1", "unlock_trunk", T0 + timedelta(seconds=30)), now=T0
    )
    assert [e["type"] for _, e in sim.advance(T0 + timedelta(minutes=5))] == ["offline"]
    assert sim.car("sim-aurora", "CAR1").trunk_open is False
