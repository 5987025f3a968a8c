"""Access grants: signing keys, issuing and redeeming one-time trunk grants, the audit chain."""
