"""Retailer: checkout and booking. Everyone: their deliveries. Driver: attempts at the car."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from trunkdrop.api import changes
from trunkdrop.api.deps import (
    AtTheCar,
    Caller,
    CommitInView,
    CurrentParty,
    Driver,
    NowDep,
    Operator,
    PlatformDep,
    Retailer,
    SessionDep,
    SettingsDep,
)
from trunkdrop.api.idempotency import IdempotencyKey
from trunkdrop.api.pages import PageParams, page_read
from trunkdrop.bootstrap import Platform
from trunkdrop.checkout import service as checkout
from trunkdrop.consents import service as consents
from trunkdrop.consents.views import ConsentToken
from trunkdrop.deliveries import (
    attempt_reads,
    attempts,
    lookups,
    moves,
    outcomes,
    service,
    stop_failures,
)
from trunkdrop.deliveries.domain import AttemptStatus
from trunkdrop.deliveries.schemas import (
    AccessGranted,
    AccessRequest,
    AttemptRead,
    AttemptSettlement,
    AttemptStart,
    AttemptStarted,
    CheckoutOptionsRead,
    CheckoutRequest,
    CollectRequest,
    DeliveryCreate,
    DeliveryMove,
    DeliveryPage,
    DeliveryRead,
    DepositRequest,
    FailureReport,
)
from trunkdrop.devices.schemas import ChallengeRead, ChallengeRequest
from trunkdrop.errors import Forbidden
from trunkdrop.parties.models import Party, Role
from trunkdrop.store.engine import read_only_session

router = APIRouter(tags=["deliveries"], route_class=CommitInView)
Id = Annotated[str, Path(max_length=32)]
DeliveryState = Literal[
    "booked",
    "out_for_delivery",
    "delivered",
    "returned_to_sender",
    "cancelled",
    "collected",
    "not_collected",
    "at_pickup_point",
    "collected_by_customer",
]


@router.post("/checkout/options", response_model=CheckoutOptionsRead)
def checkout_options(
    request: CheckoutRequest,
    session: SessionDep,
    settings: SettingsDep,
    retailer: Retailer,
    now: NowDep,
    consent: ConsentToken,
) -> CheckoutOptionsRead:
    """Which trunk windows and places a shop may offer for this parcel, or why none. Needs
    the customer's consent (`deliveries:book`)."""
    consents.require(
        session=session,
        retailer_id=retailer.id,
        customer_id=request.customer_id,
        token=consent,
        scope="deliveries:book",
    )
    return service.checkout_options(session=session, settings=settings, request=request, now=now)


@router.post("/deliveries", response_model=DeliveryRead, status_code=status.HTTP_201_CREATED)
def book(
    delivery_in: DeliveryCreate,
    session: SessionDep,
    settings: SettingsDep,
    retailer: Retailer,
    now: NowDep,
    keyed: IdempotencyKey,
    consent: ConsentToken,
) -> DeliveryRead:
    """Book a parcel into the customer's trunk, in the windows and places of its itinerary.
    Into a trunk only with the customer's consent (`deliveries:book`); a delivery to the
    door, to an address the shop gives, needs none."""
    if delivery_in.vehicle_id is not None or delivery_in.itinerary:
        consents.require(
            session=session,
            retailer_id=retailer.id,
            customer_id=delivery_in.customer_id,
            token=consent,
            scope="deliveries:book",
        )

    def create() -> DeliveryRead:
        delivery = service.book(
            session=session, settings=settings, retailer=retailer, delivery_in=delivery_in, now=now
        )
        # The parcel is booked: a checkout widget still showing its options is done.
        checkout.close_for_booking(
            session=session,
            retailer_id=retailer.id,
            customer_id=delivery_in.customer_id,
            parcel_reference=delivery_in.parcel.reference,
            now=now,
        )
        return lookups.to_read(session=session, delivery=delivery)

    return keyed.once(
        session=session,
        party=retailer,
        settings=settings,
        now=now,
        read=DeliveryRead,
        create=create,
    )


