"""Linking cars, their owners' switches, and the state their makers report."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CTE, Select, String, and_, bindparam, cast, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trunkdrop.errors import Conflict, Forbidden, InvalidInput, NotFound
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties.models import Party, Role
from trunkdrop.store.base import UTCDateTime, insert_if_absent, new_id, table_of
from trunkdrop.store.pages import Order, Page, page_of
from trunkdrop.vehicles.models import Vehicle, VehicleCommand, VehicleEvent
from trunkdrop.vehicles.ports import (
    AdapterError,
    Capabilities,
    GrantKeys,
    VehicleAdapter,
    VehicleConfirmation,
)
from trunkdrop.vehicles.registry import AdapterRegistry
from trunkdrop.vehicles.schemas import VehicleEventIn, VehicleLink, VehicleRead


def link_vehicle(
    *,
    session: Session,
    registry: AdapterRegistry,
    owner: Party,
    vehicle_in: VehicleLink,
    now: datetime,
    grant_issuer: str | None = None,
    grant_public_keys: dict[str, bytes] | None = None,
) -> Vehicle:
    """Link a car the maker confirms directly. A car that verifies grants itself gets the
    platform's issuer and public keys (never a private key) provisioned here."""
    confirmation = _confirmed(registry, vehicle_in.brand, vehicle_in.external_id, now)
    return link_confirmed(
        session=session,
        registry=registry,
        owner=owner,
        vehicle_in=vehicle_in,
        confirmation=confirmation,
        now=now,
        grant_issuer=grant_issuer,
        grant_public_keys=grant_public_keys,
    )


def link_confirmed(
    *,
    session: Session,
    registry: AdapterRegistry,
    owner: Party,
    vehicle_in: VehicleLink,
    confirmation: VehicleConfirmation,
    now: datetime,
    grant_issuer: str | None = None,
    grant_public_keys: dict[str, bytes] | None = None,
) -> Vehicle:
    """Link a car with what its maker confirmed: directly, or after the owner approved on
    the maker's own page (`vehicles.consent`)."""
    adapter = registry.get(vehicle_in.brand)
    existing = session.scalars(
        select(Vehicle).where(
            Vehicle.brand == vehicle_in.brand, Vehicle.external_id == vehicle_in.external_id
        )
    ).one_or_none()
    if (
        existing is not None
        and existing.unlinked_at is None
        and existing.consent_withdrawn_at is not None
        and existing.owner_id == owner.id
    ):
        # The owner withdrew consent and links the car again: the same link comes back to life
        # (its deliveries and history keep their car), with what the maker confirms now.
        vehicle = existing
        vehicle.make = vehicle_in.make
        vehicle.model = vehicle_in.model
        vehicle.year = vehicle_in.year
        vehicle.plate = vehicle_in.plate.upper()
        vehicle.colour = vehicle_in.colour
        vehicle.trunk_volume_l = vehicle_in.trunk_volume_l
        vehicle.capabilities = asdict(confirmation.capabilities)
        _consent_given(session, vehicle, confirmation, actor=owner.id, now=now, how="link")
        return _provisioned(
            vehicle, adapter, confirmation, grant_issuer, grant_public_keys, now=now
        )
    if existing is not None and existing.unlinked_at is None:
        raise Conflict(
            "this car is already linked", code="vehicle_already_linked", field="external_id"
        )
    if existing is not None:
        # Unlinked: its deliveries and history keep the old row; the car comes back as new.
        forget_maker_id(vehicle=existing)
        session.flush()
    vehicle = Vehicle(
        id=new_id("veh"),
        owner_id=owner.id,
        brand=vehicle_in.brand,
        external_id=vehicle_in.external_id,
        make=vehicle_in.make,
        model=vehicle_in.model,
        year=vehicle_in.year,
        plate=vehicle_in.plate.upper(),
        colour=vehicle_in.colour,
        trunk_volume_l=vehicle_in.trunk_volume_l,
        capabilities=asdict(confirmation.capabilities),
        consent_scopes=list(confirmation.consent_scopes),
        consent_expires_at=confirmation.consent_expires_at,
        created_at=now,
    )
    session.add(vehicle)
    try:
        session.flush()
    except IntegrityError as e:
        raise Conflict("this car is already linked", code="vehicle_already_linked") from e
    return _provisioned(vehicle, adapter, confirmation, grant_issuer, grant_public_keys, now=now)


