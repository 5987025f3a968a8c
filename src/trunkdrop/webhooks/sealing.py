"""Webhook signing secrets at rest: sealed with a key derived from the service passphrase
(Fernet from `cryptography`), so that a database dump alone cannot forge webhooks."""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

# A fixed salt: the passphrase is the service's secret, not a user's password, and the
# derived key is cached per process (derivation is deliberately slow).
_SALT = b"trunkdrop/webhook-secrets/v1"


@functools.lru_cache(maxsize=4)
def _fernet(passphrase: str) -> Fernet:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=_SALT, iterations=600_000)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(passphrase.encode())))


def seal(secret: str, *, passphrase: str) -> str:
    return _fernet(passphrase).encrypt(secret.encode()).decode()


def unseal(sealed: str, *, passphrase: str) -> str:
    return _fernet(passphrase).decrypt(sealed.encode()).decode()
