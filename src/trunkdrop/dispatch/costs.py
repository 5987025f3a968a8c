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
    running cost per km, fixed cost per van used for the day, and CO2 per km; and what a
    door stop risks: the chance nobody opens, times what the second attempt then costs."""

    driver_eur_per_hour: float = 25.0
    eur_per_km: float = 0.25
    van_eur_per_day: float = 35.0
    co2_kg_per_km: float = 0.27
    door_miss_probability: float = 0.3
    repeat_attempt_eur: float = 4.0

    def __post_init__(self) -> None:
        names = (
            "driver_eur_per_hour",
            "eur_per_km",
            "van_eur_per_day",
            "co2_kg_per_km",
            "door_miss_probability",
            "repeat_attempt_eur",
        )
        for name in names:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative, got {getattr(self, name)}.")
        if self.door_miss_probability > 1:
            raise ValueError(
                f"door_miss_probability is a probability, got {self.door_miss_probability}."
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> CostModel:
        return cls(
            driver_eur_per_hour=settings.cost_driver_eur_per_hour,
            eur_per_km=settings.cost_eur_per_km,
            van_eur_per_day=settings.cost_van_eur_per_day,
            co2_kg_per_km=settings.co2_kg_per_km,
            door_miss_probability=settings.cost_door_miss_probability,
            repeat_attempt_eur=settings.cost_repeat_attempt_eur,
        )

    @property
    def door_risk_eur(self) -> float:
        """What a door stop is expected to cost beyond itself: the second attempt it causes
        when nobody opens. A trunk whose car reported where it stands carries no such risk."""
        return self.door_miss_probability * self.repeat_attempt_eur

    def door_risk_m(self, fallback_m: int) -> int:
        """The door's risk as metres of detour at the km rate (the solver's arc costs are
        metres); `fallback_m` when km are free and so cannot carry a price."""
        if self.eur_per_km <= 0:
            return fallback_m
        return round(self.door_risk_eur / self.eur_per_km * 1000)

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