def _confirmed(
    registry: AdapterRegistry, brand: str, external_id: str, now: datetime
) -> VehicleConfirmation:
    try:
        return registry.get(brand).confirm_vehicle(external_id=external_id, now=now)
    except AdapterError as e:
        if e.code == "consent_redirect_required":
            raise Conflict(
                f"the owner approves this brand at the car maker: {e}",
                field="brand",
                code=e.code,
            ) from e
        raise InvalidInput(
            f"the car maker did not confirm this car: {e}", field="external_id", code=e.code
        ) from e


def _provisioned(
    vehicle: Vehicle,
    adapter: VehicleAdapter,
    confirmation: VehicleConfirmation,
    grant_issuer: str | None,
    grant_public_keys: dict[str, bytes] | None,
    *,
    now: datetime,
) -> Vehicle:
    if confirmation.capabilities.offline_grants:
        if grant_issuer is None or not grant_public_keys:
            raise InvalidInput(
                "this car verifies grants itself and needs the platform's keys", field="brand"
            )
        try:
            adapter.provision_grant_keys(
                external_id=vehicle.external_id,
                keys=GrantKeys(
                    issuer=grant_issuer, vehicle_id=vehicle.id, public_keys=grant_public_keys
                ),
                now=now,
            )
        except AdapterError as e:
            raise InvalidInput(
                f"the car maker could not provision the car: {e}", field="external_id", code=e.code
            ) from e
        vehicle.grant_keys_digest = keys_digest(grant_public_keys)
    return vehicle


def keys_digest(public_keys: dict[str, bytes]) -> str:
    """Names a set of public keys by their ids and bytes (what a car was provisioned with)."""
    h = hashlib.sha256()
    for kid in sorted(public_keys):
        h.update(kid.encode() + b"\0" + public_keys[kid] + b"\0")
    return h.hexdigest()


def cars_missing_keys(*, session: Session, digest: str) -> list[Vehicle]:
    """Linked cars that check grants themselves and hold another key set than `digest`."""
    return list(
        session.scalars(
            select(Vehicle).where(
                Vehicle.unlinked_at.is_(None),
                Vehicle.grant_keys_digest.is_not(None),
                Vehicle.grant_keys_digest != digest,
            )
        )
    )


def capabilities_of(vehicle: Vehicle) -> Capabilities:
    return Capabilities(**vehicle.capabilities)


def trunk_delivery_blockers(vehicle: Vehicle, *, now: datetime | None = None) -> list[str]:
    """Every reason this car cannot take a trunk delivery now (empty: it can). With `now`,
    a car maker's consent that ran out counts before the sweep has noted it."""
    blockers = capabilities_of(vehicle).trunk_delivery_blockers()
    if vehicle.unlinked_at is not None:
        blockers.append("vehicle_unlinked")
    if vehicle.consent_withdrawn_at is not None or "trunk_access" not in vehicle.consent_scopes:
        blockers.append("no_consent")
    elif consent_expired(vehicle, now=now):
        blockers.append("consent_expired")
    if vehicle.access_blocked:
        blockers.append("access_blocked")
    return blockers


def consent_expired(vehicle: Vehicle, *, now: datetime | None = None) -> bool:
    """The car maker's consent ran out: noted by the sweep, or past its end at `now`."""
    if vehicle.consent_expired_at is not None:
        return True
    ends = vehicle.consent_expires_at
    return now is not None and ends is not None and ends <= now


