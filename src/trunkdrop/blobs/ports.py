"""The blob-store port: keep bytes under a key, give them back, say when there are none."""

from __future__ import annotations

import re
from typing import Protocol

# Keys are made by trunkdrop (e.g. "attempts/att_1f3c/photo"), never taken from a caller;
# checking them anyway keeps an adapter from writing outside its root.
KEY = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")


class BadKey(ValueError):
    """A key that is not slash-separated words of letters, digits, '_' and '-'."""


def check_key(key: str) -> str:
    if KEY.fullmatch(key) is None:
        raise BadKey(f"not a blob key: {key!r}")
    return key


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Keep `data` under `key`, replacing what was there; whole or not at all."""
        ...

    def get(self, key: str) -> bytes | None:
        """The bytes under `key`, or None when there are none."""
        ...
