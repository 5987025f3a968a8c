"""Checkout offers only windows a van can reach from the carrier's depot in time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from trunkdrop.dispatch.reach import window_reachable

TZ = "Europe/Berlin"
DEPOT = (48.1847, 11.5963)
FAR = (48.0950, 11.5400)  # about 11 km away: some 35 minutes at 25 km/h with the detour
EARLY_NOW = datetime(2026, 12, 1, 6, 0, tzinfo=ZoneInfo(TZ))


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 1, hour, minute, tzinfo=ZoneInfo(TZ))


def test_a_window_closing_before_a_van_from_the_depot_can_arrive_is_not_reachable() -> None:
    """Vans leave at 08:00: a place 35 minutes away cannot be served in a window ending 08:20."""
    kwargs = {"depot": DEPOT, "place": FAR, "day_start_hour": 8, "tz": TZ, "now": EARLY_NOW}
    assert not window_reachable(window_end=_at(8, 20), **kwargs)
    assert window_reachable(window_end=_at(10), **kwargs)


def test_later_in_the_day_the_clock_decides_not_the_shift_start() -> None:
    """Asked at 11:50, a window ending at noon 11 km away is out of reach."""
    assert not window_reachable(
        depot=DEPOT, place=FAR, window_end=_at(12), day_start_hour=8, tz=TZ, now=_at(11, 50)
    )