def consent_lasts(vehicle: Vehicle, *, until: datetime) -> bool:
    """The car maker's consent still holds at `until` (a window's end)."""
    ends = vehicle.consent_expires_at
    return ends is None or until <= ends


def check_consent_lasts(vehicle: Vehicle, *, until: datetime) -> None:
    """Refuse a booking whose windows run past the end of the car maker's consent: no grant
    could open the trunk then. The owner renews first."""
    if not consent_lasts(vehicle, until=until):
        assert vehicle.consent_expires_at is not None
        raise Conflict(
            "the owner's consent at the car maker ends at "
            f"{vehicle.consent_expires_at.isoformat()}, before a window of this itinerary "
            "closes; the owner renews it first",
            code="consent_ends_before_window",
            field="itinerary",
            extra={"consent_expires_at": vehicle.consent_expires_at.isoformat()},
        )


def to_read(vehicle: Vehicle, *, now: datetime | None = None) -> VehicleRead:
    return VehicleRead.model_validate(
        {
            **{c: getattr(vehicle, c) for c in VehicleRead.model_fields if hasattr(vehicle, c)},
            "trunk_delivery_blockers": trunk_delivery_blockers(vehicle, now=now),
        }
    )


def list_vehicles(*, session: Session, owner: Party) -> list[Vehicle]:
    return list(session.scalars(_owned(owner).order_by(Vehicle.created_at, Vehicle.id)))


def page_vehicles(
    *, session: Session, owner: Party, cursor: str | None, limit: int
) -> Page[Vehicle]:
    """The owner's linked cars, the first linked first, one page."""
    query = _owned(owner)
    return page_of(
        session,
        query,
        order=(Order(Vehicle.created_at), Order(Vehicle.id)),
        key=lambda r: (r.created_at, r.id),
        cursor=cursor,
        limit=limit,
    )


def _owned(owner: Party) -> Select[Any]:
    return select(Vehicle).where(Vehicle.owner_id == owner.id, Vehicle.unlinked_at.is_(None))


def get_vehicle(*, session: Session, vehicle_id: str) -> Vehicle:
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None or vehicle.unlinked_at is not None:
        raise NotFound(f"no vehicle with id {vehicle_id!r}", field="vehicle_id")
    return vehicle


def get_owned_vehicle(*, session: Session, owner: Party, vehicle_id: str) -> Vehicle:
    vehicle = get_vehicle(session=session, vehicle_id=vehicle_id)
    if vehicle.owner_id != owner.id and owner.role != Role.operator:
        raise Forbidden("this vehicle belongs to another customer")
    return vehicle


def get_customers_vehicle(*, session: Session, vehicle_id: str, customer_id: str) -> Vehicle:
    """The customer's own linked car, for booking. Another customer's is not found, as one
    that does not exist: a shop must not learn which cars exist."""
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None or vehicle.unlinked_at is not None or vehicle.owner_id != customer_id:
        raise NotFound(f"the customer has no car with id {vehicle_id!r}", field="vehicle_id")
    return vehicle


def set_access_blocked(*, session: Session, vehicle: Vehicle, blocked: bool) -> Vehicle:
    vehicle.access_blocked = blocked
    session.flush()
    return vehicle


def withdraw_consent(*, session: Session, vehicle: Vehicle, now: datetime) -> Vehicle:
    vehicle.consent_withdrawn_at = now
    vehicle.consent_scopes = []
    session.flush()
    return vehicle


def give_consent(
    *, session: Session, registry: AdapterRegistry, owner: Party, vehicle_id: str, now: datetime
) -> Vehicle:
    """The owner gives consent again after withdrawing it, or renews one that ran out or
    soon will: the scopes (and term) the car maker confirms now. Grants and attempts the
    withdrawal or expiry ended stay ended. A brand that asks the owner on its own page
    refuses (`vehicles.consent` renews it)."""
    vehicle = get_owned_vehicle(session=session, owner=owner, vehicle_id=vehicle_id)
    confirmation = _confirmed(registry, vehicle.brand, vehicle.external_id, now)
    renew_consent(session=session, vehicle=vehicle, confirmation=confirmation, owner=owner, now=now)
    return vehicle


