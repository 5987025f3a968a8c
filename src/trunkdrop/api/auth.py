"""Who is calling: API keys checked once, then remembered for a few seconds per process.

Every request authenticates; looking its key up cost a query, a read transaction and a
thread hop each time (a delivery makes seven requests). A key's answer is kept for
`TTL_S`: a change to any key or party committed in this process forgets every answer at
once; one made by another process (the CLI, a second API process) is seen within `TTL_S`.
A stolen API key alone opens nothing: every access request is also signed by a registered,
unrevoked handset, and that is checked against the database every time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from trunkdrop.parties import service as parties
from trunkdrop.parties.models import ApiKey, Party
from trunkdrop.store import hints

TTL_S = 5.0
_MAX_KEYS = 10_000  # a flood of unknown keys must not grow memory: refusals are not kept

_generation = 0  # bumped by every commit in this process that changed a key or a party


@dataclass(frozen=True, slots=True)
class _Known:
    party: dict[str, Any]  # the party's columns
    generation: int
    until: float


_COLUMNS = tuple(column.key for column in inspect(Party).column_attrs)


class KeyCache:
    """Answers of `parties.authenticate`, per platform (one database)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()
        self._monotonic = monotonic

    def __len__(self) -> int:
        return len(self._known)

    def get(self, key: str) -> Party | None:
        known = self._known.get(_digest(key))
        if known is None or known.generation != _generation or known.until < self._monotonic():
            return None
        # A fresh instance per request: nothing shares an ORM object across threads.
        party = Party(**known.party)
        make_transient_to_detached(party)
        return party

    def authenticate(self, session: Session, key: str) -> Party:
        generation = _generation  # read before the query: a change meanwhile forgets it
        party = parties.authenticate(session=session, key=key)
        with self._lock:
            if len(self._known) >= _MAX_KEYS:
                self._known.clear()
            self._known[_digest(key)] = _Known(
                {name: getattr(party, name) for name in _COLUMNS},
                generation,
                self._monotonic() + TTL_S,
            )
        return party


def _digest(key: str) -> str:
    # Remembered by digest: the keys themselves stay out of this process's long-lived memory.
    return hashlib.sha256(key.encode()).hexdigest()


def _changed(flushed: hints.Flushed) -> set[Hashable]:
    touched = (*flushed.new, *flushed.dirty, *flushed.deleted)
    return {"keys"} if any(isinstance(o, ApiKey | Party) for o in touched) else set()


def _forget(_: set[Hashable]) -> None:
    global _generation
    _generation += 1


hints.after_commit("trunkdrop.auth.keys", _changed, _forget)


def forget_all() -> None:
    """Forget every remembered key now: another process changed a key or a party
    (operations.wakeups hears it over PostgreSQL NOTIFY)."""
    _forget(set())
