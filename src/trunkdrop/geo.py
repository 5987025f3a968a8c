"""Great-circle distances in whole metres."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> int:
    """Haversine distance between two WGS84 points, rounded to metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a))))


def implausible_move(*, metres: int, seconds: float, max_speed_mps: float, slack_m: int) -> bool:
    """Whether covering `metres` in `seconds` is faster than a van drives. A fix wanders by
    tens of metres, so the first `slack_m` come free."""
    return metres - slack_m > max_speed_mps * max(seconds, 0.0)
