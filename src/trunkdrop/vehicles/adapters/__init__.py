"""Car-maker adapters, one package per maker, each of the same shape: its brands' metadata
(brands.py), the adapter of the `VehicleAdapter` port (adapter.py), and what it needs besides."""
