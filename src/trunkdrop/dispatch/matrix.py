"""Distances and travel times between points: the matrix provider port and its providers.

The default needs nothing outside: great-circle distance times a road detour factor, at an
urban average speed. An OSRM-compatible routing server can replace it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
import numpy as np

from trunkdrop.errors import ServiceUnavailable

Point = tuple[float, float]  # latitude, longitude


@dataclass(frozen=True)
class Matrices:
    metres: np.ndarray  # int64, square
    seconds: np.ndarray  # int64, square


class MatrixProvider(Protocol):
    def matrices(self, points: Sequence[Point]) -> Matrices: ...


@dataclass(frozen=True)
class GreatCircleMatrix:
    """Great-circle distance × detour factor; time at an average speed (25 km/h in town)."""

    detour: float = 1.3
    speed_m_per_s: float = 25 / 3.6

    def matrices(self, points: Sequence[Point]) -> Matrices:
        if not points:
            empty = np.zeros((0, 0), dtype=np.int64)
            return Matrices(empty, empty)
        lat = np.radians(np.array([p[0] for p in points], dtype=float))
        lon = np.radians(np.array([p[1] for p in points], dtype=float))
        dlat = lat[:, None] - lat[None, :]
        dlon = lon[:, None] - lon[None, :]
        a = (
            np.sin(dlat / 2) ** 2
            + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
        )
        metres = 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))) * self.detour
        return Matrices(
            metres=np.rint(metres).astype(np.int64),
            seconds=np.rint(metres / self.speed_m_per_s).astype(np.int64),
        )


@dataclass(frozen=True)
class OsrmMatrix:
    """An OSRM-compatible `/table` service (road distances and durations)."""

    base_url: str
    profile: str = "driving"
    timeout_s: float = 30.0

    def matrices(self, points: Sequence[Point]) -> Matrices:
        coords = ";".join(f"{lon:.6f},{lat:.6f}" for lat, lon in points)
        url = f"{self.base_url.rstrip('/')}/table/v1/{self.profile}/{coords}"
        try:
            response = httpx.get(
                url, params={"annotations": "duration,distance"}, timeout=self.timeout_s
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as e:
            raise ServiceUnavailable(f"the routing server did not answer: {e}") from e
        if body.get("code") != "Ok":
            raise ServiceUnavailable(f"the routing server refused the table: {body.get('code')}")
        return Matrices(
            metres=np.rint(np.array(body["distances"], dtype=float)).astype(np.int64),
            seconds=np.rint(np.array(body["durations"], dtype=float)).astype(np.int64),
        )
