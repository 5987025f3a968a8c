"""Wake-ups across processes: PostgreSQL LISTEN/NOTIFY carries the in-process hints.

A commit that queued a command, changed an API key or a party, or moved an attempt sends a
NOTIFY in its own transaction (delivered only if it commits); every API and worker process
listens and wakes its dispatcher, forgets its cached API keys, or tells its event streams.
Hints only: a process that misses one (its listening connection was cut) still polls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable

import psycopg
from sqlalchemy import Engine

from trunkdrop.api import auth, changes
from trunkdrop.deliveries.models import Attempt
from trunkdrop.parties.models import ApiKey, Party
from trunkdrop.store import hints
from trunkdrop.vehicles import pending
from trunkdrop.vehicles.models import VehicleCommand

log = logging.getLogger(__name__)
CHANNEL = "trunkdrop"
_SENT = "trunkdrop.wakeups.sent"
_announcing = False  # set in processes that run beside others (serve, worker)
_wakers: list[Callable[[], None]] = []


def announce() -> None:
    """From now on, commits in this process NOTIFY the others (PostgreSQL only)."""
    global _announcing
    _announcing = True


def on_commands(wake: Callable[[], None]) -> Callable[[], None]:
    """Call `wake` when any process queued a command (a dispatcher's wake); returns the
    function that stops it."""
    _wakers.append(wake)
    return lambda: _wakers.remove(wake)


def _payloads(flushed: hints.Flushed) -> set[str]:
    found: set[str] = set()
    if any(isinstance(o, VehicleCommand) for o in flushed.new):
        found.add("commands")
    if any(isinstance(o, ApiKey | Party) for o in (*flushed.new, *flushed.dirty, *flushed.deleted)):
        found.add("keys")
    for attempt in (*flushed.new, *flushed.dirty):
        if isinstance(attempt, Attempt):
            # The state as written goes with the hint, so that the other processes' event
            # streams need not read the attempt back (a transaction each).
            read = changes.as_committed(attempt)
            found.add(f"attempt:{attempt.id}" + (f" {read.model_dump_json()}" if read else ""))
    return found


def _notify(flushed: hints.Flushed) -> set[Hashable]:
    """Sends the NOTIFYs inside the flushing transaction; nothing to tell after the commit."""
    session = flushed.session
    if not _announcing or session.get_bind().dialect.name != "postgresql":
        return set()
    sent = session.info.setdefault(_SENT, set())
    for payload in sorted(_payloads(flushed) - sent):
        session.connection().exec_driver_sql(
            "SELECT pg_notify(%(c)s, %(p)s)", {"c": CHANNEL, "p": payload}
        )
        sent.add(payload)
    return set()


# Registered as a hint for its after-flush call; under the same key the hints forget the
# set of sent payloads with the transaction (commit or rollback).
hints.after_commit(_SENT, _notify, lambda _: None)


def _received(engine: Engine, payload: str) -> None:
    if payload == "keys":
        auth.forget_all()
    elif payload == "commands":
        pending.queued_elsewhere()
        for wake in list(_wakers):
            wake()
    elif payload.startswith("attempt:"):
        attempt_id, _, committed = payload.removeprefix("attempt:").partition(" ")
        changes.changed_elsewhere(engine, attempt_id, committed)


class Listener(threading.Thread):
    """LISTENs on its own connection and hands each NOTIFY on; reconnects after a cut."""

    def __init__(self, engine: Engine, dsn: str) -> None:
        super().__init__(name="trunkdrop-wakeups", daemon=True)
        self._engine, self._dsn = engine, dsn
        self._stopping = threading.Event()
        self.listening = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            _received(self._engine, note.payload)
            except Exception:  # a cut connection: polling covers until it is back
                self.listening.clear()
                log.warning("wake-up listener lost its connection; reconnecting")
                self._stopping.wait(1.0)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)


def listen(engine: Engine, url: str) -> Listener | None:
    """Start listening (and announcing) when the database is PostgreSQL; None otherwise."""
    if engine.dialect.name != "postgresql":
        return None
    announce()
    listener = Listener(engine, url.replace("postgresql+psycopg://", "postgresql://", 1))
    listener.start()
    return listener