@router.get("/deliveries", response_model=DeliveryPage)
def list_deliveries(
    session: SessionDep,
    party: CurrentParty,
    page: PageParams,
    status: Annotated[DeliveryState | None, Query()] = None,
) -> DeliveryPage:
    """The deliveries the caller takes part in, the newest booking first."""
    found = lookups.list_deliveries(
        session=session, party=party, status=status, cursor=page.cursor, limit=page.limit
    )
    return page_read(
        DeliveryPage, found, lambda d: lookups.to_read(session=session, delivery=d, viewer=party)
    )


@router.get("/deliveries/{delivery_id}", response_model=DeliveryRead)
def get_delivery(delivery_id: Id, session: SessionDep, party: CurrentParty) -> DeliveryRead:
    """One delivery with its itinerary, attempts and timeline, as the caller may see it."""
    delivery = lookups.get_delivery(session=session, delivery_id=delivery_id)
    lookups.check_delivery_access(session=session, party=party, delivery=delivery)
    return lookups.to_read(session=session, delivery=delivery, viewer=party)


@router.patch("/deliveries/{delivery_id}", response_model=DeliveryRead)
def move_delivery(
    delivery_id: Id,
    move_in: DeliveryMove,
    session: SessionDep,
    settings: SettingsDep,
    party: CurrentParty,
    now: NowDep,
    consent: ConsentToken,
) -> DeliveryRead:
    """Move a trunk booking to other windows or places while it is booked and not yet
    planned (409 after): by its customer, or by its shop with the customer's consent
    (`deliveries:book`). Checked as a booking is; shop and carrier get `delivery.moved`."""
    delivery = lookups.get_delivery(session=session, delivery_id=delivery_id)
    lookups.check_delivery_access(session=session, party=party, delivery=delivery)
    if party.role == Role.retailer:
        consents.require(
            session=session,
            retailer_id=party.id,
            customer_id=delivery.customer_id,
            token=consent,
            scope="deliveries:book",
        )
    elif party.role != Role.customer:
        raise Forbidden("a booking is moved by its customer or its shop")
    moves.move(
        session=session,
        settings=settings,
        actor=party.id,
        delivery=delivery,
        move_in=move_in,
        now=now,
    )
    return lookups.to_read(session=session, delivery=delivery, viewer=party)


@router.post("/deliveries/{delivery_id}/cancel", response_model=DeliveryRead)
def cancel(delivery_id: Id, session: SessionDep, party: CurrentParty, now: NowDep) -> DeliveryRead:
    """Cancel a delivery that has not been handed over yet."""
    delivery = lookups.get_delivery(session=session, delivery_id=delivery_id)
    lookups.check_delivery_access(session=session, party=party, delivery=delivery)
    service.cancel(session=session, party=party, delivery=delivery, now=now)
    return lookups.to_read(session=session, delivery=delivery)


@router.post(
    "/stops/{stop_id}/attempts",
    response_model=AttemptStarted,
    status_code=status.HTTP_201_CREATED,
)
async def start_attempt(
    stop_id: Id, attempt_in: AttemptStart, call: AtTheCar, keyed: IdempotencyKey
) -> AttemptStarted:
    """The driver is at the stop with the parcel in hand. Name the handset (`device_id`)
    and its challenge for the access request comes with the answer."""

    def started(session: Session) -> AttemptStarted:
        attempt, nonce = attempts.start_attempt_with_challenge(
            session=session,
            settings=call.settings,
            driver=call.driver,
            stop_id=stop_id,
            attempt_in=attempt_in,
            now=call.now,
        )
        started = AttemptStarted.model_validate(attempt)
        started.challenge = None if nonce is None else ChallengeRead.model_validate(nonce)
        return started

    return await call.unit(
        lambda session: keyed.once(
            session=session,
            party=call.driver,
            settings=call.settings,
            now=call.now,
            read=AttemptStarted,
            create=lambda: started(session),
        )
    )


@router.get("/attempts/{attempt_id}", response_model=AttemptRead)
async def get_attempt(attempt_id: Id, call: Caller) -> AttemptRead:
    """One attempt at the car or the door: its state and what it waits for."""
    return await call.unit(
        lambda session: _attempt_read(session, call.party, attempt_id), plain_reads=True
    )