def renew_consent(
    *,
    session: Session,
    vehicle: Vehicle,
    confirmation: VehicleConfirmation,
    owner: Party,
    now: datetime,
) -> Vehicle:
    """The car maker confirmed the owner's consent again: scopes and a new term."""
    _consent_given(session, vehicle, confirmation, actor=owner.id, now=now, how="consent")
    return vehicle


def _consent_given(
    session: Session,
    vehicle: Vehicle,
    confirmation: VehicleConfirmation,
    *,
    actor: str,
    now: datetime,
    how: str,
) -> None:
    vehicle.consent_withdrawn_at = None
    vehicle.consent_scopes = list(confirmation.consent_scopes)
    # A renewal starts a new term: the next warning and expiry are its own.
    vehicle.consent_expires_at = confirmation.consent_expires_at
    vehicle.consent_expired_at = vehicle.consent_warned_at = None
    facts: dict[str, Any] = {"scopes": vehicle.consent_scopes, "via": how}
    if confirmation.consent_expires_at is not None:
        facts["expires_at"] = confirmation.consent_expires_at.isoformat()
    events.record(
        session=session,
        event=Event(
            kind="vehicle.consent_given",
            at=now,
            subject=vehicle.id,
            actor=actor,
            facts=facts,
        ),
    )
    session.flush()


def linked_car(brand: Any, external_id: Any) -> Any:
    """The condition naming the linked car a maker's report is about."""
    return and_(
        Vehicle.brand == brand, Vehicle.external_id == external_id, Vehicle.unlinked_at.is_(None)
    )


# Statements the cars' reports run for every event, built once: building one costs more
# than running it.
_LINKED_BY_EXTERNAL_ID = select(Vehicle).where(
    linked_car(bindparam("brand"), bindparam("external_id"))
)


def find_by_external_id(*, session: Session, brand: str, external_id: str) -> Vehicle:
    vehicle = session.scalars(
        _LINKED_BY_EXTERNAL_ID, {"brand": brand, "external_id": external_id}
    ).one_or_none()
    if vehicle is None:
        raise NotFound(f"no linked vehicle {external_id!r} for brand {brand!r}", field="vehicle_id")
    return vehicle


def bounded_report(
    event_in: VehicleEventIn, *, received_at: datetime, max_ahead_s: int
) -> VehicleEventIn:
    """The report with the time it may claim: never after it reached the platform.

    A report dated ahead would win every later comparison, so one report from the future
    could hide every true report after it (a car seen at its place while it drives away, a
    trunk "locked" before the unlock opens it). Within `max_ahead_s` (clock drift) it counts
    as made on arrival; further ahead it is refused."""
    claimed = event_in.occurred_at
    if claimed <= received_at:
        return event_in
    if claimed - received_at > timedelta(seconds=max_ahead_s):
        raise InvalidInput(
            f"occurred_at lies {int((claimed - received_at).total_seconds())} s after the "
            f"report arrived; a car's clock may be at most {max_ahead_s} s ahead",
            field="occurred_at",
            code="report_from_the_future",
        )
    return event_in.model_copy(update={"occurred_at": received_at})


def record_event(
    *,
    session: Session,
    brand: str,
    event_in: VehicleEventIn,
    now: datetime,
    vehicle: Vehicle | None = None,
    log_position: bool = True,
    keep_position: bool = True,
) -> tuple[Vehicle, bool]:
    """Store a car-maker event and fold it into the car's state.

    Returns the car and whether the event is new (False when it was seen before:
    idempotent). An event older than the state it would change is kept but does not
    change it: clouds reorder.
    """
    if vehicle is None:
        vehicle = find_by_external_id(session=session, brand=brand, external_id=event_in.vehicle_id)
    row = event_row(
        brand=brand, event_in=event_in, vehicle=vehicle, now=now, log_position=log_position
    )
    # One statement decides "new or seen before", also when two deliveries of the same
    # event race: the unique (brand, event_id) keeps one, the other inserts nothing.
    if not insert_if_absent(session, VehicleEvent, row):
        return vehicle, False
    fold_new(vehicle, event_in, now=now, keep_position=keep_position)
    return vehicle, True


