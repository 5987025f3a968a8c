"""Deliveries: checkout, booking, attempts at the car, fallback; the flows that span domains."""