def _attempt_read(session: Session, party: Party, attempt_id: str) -> AttemptRead:
    return attempt_reads.attempt_read(session=session, party=party, attempt_id=attempt_id)


@router.post(
    "/attempts/{attempt_id}/challenge",
    response_model=ChallengeRead,
    status_code=status.HTTP_201_CREATED,
)
async def challenge(attempt_id: Id, body: ChallengeRequest, call: AtTheCar) -> ChallengeRead:
    """A fresh nonce for this handset and attempt: sign (nonce, action, attempt) with the
    handset's key and send the signature with the access request."""
    return await call.unit(
        lambda session: ChallengeRead.model_validate(
            attempts.issue_challenge(
                session=session,
                settings=call.settings,
                driver=call.driver,
                attempt_id=attempt_id,
                device_id=body.device_id,
                now=call.now,
            )
        )
    )


@router.post(
    "/attempts/{attempt_id}/access",
    response_model=AccessGranted,
    status_code=status.HTTP_202_ACCEPTED,
)
async def request_access(attempt_id: Id, body: AccessRequest, call: AtTheCar) -> AccessGranted:
    """Ask to open the trunk. Returns at once; poll the attempt or follow its events."""
    return await call.unit(
        lambda session: attempts.request_access(
            session=session,
            settings=call.settings,
            keyring=call.platform.keyring(session),
            driver=call.driver,
            attempt_id=attempt_id,
            position=body.position,
            proof=body.proof(),
            now=call.now,
        )
    )


@router.post("/attempts/{attempt_id}/deposit", response_model=AttemptRead)
async def confirm_deposit(
    attempt_id: Id, call: AtTheCar, body: DepositRequest | None = None
) -> AttemptRead:
    """The driver has put the parcel in the trunk; the delivery ends when the car reports
    closed and locked. With `scanned_parcel_ref` the parcel is scanned at the trunk and
    must be the booked one (else 409 `parcel_mismatch`, nothing changes)."""
    return await call.unit(
        lambda session: AttemptRead.model_validate(
            attempts.confirm_deposit(
                session=session,
                settings=call.settings,
                driver=call.driver,
                attempt_id=attempt_id,
                now=call.now,
                scanned_parcel_ref=None if body is None else body.scanned_parcel_ref,
            )
        )
    )


@router.post("/attempts/{attempt_id}/collect", response_model=AttemptRead)
async def collect(attempt_id: Id, body: CollectRequest, call: AtTheCar) -> AttemptRead:
    """A pickup: the driver scanned the label of the parcel in the open trunk. The booked
    one is taken out, and the pickup is collected when the car reports closed and locked;
    another label fails the attempt with `label_mismatch` (the parcel stays)."""
    return await call.unit(
        lambda session: AttemptRead.model_validate(
            attempts.collect(
                session=session,
                settings=call.settings,
                driver=call.driver,
                attempt_id=attempt_id,
                scanned_label=body.scanned_label,
                now=call.now,
            )
        )
    )


@router.post("/attempts/{attempt_id}/handover", response_model=AttemptRead)
def confirm_handover(
    attempt_id: Id, session: SessionDep, settings: SettingsDep, driver: Driver, now: NowDep
) -> AttemptRead:
    """The parcel was handed over in person at the door."""
    return AttemptRead.model_validate(
        attempts.confirm_handover(
            session=session, settings=settings, driver=driver, attempt_id=attempt_id, now=now
        )
    )


@router.post("/attempts/{attempt_id}/fail", response_model=AttemptRead)
def report_failure(
    attempt_id: Id,
    body: FailureReport,
    session: SessionDep,
    settings: SettingsDep,
    driver: Driver,
    now: NowDep,
) -> AttemptRead:
    """The driver could not deliver: the reason decides the fallback (next place, home, back
    to the sender)."""
    attempt = stop_failures.report_failure(
        session=session,
        settings=settings,
        driver=driver,
        attempt_id=attempt_id,
        reason=body.reason,
        detail=body.detail,
        now=now,
    )
    return AttemptRead.model_validate(attempt)


