"""The brands the car link carries: the simulated fleet's (`trunkdrop cars`).

A real car maker on the broker would add its own metadata here, of the same shape.
"""

from __future__ import annotations

from dataclasses import replace

from trunkdrop.vehicles.adapters.simulator.brands import SIM_BRANDS
from trunkdrop.vehicles.ports import AdapterMetadata

# Over the car link the car itself confirms its owner's consent (with its expiry): there is
# no maker's page to redirect the owner to.
MQTT_BRANDS: dict[str, AdapterMetadata] = {
    brand: replace(meta, consent_redirect=False) for brand, meta in SIM_BRANDS.items()
}
