"""Driver devices: registered Ed25519 keys, challenges, proof of possession, revocation."""
