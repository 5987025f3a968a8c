"""Pickup points and parcel lockers: where a parcel nobody could take waits for its customer."""
