"""The brands the car link carries: the simulated fleet's (`trunkdrop cars`).

A real car maker on the broker would add its own metadata here, of the same shape.
"""

from __future__ import annotations

from trunkdrop.vehicles.adapters.simulator.brands import SIM_BRANDS
from trunkdrop.vehicles.ports import AdapterMetadata

MQTT_BRANDS: dict[str, AdapterMetadata] = dict(SIM_BRANDS)
