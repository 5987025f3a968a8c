"""Whether a commit in this process queued a webhook since the relay last looked: the relay
thread wakes at once instead of at its next interval. A hint only: the interval catches
what another process queued."""

from __future__ import annotations

import threading

_waiting = threading.Event()


def wake() -> None:
    _waiting.set()


def wait(timeout: float) -> bool:
    """Block until woken or `timeout` seconds passed; True when woken (and forget it)."""
    woken = _waiting.wait(timeout)
    _waiting.clear()
    return woken
