"""Which adapter speaks for which brand; the composition root fills it."""

from __future__ import annotations

from trunkdrop.errors import InvalidInput
from trunkdrop.vehicles.ports import VehicleAdapter


class AdapterRegistry:
    def __init__(self, adapters: list[VehicleAdapter] | None = None) -> None:
        self._by_brand: dict[str, VehicleAdapter] = {}
        for adapter in adapters or []:
            self.register(adapter)

    def register(self, adapter: VehicleAdapter) -> None:
        self._by_brand[adapter.metadata.brand] = adapter

    def get(self, brand: str) -> VehicleAdapter:
        try:
            return self._by_brand[brand]
        except KeyError:
            known = ", ".join(sorted(self._by_brand))
            raise InvalidInput(
                f"no vehicle adapter for brand {brand!r}; known: {known}", field="brand"
            ) from None

    def brands(self) -> list[str]:
        return sorted(self._by_brand)
