"""In-process workers: feed the simulator's reports in, send commands, run the watchdog.

Each step is its own unit of work, so one failing step never undoes another.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from trunkdrop.bootstrap import Platform
from trunkdrop.deliveries import car_link, car_reports, upkeep
from trunkdrop.dispatch import replans
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.models import ReplanRequest
from trunkdrop.errors import DomainError
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.idempotency import service as idempotency
from trunkdrop.notify import relay as outbox
from trunkdrop.operations import service as operations
from trunkdrop.parties import service as parties
from trunkdrop.store.engine import read_only_session
from trunkdrop.vehicles import pending
from trunkdrop.vehicles.adapters.simulator import SimulatorReportSource
from trunkdrop.vehicles.schemas import VehicleEventIn
from trunkdrop.webhooks import pending as webhooks_pending

log = logging.getLogger(__name__)


def pump_simulator(platform: Platform, now: datetime) -> int:
    """Take the cars' reports in (from the simulator or the car link, `platform.reports`)
    exactly as a car maker's webhook would deliver them.

    One transaction per batch. A report the platform refuses (a car nobody linked: the
    webhook's 404) must not undo the others, so when one is refused the batch is taken in
    again with a savepoint per report; savepoints cost more than the reports themselves,
    and refusals are rare, so the first try goes without. When the batch cannot be taken in
    at all (the database is unavailable), the reports are offered again next time, as a car
    maker retries a webhook that failed; taking a report twice is harmless (idempotent).
    Only a committed batch is settled (acknowledged to the broker).
    """
    return _pump(platform, now)[0]


def _pump(
    platform: Platform, now: datetime, done: upkeep.WorkDone | None = None, *, look: bool = True
) -> tuple[int, list[car_link.Claim] | None]:
    """`pump_simulator`; with `done`, the commands waiting are also claimed in the batch's
    transaction (the reports may just have queued a lock): one transaction where there
    were two. Without `look` they are claimed only when the reports may have given the
    dispatcher work (`_may_need_commands`). The claims are None when nothing was claimed
    with the reports."""
    source = platform.reports or SimulatorReportSource(platform.simulator)
    raw_events = source.take(now)
    if not raw_events:
        return 0, None
    # A report arrives when it is taken, not when the pass began: a full pass takes
    # reports again after sending commands, and a car on its own clock (the car link)
    # answers an unlock sent in this very pass. Stamped with the pass's start, its
    # "trunk opened" would be clamped to before the access it answers and taken for the
    # owner's own opening: the attempt would wait for it forever.
    received = max(now, platform.now())
    try:
        count, claims = _take_in(platform, raw_events, received, done, look=look)
    except DBAPIError:
        source.redeliver(raw_events)
        raise
    source.settle(raw_events)
    return count, claims


def _take_in(
    platform: Platform,
    raw_events: list[tuple[str, dict[str, Any]]],
    now: datetime,
    done: upkeep.WorkDone | None = None,
    *,
    look: bool = True,
) -> tuple[int, list[car_link.Claim] | None]:
    reports = [(brand, VehicleEventIn.model_validate(raw)) for brand, raw in raw_events]
    session = platform.session_factory()
    try:
        count = sum(_ingest(platform, session, brand, event, now) for brand, event in reports)
        claims = None
        if done is not None and (look or _may_need_commands(session, reports)):
            claims = car_link.claim_commands(
                session=session, settings=platform.settings, now=now, done=done
            )
            # What these reports queued is claimed here: no wake-up needed for it.
            pending.claimed_in(session)
        session.commit()
        return count, claims
    except DomainError:
        session.rollback()
    finally:
        session.close()
    count = 0
    with platform.uow() as session:
        for brand, event in reports:
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
    return count, None


def _may_need_commands(session: Session, reports: list[tuple[str, VehicleEventIn]]) -> bool:
    """Whether taking these reports in may have given the dispatcher something to send: a
    command they queued (a lock), or a car back in reach whose command waited for it. Most
    batches (a command's answer, a trunk opened, a lock) give none, and looking costs a
    statement that locks."""
    return pending.queued_in(session) or any(e.type == "online" for _, e in reports)


def _ingest(
    platform: Platform, session: Session, brand: str, event: VehicleEventIn, now: datetime
) -> int:
    return int(
        car_reports.ingest_vehicle_event(
            session=session, settings=platform.settings, brand=brand, event_in=event, now=now
        )
    )


def run_commands(
    platform: Platform,
    now: datetime | None = None,
    done: upkeep.WorkDone | None = None,
    *,
    only_if_queued: bool = False,
) -> upkeep.WorkDone:
    """The fast path: take the cars' reports in and send the commands that wait.

    With `only_if_queued`, commands are looked for only when reports came in or a commit
    queued one since the last look (vehicles.pending); the full pass looks regardless.
    """
    now = now or platform.now()
    done = done or upkeep.WorkDone()
    # Taken before looking: a command queued after this is hinted again for the next look.
    hinted = pending.take()
    _, claims = _pump(platform, now, done, look=hinted or not only_if_queued)
    if claims is None:
        if only_if_queued and not hinted:
            return done
        with platform.uow() as session:
            claims = car_link.claim_commands(
                session=session, settings=platform.settings, now=now, done=done
            )
    send_claims(platform, claims, now, done)
    return done


def send_claims(
    platform: Platform, claims: list[car_link.Claim], now: datetime, done: upkeep.WorkDone
) -> None:
    """Send claimed (committed) commands with no transaction open, then record what the
    cars' clouds answered (commit). A crash between claim and record leaves claims that
    the next pass sends again after `command_claim_timeout_s` (car_link.claim_commands)."""
    if not claims:
        return
    _fault_pause_after_claim()
    sent = car_link.send_claimed(registry=platform.registry, claims=claims, now=now)
    with platform.uow() as session:
        car_link.record_sends(session=session, sent=sent, now=now, done=done)


def _fault_pause_after_claim() -> None:
    """Fault-injection point of tests/faults: with TRUNKDROP_FAULT_PAUSE_AFTER_CLAIM_S set
    the worker waits that long between committing a claim and sending it, so a test can
    kill it there. Read from the environment, not Settings: no deployment configures it."""
    pause = os.environ.get("TRUNKDROP_FAULT_PAUSE_AFTER_CLAIM_S")
    if pause:
        time.sleep(float(pause))


def run_once(platform: Platform, now: datetime | None = None) -> upkeep.WorkDone:
    """Every worker step once. Each runs on its own: one that fails (a keyring that cannot
    be loaded, a car maker's outage) is logged and must not stop the others, least of all
    the watchdog that relocks an open trunk."""
    now = now or platform.now()
    done = upkeep.WorkDone()
    failed: list[str] = []

    with ExitStack() as held:
        try:
            # Several worker processes (PostgreSQL): a step that does not claim its rows
            # runs in one of them at a time; the others skip it this pass.
            mine = held.enter_context(operations.step_locks(platform.engine, _EXCLUSIVE_STEPS))
        except Exception:
            log.exception("worker step locks not taken")
            mine = frozenset()
            failed.extend(_EXCLUSIVE_STEPS)
        _run_steps(platform, now, done, mine, failed)
    if failed:
        # The steps that could run have run; the caller learns which did not.
        raise WorkerStepsFailed(failed, done)
    return done


def _run_steps(
    platform: Platform,
    now: datetime,
    done: upkeep.WorkDone,
    mine: frozenset[str],
    failed: list[str],
) -> None:
    def step(name: str, work: Callable[[], object]) -> None:
        if name not in _CLAIMING_STEPS and name not in mine:
            return
        try:
            work()
        except Exception:
            log.exception("worker step %s failed", name)
            failed.append(name)

    def in_transaction(work: Callable[[Session], object]) -> Callable[[], object]:
        def run() -> None:
            with platform.uow() as session:
                work(session)

        return run

    settings, registry = platform.settings, platform.registry
    step("commands", lambda: run_commands(platform, now, done))
    step(
        "revocations",
        in_transaction(
            lambda s: car_link.push_revocations(session=s, registry=registry, now=now, done=done)
        ),
    )
    step(
        "keys",
        in_transaction(
            lambda s: car_link.provision_rotated_keys(
                session=s,
                registry=registry,
                keyring=platform.keyrings.refresh_if_rotated(s, now=now),
                issuer=settings.grant_issuer,
                longest_grant_s=settings.grant_lifetime_s,
                now=now,
                done=done,
            )
        ),
    )
    step(
        "watchdog",
        in_transaction(
            lambda s: upkeep.run_watchdog(session=s, settings=settings, now=now, done=done)
        ),
    )
    step(
        "offline attempts",
        in_transaction(
            lambda s: upkeep.watch_offline_attempts(
                session=s, settings=settings, now=now, done=done
            )
        ),
    )
    step(
        "sweep",
        in_transaction(lambda s: upkeep.sweep(session=s, settings=settings, now=now, done=done)),
    )
    step("reports", lambda: pump_simulator(platform, now))
    step("idempotency keys", in_transaction(lambda s: idempotency.sweep(session=s, now=now)))
    step("webhooks", lambda: platform.relay.drain(platform.uow, now))
    step(
        "messages",
        in_transaction(
            lambda s: outbox.send_pending(
                session=s,
                channels=platform.message_channels,
                default_zone=settings.timezone,
                now=now,
                retry_for=timedelta(seconds=settings.message_retry_s),
            )
        ),
    )


# Steps whose rows are claimed (FOR UPDATE SKIP LOCKED, leases): any number of workers run
# them side by side. The reports are split among workers by the broker (shared subscription).
_CLAIMING_STEPS = frozenset({"commands", "reports", "webhooks", "messages"})
# The others run in one worker at a time (operations.step_locks).
_EXCLUSIVE_STEPS = (
    "revocations", "keys", "watchdog", "offline attempts", "sweep", "idempotency keys",
)  # fmt: skip


class WorkerStepsFailed(RuntimeError):
    """Some steps of a worker pass failed (each was logged); the others ran."""

    def __init__(self, steps: list[str], done: upkeep.WorkDone) -> None:
        super().__init__(f"worker steps failed: {', '.join(steps)}")
        self.steps, self.done = steps, done


def run_replans(
    platform: Platform, now: datetime | None = None, *, route_ids: Collection[str] | None = None
) -> int:
    """Re-order the routes that asked for it (a failed stop's fallback, a late van).

    With `route_ids`, only those routes' requests are answered and no late van is looked
    for: a driver between two stops has their own route re-ordered before setting off.

    A route is re-planned on its own: its parcels are loaded in its van, so they stay on it
    (moving stops between vans still at the depot is the carrier's call: POST
    /v1/plans/replan). The route is read in one transaction, solved outside any (seconds of
    search must not hold SQLite's write lock), and stored in another that first checks
    nothing moved meanwhile; if something did, the route asks again and is re-planned on the
    next round.
    """
    now = now or platform.now()
    if route_ids is None:
        with operations.step_lock(platform.engine, "late vans") as mine:
            if mine:
                with platform.uow() as session:
                    upkeep.watch_late_vans(session=session, settings=platform.settings, now=now)
    # Requests are claimed with a lease: several workers re-plan different routes.
    with platform.uow() as session:
        taken = [
            (r.id, r.route_id)
            for r in dispatch.claim_replan_requests(
                session=session, now=now, lease=timedelta(minutes=10), route_ids=route_ids
            )
        ]
    replanned = 0
    for request_id, route_id in taken:
        try:
            outcome = _replan_route(platform, route_id, now)
        except DomainError as e:
            outcome = f"{e.code}: {e.detail}"
            if e.code == "replan_stale":
                with platform.uow() as session:
                    route = dispatch.get_route(session=session, route_id=route_id)
                    dispatch.request_replan(session=session, route=route, reason="retry", now=now)
        except Exception as e:  # one route's failure must not stop the others
            log.exception("re-planning route %s failed", route_id)
            outcome = f"error: {type(e).__name__}"
        replanned += outcome == "replanned"
        with platform.uow() as session:
            answered = session.get(ReplanRequest, request_id)
            if answered is not None:
                answered.outcome = outcome[:200]
            if outcome == "replanned":
                events.record(
                    session=session, event=Event(kind="route.replanned", at=now, subject=route_id)
                )
    return replanned


def _replan_route(platform: Platform, route_id: str, now: datetime) -> str:
    settings = platform.settings
    with read_only_session(platform.session_factory) as session:
        route = dispatch.get_route(session=session, route_id=route_id)
        draft = replans.prepare_replan(
            session=session,
            settings=settings,
            carrier=parties.get_party(session=session, party_id=route.carrier_id),
            service_date=route.service_date,
            matrix=platform.matrix,
            now=now,
            route_ids=[route_id],
        )
    if not draft.movable:
        return "nothing to move"
    solved = replans.solve_replan(
        draft, seconds=settings.replan_seconds, by_insertion=settings.replan_by == "insertion"
    )
    with platform.uow() as session:
        replans.store_replan(
            session=session, settings=settings, draft=draft, solved=solved, now=now
        )
    return "replanned"


class PlannerThread(threading.Thread):
    """Re-plans days that changed, every `replan_interval_s`, beside the fast-path worker
    (a search takes seconds; commands and the cars' reports must not wait for it)."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(name="trunkdrop-planner", daemon=True)
        self._platform = platform
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self._platform.settings.replan_interval_s):
            try:
                run_replans(self._platform)
            except Exception:  # one failed round must not end re-planning; the error is logged
                log.exception("re-planning round failed")

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)


class WorkerThread(threading.Thread):
    """Runs the workers inside the API process.

    The fast path (cars' reports in, commands out) runs as soon as a request that may have
    queued work has committed (`wake`); everything runs every `worker_interval_s`. A delivery
    then waits for no timer between the access request, the unlock and the lock.
    """

    def __init__(
        self, platform: Platform, on_pass: Callable[[list[str]], None] | None = None
    ) -> None:
        super().__init__(name="trunkdrop-workers", daemon=True)
        self._platform = platform
        self._stopping = threading.Event()
        self._wake = threading.Event()
        # Called after each full pass with the steps that failed (the worker's heartbeat).
        self._on_pass = on_pass

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
                    try:
                        done = run_once(self._platform)
                    except WorkerStepsFailed as e:
                        self._passed(e.steps)
                        raise
                    self._passed([])
                else:
                    done = run_commands(self._platform, only_if_queued=True)
            except WorkerStepsFailed as e:
                done = e.done  # each failed step was logged where it failed; the others ran
            except Exception:  # a worker must survive one bad tick; the error is logged
                log.exception("worker tick failed")
                continue
            if done.sent:
                # A car that answers at once has reported already: take it in now, not a
                # tick later (a lock it asks for is then sent on the next pass).
                self._wake.set()

    def _passed(self, failed: list[str]) -> None:
        """A full pass ran (some steps may have failed): the heartbeat."""
        if self._on_pass is None:
            return
        try:
            self._on_pass(failed)
        except Exception:  # a heartbeat that cannot be written must not stop the work
            log.exception("worker heartbeat failed")

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.join(timeout=5)


class RelayThread(threading.Thread):
    """Sends webhooks beside the other workers, as soon as a commit in this process queued
    one (`webhooks.pending`), and every `webhook_relay_interval_s` for retries and for
    what other processes queued."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(name="trunkdrop-relay", daemon=True)
        self._platform = platform
        self._stopping = threading.Event()

    def run(self) -> None:
        interval = self._platform.settings.webhook_relay_interval_s
        while not self._stopping.is_set():
            webhooks_pending.wait(interval)
            if self._stopping.is_set():
                return
            try:
                self._platform.relay.drain(self._platform.uow, self._platform.now())
            except Exception:  # one failed round must not end the relay; the error is logged
                log.exception("webhook relay round failed")

    def stop(self) -> None:
        self._stopping.set()
        webhooks_pending.wake()
        self.join(timeout=15)
