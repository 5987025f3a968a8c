"""The driver ends a stop without delivering: the attempt failed (nobody opened, the car
did not answer), or the parcel is in a trunk that never confirmed it locked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from trunkdrop.config import Settings
from trunkdrop.deliveries import attempts, domain, lookups, outcomes
from trunkdrop.deliveries.models import Attempt
from trunkdrop.dispatch import service as dispatch
from trunkdrop.errors import Conflict, InvalidInput
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties.models import Party


def report_failure(
    *,
    session: Session,
    settings: Settings,
    driver: Party,
    attempt_id: str,
    reason: str,
    detail: str | None,
    now: datetime,
) -> Attempt:
    attempt = attempts.own_attempt(session, driver, attempt_id)
    if reason == domain.Reason.nothing_to_collect and not domain.is_pickup(
        lookups.get_delivery(session=session, delivery_id=attempt.delivery_id).purpose
    ):
        raise InvalidInput(
            "nothing_to_collect is a pickup's reason; this stop delivers", field="reason"
        )
    if (
        attempt.status == domain.AttemptStatus.deposited
        and reason == domain.Reason.car_unresponsive
    ):
        return _leave_unconfirmed(session=session, settings=settings, attempt=attempt, now=now)
    if attempt.status not in (
        domain.AttemptStatus.started,
        domain.AttemptStatus.unlocking,
        domain.AttemptStatus.trunk_open,
    ):
        raise Conflict(
            f"an attempt that is {attempt.status} cannot fail now", code="illegal_transition"
        )
    outcomes.fail_attempt(
        session=session,
        settings=settings,
        attempt=attempt,
        reason=reason,
        detail=detail or "reported by the driver",
        now=now,
    )
    return attempt


def _leave_unconfirmed(
    *, session: Session, settings: Settings, attempt: Attempt, now: datetime
) -> Attempt:
    """The parcel is in the trunk and the car never reported closed and locked, however
    often the watchdog told it to lock: the driver ends the stop and goes on. The attempt
    stays `deposited` (a late lock report still completes the delivery), the incident stays
    open for an operator, and the next stop opens. Not before the watchdog gave up: until
    then the car may still answer."""
    if attempt.relock_tries <= settings.relock_max_tries:
        raise Conflict(
            "the car may still lock: wait until trunkdrop has given up relocking it "
            f"({attempt.relock_tries} of {settings.relock_max_tries} lock commands so far)",
            code="relock_in_progress",
        )
    stop = dispatch.get_stop(session=session, stop_id=attempt.stop_id, for_update=True)
    if stop.status != "pending":
        raise Conflict(f"this stop is {stop.status}", code="stop_finished")
    dispatch.finish_stop(stop=stop, status="done")
    dispatch.maybe_finish_route(session=session, route_id=stop.route_id)
    events.record(
        session=session,
        event=Event(
            kind="attempt.left_unconfirmed",
            at=now,
            subject=attempt.id,
            actor=attempt.driver_id,
            delivery_id=attempt.delivery_id,
            facts={"reason": domain.Reason.car_unresponsive, "relock_tries": attempt.relock_tries},
            text="the car did not confirm it is locked; the driver went on and an operator "
            "follows up",
        ),
    )
    session.flush()
    return attempt
