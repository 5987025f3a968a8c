"""Checkout sessions: a shop's short-lived pass for its checkout widget in the customer's browser."""
