"""Idempotency keys: a create sent twice with the same key is answered once."""