def event_row(
    *, brand: str, event_in: VehicleEventIn, vehicle: Vehicle, now: datetime, log_position: bool
) -> dict[str, Any]:
    """The car's event as its log stores it: coordinates only where the owner lets the
    platform know them and a delivery needs them (`log_position`)."""
    if event_in.type == "position" and (event_in.latitude is None or event_in.longitude is None):
        raise InvalidInput("a position event needs latitude and longitude", field="latitude")
    unseen = set(_ALWAYS_UNSEEN)
    if not location_consented(vehicle, now=now) or not log_position:
        unseen |= {"latitude", "longitude"}  # not even kept in the event log
    return {
        "brand": brand,
        "event_id": event_in.event_id,
        "vehicle_id": vehicle.id,
        "type": event_in.type,
        "occurred_at": event_in.occurred_at,
        "received_at": now,
        "data": event_in.model_dump(mode="json", exclude=unseen, exclude_none=True),
    }


# What the log row holds in its own columns, not in `data`.
_ALWAYS_UNSEEN = frozenset({"event_id", "vehicle_id", "type", "occurred_at"})


def plain_event_data(event_in: VehicleEventIn) -> dict[str, Any] | None:
    """The log's `data` of a report that carries no coordinates, which depends on nothing
    the car's row holds (so it can be written in the statement that reads the car); None
    for a report with coordinates (what is kept of them depends on the owner's consent)."""
    if event_in.latitude is not None or event_in.longitude is not None:
        return None
    return event_in.model_dump(mode="json", exclude=set(_ALWAYS_UNSEEN), exclude_none=True)


def logged_if_new() -> CTE:
    """PostgreSQL: the report written to the log unless seen before, as a data-modifying
    WITH of the statement that reads the car (it names the car's id): the read and the
    write that decides "new" are one round trip. It returns a row only when it wrote one.
    Binds maker (the brand), maker_car (the car's external id), event_id, type,
    occurred_at, received_at and data (a report without coordinates: `plain_event_data`).
    The car's own columns are not bind names: a statement that writes the car's row would
    write a parameter named like one of its columns to it."""
    table = table_of(VehicleEvent)
    source = select(
        cast(bindparam("maker"), String),
        cast(bindparam("event_id"), String),
        Vehicle.id,
        cast(bindparam("type"), String),
        cast(bindparam("occurred_at", type_=UTCDateTime()), UTCDateTime()),
        cast(bindparam("received_at", type_=UTCDateTime()), UTCDateTime()),
        cast(bindparam("data", type_=table.c.data.type), table.c.data.type),
    ).where(linked_car(bindparam("maker"), bindparam("maker_car")))
    columns = ["brand", "event_id", "vehicle_id", "type", "occurred_at", "received_at", "data"]
    return (
        pg_insert(table)
        .from_select(columns, source)
        .on_conflict_do_nothing()
        .returning(table.c.id, table.c.vehicle_id)
        .cte("logged")
    )


def finished_if_logged(logged: CTE, status: str) -> CTE:
    """PostgreSQL: the command a car's report answers marked `status` (`finish_command`),
    as a data-modifying WITH beside `logged_if_new`: only when the report is new, the
    command is that car's and it still waits for an answer. It returns a row only when it
    finished the command; rows read beside it show the command as it was before. Binds
    command_id, received_at (the time it finished) and detail (None: kept)."""
    table = table_of(VehicleCommand)
    return (
        table.update()
        .where(
            table.c.id == bindparam("command_id"),
            table.c.status.in_(ANSWERABLE),
            table.c.vehicle_id.in_(select(logged.c.vehicle_id)),
        )
        .values(
            status=status,
            finished_at=bindparam("received_at", type_=UTCDateTime()),
            detail=func.coalesce(bindparam("detail", type_=String), table.c.detail),
        )
        .returning(table.c.id)
        .cte("finished")
    )


