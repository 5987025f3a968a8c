"""The cost model prices a door stop at the repeat attempt it is expected to cause."""

from __future__ import annotations

import pytest

from trunkdrop.config import Settings
from trunkdrop.dispatch.costs import CostModel


def test_door_risk_is_miss_probability_times_a_second_attempt() -> None:
    """0.25 × 8 EUR is 2 EUR, which at 0.50 EUR/km is a detour of 4 km."""
    model = CostModel(eur_per_km=0.5, door_miss_probability=0.25, repeat_attempt_eur=8.0)
    assert model.door_risk_eur == pytest.approx(2.0)
    assert model.door_risk_m(fallback_m=3_000) == 4_000


def test_free_km_cannot_carry_the_door_risk_so_the_fallback_detour_does() -> None:
    """With km priced at zero the risk is the fixed fallback detour, not an infinite one."""
    assert CostModel(eur_per_km=0.0).door_risk_m(fallback_m=3_000) == 3_000


def test_both_door_settings_reach_the_model() -> None:
    """The carrier's settings, not the defaults, set the door's price."""
    settings = Settings(cost_door_miss_probability=0.1, cost_repeat_attempt_eur=6.0)
    model = CostModel.from_settings(settings)
    assert (model.door_miss_probability, model.repeat_attempt_eur) == (0.1, 6.0)


def test_a_miss_probability_above_one_is_refused() -> None:
    """A probability of 1.5 is a typo, not a price."""
    with pytest.raises(ValueError, match="probability"):
        CostModel(door_miss_probability=1.5)
