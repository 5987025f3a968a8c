"""Parties as they are created: ids that tell the role."""

from __future__ import annotations

from tests.support import World


def test_carriers_and_car_makers_ids_have_distinct_prefixes(world: World) -> None:
    """A carrier's id starts `car_`, a car maker's `mkr_`: one prefix names one role."""
    assert world.ids["carrier"].startswith("car_")
    assert world.ids["aurora-cloud"].startswith("mkr_")
    prefixes = {party_id.split("_")[0] for party_id in world.ids.values()}
    assert len(prefixes) == 6  # customer, retailer, carrier, driver, car maker, operator