# The states of a command the car's answer may still finish.
ANSWERABLE = ("pending", "sending", "sent")


def folded_if_logged(logged: CTE, kind: str) -> CTE:
    """PostgreSQL: a report of a kind in `WRITES_STATE` folded into its car's row (`_fold`)
    as a data-modifying WITH beside `logged_if_new`: only when the report is new and not
    older than the state it would change. It returns a row only when it changed the car;
    `folded_state` is then what the session's copy learns. Binds occurred_at."""
    table = table_of(Vehicle)
    since, _ = _STATE_OF[kind]
    at = bindparam("occurred_at", type_=UTCDateTime())
    values = {k: (at if v is _AT else v) for k, v in _STATE_OF[kind][1].items()}
    last = table.c[since]
    return (
        table.update()
        .where(table.c.id.in_(select(logged.c.vehicle_id)), or_(last.is_(None), last <= at))
        .values(values)
        .returning(table.c.id)
        .cte("folded")
    )


def folded_state(kind: str, at: datetime) -> dict[str, Any]:
    """What a report of `kind` (in `WRITES_STATE`) made at `at` sets on its car."""
    return {k: (at if v is _AT else v) for k, v in _STATE_OF[kind][1].items()}


_AT = object()  # the report's time
# What a report of each kind sets on the car (as `_fold`), and the time it must not be
# older than.
_STATE_OF: dict[str, tuple[str, dict[str, Any]]] = {
    "trunk_opened": (
        "trunk_state_at",
        {
            "trunk_state": "open",
            "trunk_state_at": _AT,
            "lock_state": "unlocked",
            "lock_state_at": _AT,
        },
    ),
    "trunk_closed": ("trunk_state_at", {"trunk_state": "closed", "trunk_state_at": _AT}),
    "locked": ("lock_state_at", {"lock_state": "locked", "lock_state_at": _AT}),
    "unlocked": ("lock_state_at", {"lock_state": "unlocked", "lock_state_at": _AT}),
}
WRITES_STATE = frozenset(_STATE_OF)


def fold_new(
    vehicle: Vehicle, event_in: VehicleEventIn, *, now: datetime, keep_position: bool = True
) -> None:
    """Fold an event seen for the first time into the car's state (written by the next
    query's autoflush or the commit)."""
    if event_in.type == "position" and not keep_position:
        return  # no delivery needs to know where this car is
    _fold(vehicle, event_in, now=now)


def location_consented(vehicle: Vehicle, *, now: datetime | None = None) -> bool:
    """The owner lets the platform know where the car is (during delivery windows), and
    the car maker's consent has not run out."""
    return (
        vehicle.consent_withdrawn_at is None
        and "location_during_windows" in (vehicle.consent_scopes or [])
        and not consent_expired(vehicle, now=now)
    )


def _newer(at: datetime, last: datetime | None) -> bool:
    return last is None or at >= last


def _fold(vehicle: Vehicle, ev: VehicleEventIn, *, now: datetime) -> None:
    at = ev.occurred_at
    if (
        ev.type == "position"
        and _newer(at, vehicle.position_at)
        and location_consented(vehicle, now=now)
    ):
        vehicle.latitude, vehicle.longitude, vehicle.position_at = ev.latitude, ev.longitude, at
    elif ev.type in ("trunk_opened", "trunk_closed") and _newer(at, vehicle.trunk_state_at):
        vehicle.trunk_state = "open" if ev.type == "trunk_opened" else "closed"
        vehicle.trunk_state_at = at
        if ev.type == "trunk_opened":
            vehicle.lock_state, vehicle.lock_state_at = "unlocked", at
    elif ev.type in ("locked", "unlocked") and _newer(at, vehicle.lock_state_at):
        vehicle.lock_state, vehicle.lock_state_at = ev.type, at
    elif ev.type in ("online", "offline"):
        vehicle.online = ev.type == "online"


