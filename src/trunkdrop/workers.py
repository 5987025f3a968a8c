"""In-process workers: feed the simulator's reports in, send commands, run the watchdog.

Each step is its own unit of work, so one failing step never undoes another.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from sqlalchemy.orm import Session

from trunkdrop.bootstrap import Platform
from trunkdrop.deliveries import flows
from trunkdrop.errors import DomainError
from trunkdrop.vehicles.schemas import VehicleEventIn

log = logging.getLogger(__name__)


def pump_simulator(platform: Platform, now: datetime) -> int:
    """Deliver the simulated cars' reports exactly as a car maker's webhook would.

    One transaction per batch. A report the platform refuses (a car nobody linked: the
    webhook's 404) must not undo the others, so when one is refused the batch is taken in
    again with a savepoint per report; savepoints cost more than the reports themselves,
    and refusals are rare, so the first try goes without.
    """
    events = [
        (brand, VehicleEventIn.model_validate(raw))
        for brand, raw in platform.simulator.advance(now)
    ]
    if not events:
        return 0
    session = platform.session_factory()
    try:
        count = sum(_ingest(platform, session, brand, event, now) for brand, event in events)
        session.commit()
        return count
    except DomainError:
        session.rollback()
    finally:
        session.close()
    count = 0
    with platform.uow() as session:
        for brand, event in events:
            try:
                with session.begin_nested():
                    count += _ingest(platform, session, brand, event, now)
            except DomainError as e:
                log.info(
                    "simulator event %s for %s not ingested: %s",
                    event.type,
                    event.vehicle_id,
                    e.code,
                )
    return count


def _ingest(
    platform: Platform, session: Session, brand: str, event: VehicleEventIn, now: datetime
) -> int:
    return int(
        flows.ingest_vehicle_event(
            session=session, settings=platform.settings, brand=brand, event_in=event, now=now
        )
    )


def run_commands(
    platform: Platform, now: datetime | None = None, done: flows.WorkDone | None = None
) -> flows.WorkDone:
    """The fast path: take the cars' reports in and send the commands that wait."""
    now = now or platform.now()
    done = done or flows.WorkDone()
    pump_simulator(platform, now)
    with platform.uow() as session:
        flows.dispatch_commands(
            session=session,
            settings=platform.settings,
            registry=platform.registry,
            now=now,
            done=done,
        )
    return done


def run_once(platform: Platform, now: datetime | None = None) -> flows.WorkDone:
    now = now or platform.now()
    done = run_commands(platform, now)
    with platform.uow() as session:
        flows.push_revocations(session=session, registry=platform.registry, now=now, done=done)
    with platform.uow() as session:
        flows.provision_rotated_keys(
            session=session,
            registry=platform.registry,
            keyring=platform.keyrings.refresh_if_rotated(session, now=now),
            issuer=platform.settings.grant_issuer,
            now=now,
            done=done,
        )
    with platform.uow() as session:
        flows.run_watchdog(session=session, settings=platform.settings, now=now, done=done)
    with platform.uow() as session:
        flows.watch_offline_attempts(
            session=session, settings=platform.settings, now=now, done=done
        )
    with platform.uow() as session:
        flows.sweep(session=session, settings=platform.settings, now=now, done=done)
    pump_simulator(platform, now)
    return done


class WorkerThread(threading.Thread):
    """Runs the workers inside the API process.

    The fast path (cars' reports in, commands out) runs as soon as a request that may have
    queued work has committed (`wake`); everything runs every `worker_interval_s`. A delivery
    then waits for no timer between the access request, the unlock and the lock.
    """

    def __init__(self, platform: Platform) -> None:
        super().__init__(name="trunkdrop-workers", daemon=True)
        self._platform = platform
        self._stopping = threading.Event()
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        interval = self._platform.settings.worker_interval_s
        next_full = time.monotonic() + interval
        while not self._stopping.is_set():
            self._wake.wait(max(0.0, next_full - time.monotonic()))
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                if time.monotonic() >= next_full:
                    next_full = time.monotonic() + interval
                    done = run_once(self._platform)
                else:
                    done = run_commands(self._platform)
                if done.sent:
                    # A car that answers at once has reported already: take it in now,
                    # not a tick later (a lock it asks for is then sent on the next pass).
                    self._wake.set()
            except Exception:  # a worker must survive one bad tick; the error is logged
                log.exception("worker tick failed")

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.join(timeout=5)
