"""Which attempts a commit changed, told to the event streams that follow them.

A stream is handed the attempt as committed (its `AttemptRead`), so it reads nothing
from the database while the attempt moves; when the committed state is not all in memory
it is handed None and reads the attempt itself. A hint only: a stream still re-reads on
its own now and then, so a change this misses (another process made it) is shown late,
never lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import UTC, datetime

from sqlalchemy import Engine, inspect

from trunkdrop.deliveries.models import Attempt
from trunkdrop.deliveries.schemas import AttemptRead
from trunkdrop.store import hints

Follower = Callable[[AttemptRead | None], None]
_lock = threading.Lock()
# Keyed by the database (the engine) too: two platforms in one process (tests, tools)
# may hold attempts with the same id.
_followers: dict[tuple[Engine, str], set[Follower]] = {}
_FIELDS = tuple(AttemptRead.model_fields)


def follow(engine: Engine, attempt_id: str, callback: Follower) -> Callable[[], None]:
    """Call `callback` (from any thread) after each commit that changed the attempt, with
    the attempt as committed (None when it has to be read).

    Returns the function that stops following.
    """
    key = (engine, attempt_id)
    with _lock:
        _followers.setdefault(key, set()).add(callback)

    def unfollow() -> None:
        with _lock:
            callbacks = _followers.get(key)
            if callbacks is not None:
                callbacks.discard(callback)
                if not callbacks:
                    del _followers[key]

    return unfollow


def _changed(flushed: hints.Flushed) -> set[Hashable]:
    if not _followers:
        return set()
    bind = flushed.session.get_bind()
    return {(bind, o) for o in (*flushed.new, *flushed.dirty) if isinstance(o, Attempt)}


def as_committed(attempt: Attempt) -> AttemptRead | None:
    """The attempt as it was committed, from memory only: a lazy load here would start a
    new transaction in a session that has just ended its own."""
    state = inspect(attempt).dict
    if any(name not in state for name in _FIELDS):
        return None
    # In UTC, as the database hands them back: the same state then reads the same.
    return AttemptRead.model_validate({name: _utc(state[name]) for name in _FIELDS})


def _utc(value: object) -> object:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _tell(changed: set[Hashable]) -> None:
    pairs: list[tuple[Engine, Attempt]] = [p for p in changed if isinstance(p, tuple)]
    with _lock:
        told = [(a, list(_followers.get((bind, a.id), ()))) for bind, a in pairs]
    for attempt, callbacks in told:
        if callbacks:
            read = as_committed(attempt)
            for callback in callbacks:
                callback(read)


hints.after_commit("trunkdrop.changes.attempts", _changed, _tell)


def changed_elsewhere(engine: Engine, attempt_id: str, committed: str = "") -> None:
    """Another process committed a change to the attempt (heard over PostgreSQL NOTIFY,
    with the attempt as committed in JSON when that process had it in memory): its
    followers here are handed it, or read it themselves."""
    with _lock:
        callbacks = list(_followers.get((engine, attempt_id), ()))
    if not callbacks:
        return
    read = AttemptRead.model_validate_json(committed) if committed else None
    for callback in callbacks:
        callback(read)