def create_command(
    *,
    session: Session,
    vehicle: Vehicle,
    kind: str,
    now: datetime,
    expires_at: datetime,
    attempt_id: str | None = None,
    grant_id: str | None = None,
) -> VehicleCommand:
    command = VehicleCommand(
        id=new_id("cmd"),
        vehicle_id=vehicle.id,
        kind=kind,
        attempt_id=attempt_id,
        grant_id=grant_id,
        status="pending",
        created_at=now,
        expires_at=expires_at,
    )
    session.add(command)
    session.flush()
    return command


def commands_to_handle(
    *, session: Session, now: datetime, stale: datetime | None = None, limit: int = 200
) -> list[tuple[VehicleCommand, Vehicle]]:
    """Commands the dispatcher must act on, each with its car: those still to send, claims
    (`sending`) made before `stale` whose outcome was never recorded, and sent or claimed
    ones whose time ran out. A sent command within its time waits for the car's answer
    and is not even read (under load, most open commands are such)."""
    rows = session.execute(
        _COMMANDS_TO_HANDLE, {"now": now, "stale": stale or now, "limit": limit}
    ).all()
    return [(command, vehicle) for command, vehicle in rows]


# The dispatcher asks after every write: built once.
_COMMANDS_TO_HANDLE = (
    select(VehicleCommand, Vehicle)
    .join(Vehicle, Vehicle.id == VehicleCommand.vehicle_id)
    .where(
        or_(
            VehicleCommand.status == "pending",
            and_(VehicleCommand.status == "sending", VehicleCommand.sent_at <= bindparam("stale")),
            and_(
                VehicleCommand.status.in_(("sending", "sent")),
                VehicleCommand.expires_at <= bindparam("now"),
            ),
        )
    )
    .order_by(VehicleCommand.created_at)
    .limit(bindparam("limit"))
    # Several API processes each run a dispatcher (PostgreSQL): each takes the commands no
    # other holds, so one unlock is never sent twice. SQLite's one writer serialises them.
    .with_for_update(skip_locked=True, of=VehicleCommand)
)


def finish_command(
    *, command: VehicleCommand, status: str, now: datetime, detail: str | None = None
) -> None:
    command.status = status
    command.finished_at = now
    if detail:
        command.detail = detail[:200]


def forget_position(*, vehicle: Vehicle) -> None:
    vehicle.latitude = vehicle.longitude = None
    vehicle.position_at = None


def pseudonymise(*, session: Session, vehicle: Vehicle) -> None:
    """An unlinked or erased car's plate and colour go; so do the positions in its event
    log. Its id stays for the deliveries and the audit chain that name it; its maker's id
    until no revoked grant needs telling to the car (`forget_maker_id`)."""
    vehicle.plate, vehicle.colour = "erased", ""
    forget_position(vehicle=vehicle)
    for row in session.scalars(select(VehicleEvent).where(VehicleEvent.vehicle_id == vehicle.id)):
        if "latitude" in row.data or "longitude" in row.data:
            row.data = {k: v for k, v in row.data.items() if k not in ("latitude", "longitude")}
    session.flush()


def forget_maker_id(*, vehicle: Vehicle) -> None:
    """The unlinked car's maker's id (its VIN) goes: reports under it find no car, and the
    car can be linked again as a new one."""
    vehicle.external_id = f"{ERASED_MAKER_ID}{vehicle.id}"


# The prefix of an unlinked car's maker's id once forgotten.
ERASED_MAKER_ID = "erased-"


def every_vehicle_of(*, session: Session, owner_id: str) -> list[Vehicle]:
    """The owner's cars, the unlinked ones too (erasure reaches them all)."""
    return list(session.scalars(select(Vehicle).where(Vehicle.owner_id == owner_id)))
