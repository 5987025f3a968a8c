"""Vehicles: linking with consent, the adapter port, car state from car-maker events, commands."""
