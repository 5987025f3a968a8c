"""Which attempts a commit changed, told to the event streams that follow them.

A stream then reads its attempt when it changed instead of on a timer. A hint only: a
stream still re-reads on its own now and then, so a change this misses is shown late,
never lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from sqlalchemy.orm import Session

from trunkdrop.deliveries.models import Attempt
from trunkdrop.store import hints

_lock = threading.Lock()
_followers: dict[str, set[Callable[[], None]]] = {}


def follow(attempt_id: str, callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` (from any thread) after each commit that changed the attempt.

    Returns the function that stops following.
    """
    with _lock:
        _followers.setdefault(attempt_id, set()).add(callback)

    def unfollow() -> None:
        with _lock:
            callbacks = _followers.get(attempt_id)
            if callbacks is not None:
                callbacks.discard(callback)
                if not callbacks:
                    del _followers[attempt_id]

    return unfollow


def _changed(session: Session) -> set[Hashable]:
    if not _followers:
        return set()
    return {o.id for o in (*session.new, *session.dirty) if isinstance(o, Attempt)}


def _tell(changed: set[Hashable]) -> None:
    with _lock:
        callbacks = [c for a in changed for c in _followers.get(str(a), ())]
    for callback in callbacks:
        callback()


hints.after_commit("trunkdrop.changes.attempts", _changed, _tell)
