"""The carrier's cost model: what a van day costs, in euros for people and in integer cost
units for the solver (micro-euros per metre, per second and per van)."""

from __future__ import annotations

from dataclasses import dataclass

from trunkdrop.config import Settings

# One solver cost unit is a millionth of a euro: a metre at 0.25 EUR/km is 250 units and a
# second at 25 EUR/h is 6,944, so rounding to integers loses under 0.01 %.
UNITS_PER_EUR = 1_000_000


@dataclass(frozen=True, slots=True)
class CostModel:
    """Driver wage per hour (every hour of the van's day: driving, serving and waiting),
    running cost per km, fixed cost per van used for the day, and CO2 per km."""

    driver_eur_per_hour: float = 25.0
    eur_per_km: float = 0.25
    van_eur_per_day: float = 35.0
    co2_kg_per_km: float = 0.27

    def __post_init__(self) -> None:
        for name in ("driver_eur_per_hour", "eur_per_km", "van_eur_per_day", "co2_kg_per_km"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative, got {getattr(self, name)}.")

    @classmethod
    def from_settings(cls, settings: Settings) -> CostModel:
        return cls(
            driver_eur_per_hour=settings.cost_driver_eur_per_hour,
            eur_per_km=settings.cost_eur_per_km,
            van_eur_per_day=settings.cost_van_eur_per_day,
            co2_kg_per_km=settings.co2_kg_per_km,
        )

    @property
    def fixed_cost(self) -> int:
        """Solver units per van used."""
        return round(self.van_eur_per_day * UNITS_PER_EUR)

    @property
    def unit_distance_cost(self) -> int:
        """Solver units per metre."""
        return round(self.eur_per_km * UNITS_PER_EUR / 1000)

    @property
    def unit_duration_cost(self) -> int:
        """Solver units per second of a van's day."""
        return round(self.driver_eur_per_hour * UNITS_PER_EUR / 3600)

    def day_eur(self, *, vans: int, km: float, van_hours: float) -> float:
        """What a day of `vans` vans driving `km` in `van_hours` costs, in euros."""
        return (
            vans * self.van_eur_per_day
            + km * self.eur_per_km
            + van_hours * self.driver_eur_per_hour
        )
