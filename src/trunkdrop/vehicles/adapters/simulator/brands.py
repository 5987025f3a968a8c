"""The simulated brands: what each car maker's cloud and cars can do."""

from __future__ import annotations

from trunkdrop.vehicles.ports import AdapterMetadata, Capabilities

# A car maker's consent to a third party is commonly time-limited; the simulated ones last
# about a quarter.
CONSENT_DAYS = 90

SIM_BRANDS: dict[str, AdapterMetadata] = {
    "sim-aurora": AdapterMetadata(
        brand="sim-aurora",
        display_name="Aurora (simulated, trunk-only unlock, live position)",
        capabilities=Capabilities(
            trunk_only_unlock=True,
            lock_state=True,
            trunk_state=True,
            live_position=True,
            typical_latency_s=8,
            rate_limit_per_min=30,
            power_tailgate=True,
        ),
        consent_lifetime_days=CONSENT_DAYS,
    ),
    "sim-cirrus": AdapterMetadata(
        brand="sim-cirrus",
        display_name="Cirrus (simulated, sleeps when parked, position at trip end)",
        capabilities=Capabilities(
            trunk_only_unlock=True,
            lock_state=True,
            trunk_state=True,
            live_position=False,
            typical_latency_s=20,
            rate_limit_per_min=10,
            needs_wake=True,
        ),
        consent_lifetime_days=CONSENT_DAYS,
    ),
    "sim-borealis": AdapterMetadata(
        brand="sim-borealis",
        display_name="Borealis (simulated, can unlock only the whole car)",
        capabilities=Capabilities(
            trunk_only_unlock=False,
            lock_state=True,
            trunk_state=False,
            live_position=True,
            typical_latency_s=15,
            rate_limit_per_min=10,
        ),
        consent_lifetime_days=CONSENT_DAYS,
    ),
    "sim-dagny": AdapterMetadata(
        brand="sim-dagny",
        display_name="Dagny (simulated, checks grants itself like a digital key, works offline)",
        capabilities=Capabilities(
            trunk_only_unlock=True,
            lock_state=True,
            trunk_state=True,
            live_position=True,
            typical_latency_s=5,
            rate_limit_per_min=30,
            offline_grants=True,
            # The grant is presented over the short-range link: the handset is at the car.
            handset_proximity=True,
        ),
        consent_lifetime_days=CONSENT_DAYS,
    ),
    "sim-eira": AdapterMetadata(
        brand="sim-eira",
        display_name="Eira (simulated, sees the driver's handset over Bluetooth before it opens)",
        capabilities=Capabilities(
            trunk_only_unlock=True,
            lock_state=True,
            trunk_state=True,
            live_position=True,
            typical_latency_s=6,
            rate_limit_per_min=30,
            handset_proximity=True,
        ),
        consent_lifetime_days=CONSENT_DAYS,
    ),
    "sim-fjord": AdapterMetadata(
        brand="sim-fjord",
        display_name="Fjord (simulated, the owner approves on the car maker's own page)",
        capabilities=Capabilities(
            trunk_only_unlock=True,
            lock_state=True,
            trunk_state=True,
            live_position=True,
            typical_latency_s=10,
            rate_limit_per_min=20,
        ),
        consent_redirect=True,
        consent_lifetime_days=CONSENT_DAYS,
    ),
}
