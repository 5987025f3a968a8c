"""Payments behind one port; no real provider yet, a fake that records what was paid."""