@router.post("/attempts/{attempt_id}/settle", response_model=AttemptRead)
def settle_attempt(
    attempt_id: Id,
    body: AttemptSettlement,
    session: SessionDep,
    settings: SettingsDep,
    operator: Operator,
    now: NowDep,
) -> AttemptRead:
    """Operator: decide an attempt whose parcel went into the trunk but whose car never
    confirmed it locked — delivered, or not (then the fallback policy goes on). Resolves
    the attempt's open incidents with the note; audited."""
    attempt = outcomes.settle_attempt(
        session=session,
        settings=settings,
        operator=operator,
        attempt_id=attempt_id,
        delivered=body.outcome == "delivered",
        note=body.note,
        now=now,
    )
    return AttemptRead.model_validate(attempt)


# How often an event stream re-reads its attempt when nobody told it of a change.
_REREAD_S = 2.0


@router.get("/attempts/{attempt_id}/events", response_class=StreamingResponse)
async def follow_attempt(
    attempt_id: Id,
    platform: PlatformDep,
    party: CurrentParty,
    timeout_s: Annotated[int, Query(ge=1, le=900)] = 600,
) -> StreamingResponse:
    """Server-sent events: the attempt each time it changes, until it ends."""
    events = _attempt_events(platform, party, attempt_id, timeout_s)
    # The stream's first event is its first read: a 404 or 403 comes before streaming.
    first = await anext(events)
    return StreamingResponse(_after(first, events), media_type="text/event-stream")


async def _after(first: str, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    yield first
    async for event in rest:
        yield event


def _read_attempt(platform: Platform, party: Party, attempt_id: str) -> AttemptRead:
    with read_only_session(platform.session_factory, autocommit=True) as session:
        return _attempt_read(session, party, attempt_id)


async def _attempt_events(
    platform: Platform, party: Party, attempt_id: str, timeout_s: int
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    told: asyncio.Queue[AttemptRead | None] = asyncio.Queue()

    def tell(read: AttemptRead | None) -> None:  # called from the committing thread
        with contextlib.suppress(RuntimeError):  # the server has shut its loop down
            loop.call_soon_threadsafe(told.put_nowait, read)

    unfollow = changes.follow(platform.engine, attempt_id, tell)
    try:
        last, rank, shown = None, -1, frozenset[str]()
        current: AttemptRead | None = None
        while loop.time() < deadline:
            payload = None if current is None else current.model_dump_json()
            # Read the attempt first, when told of a change it could not see, and when
            # handed a state the ones shown cannot order (see `_older`).
            if current is None or (payload != last and _older(current, rank, shown) is None):
                current = await run_in_threadpool(_read_attempt, platform, party, attempt_id)
                payload = current.model_dump_json()
            if payload != last and not _older(current, rank, shown):
                last, rank, shown = payload, _RANK[current.status], _facts(current)
                yield f"event: attempt\ndata: {payload}\n\n"
                if current.status in (AttemptStatus.succeeded, AttemptStatus.failed):
                    yield f"event: end\ndata: {json.dumps({'status': current.status})}\n\n"
                    return
            # Every writer runs in this process and hands over what it committed
            # (api.changes); the slow re-read only catches a change made elsewhere.
            try:
                current = await asyncio.wait_for(told.get(), _REREAD_S)
            except TimeoutError:
                current = None
    finally:
        unfollow()


_RANK: dict[str, int] = {status.value: rank for rank, status in enumerate(AttemptStatus)}


def _older(read: AttemptRead, rank: int, shown: frozenset[str]) -> bool | None:
    """Whether `read` is older than the state last shown (at step `rank`, with the facts
    `shown`); None when the two alone cannot tell. Commits can hand their states over out
    of order; an attempt only moves forward, and within a step only gains facts."""
    step = _RANK[read.status]
    if step != rank:
        return step < rank
    facts = _facts(read)
    if facts < shown:
        return True
    if facts > shown:
        return False
    return None


def _facts(read: AttemptRead) -> frozenset[str]:
    """The fields an attempt has set; set once, they stay."""
    return frozenset(name for name, value in read if value is not None)
