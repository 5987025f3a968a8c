"""The pure core of a delivery: item rules, windows, access checks, state machine, fallback.

Nothing here imports a framework, the database or a clock: time comes in as `now`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from trunkdrop.geo import distance_m


class DeliveryStatus(enum.StrEnum):
    booked = "booked"
    out_for_delivery = "out_for_delivery"
    delivered = "delivered"
    returned_to_sender = "returned_to_sender"
    cancelled = "cancelled"
    # A pickup (a return, a send) taken out of the trunk, the car closed and locked again.
    collected = "collected"
    # A pickup that ended without its parcel: nothing there, the wrong one, the car gone.
    not_collected = "not_collected"
    # A delivery nobody could take: held at a pickup point of its carrier for the customer.
    at_pickup_point = "at_pickup_point"
    # The customer fetched it from the pickup point with their code.
    collected_by_customer = "collected_by_customer"


class Purpose(enum.StrEnum):
    """Which way the parcel goes at the trunk: in (a delivery) or out (a pickup)."""

    delivery = "delivery"
    # The shop authorised it; the customer left it in the trunk.
    return_ = "return"
    # The customer bought postage and left the labelled parcel or letter in the trunk.
    send = "send"


PICKUPS = frozenset({Purpose.return_, Purpose.send})


def is_pickup(purpose: str) -> bool:
    return purpose in PICKUPS


DELIVERY_TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    DeliveryStatus.booked: frozenset(
        {
            DeliveryStatus.out_for_delivery,
            DeliveryStatus.cancelled,
            DeliveryStatus.returned_to_sender,
            DeliveryStatus.not_collected,
            # A stop skipped before the van left (the car reported it is elsewhere).
            DeliveryStatus.at_pickup_point,
        }
    ),
    # Back to booked: not reached today, the parcel waits at the depot for the next day.
    DeliveryStatus.out_for_delivery: frozenset(
        {
            DeliveryStatus.delivered,
            DeliveryStatus.returned_to_sender,
            DeliveryStatus.booked,
            DeliveryStatus.collected,
            DeliveryStatus.not_collected,
            DeliveryStatus.at_pickup_point,
        }
    ),
    # Not fetched within the holding period: the point sends it back.
    DeliveryStatus.at_pickup_point: frozenset(
        {DeliveryStatus.collected_by_customer, DeliveryStatus.returned_to_sender}
    ),
    DeliveryStatus.collected_by_customer: frozenset(),
    DeliveryStatus.delivered: frozenset(),
    DeliveryStatus.collected: frozenset(),
    DeliveryStatus.not_collected: frozenset(),
    DeliveryStatus.returned_to_sender: frozenset(),
    DeliveryStatus.cancelled: frozenset(),
}


class AttemptStatus(enum.StrEnum):
    started = "started"  # the driver is at the stop with the parcel scanned
    unlocking = "unlocking"  # grant issued, unlock command on its way
    trunk_open = "trunk_open"  # the car reported the trunk open
    deposited = "deposited"  # the driver confirmed; waiting for closed and locked
    succeeded = "succeeded"
    failed = "failed"


ATTEMPT_TRANSITIONS: dict[AttemptStatus, frozenset[AttemptStatus]] = {
    AttemptStatus.started: frozenset(
        {AttemptStatus.unlocking, AttemptStatus.succeeded, AttemptStatus.failed}
    ),
    AttemptStatus.unlocking: frozenset({AttemptStatus.trunk_open, AttemptStatus.failed}),
    AttemptStatus.trunk_open: frozenset({AttemptStatus.deposited, AttemptStatus.failed}),
    # Failed only by an operator: the car never confirmed, and the parcel is not there.
    AttemptStatus.deposited: frozenset({AttemptStatus.succeeded, AttemptStatus.failed}),
    AttemptStatus.succeeded: frozenset(),
    AttemptStatus.failed: frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, what: str, current: str, target: str) -> None:
        article = "an" if what[:1] in ("a", "e", "i", "o", "u") else "a"
        super().__init__(f"{article} {what} cannot go from {current} to {target}")
        self.current, self.target = current, target


def check_delivery_transition(current: str, target: str) -> DeliveryStatus:
    cur, tgt = DeliveryStatus(current), DeliveryStatus(target)
    if tgt not in DELIVERY_TRANSITIONS[cur]:
        raise IllegalTransition("delivery", cur, tgt)
    return tgt


def check_attempt_transition(current: str, target: str) -> AttemptStatus:
    cur, tgt = AttemptStatus(current), AttemptStatus(target)
    if tgt not in ATTEMPT_TRANSITIONS[cur]:
        raise IllegalTransition("attempt", cur, tgt)
    return tgt


class Reason(enum.StrEnum):
    """Why an attempt failed. Stable codes: retailers and carriers key on them."""

    vehicle_not_found = "vehicle_not_found"
    vehicle_moved = "vehicle_moved"
    vehicle_offline = "vehicle_offline"
    trunk_not_opened = "trunk_not_opened"
    trunk_full = "trunk_full"
    outside_window = "outside_window"
    access_blocked = "access_blocked"
    no_consent = "no_consent"
    # The car maker's consent ran out and the owner has not renewed it.
    consent_expired = "consent_expired"
    parcel_mismatch = "parcel_mismatch"
    parcel_damaged = "parcel_damaged"
    driver_not_at_vehicle = "driver_not_at_vehicle"
    command_expired = "command_expired"
    device_revoked = "device_revoked"
    nobody_home = "nobody_home"
    address_not_found = "address_not_found"
    not_reached = "not_reached"
    # The car never confirmed it closed and locked, however often it was told to.
    car_unresponsive = "car_unresponsive"
    # An operator settled what the car left undecided.
    operator_override = "operator_override"
    # A pickup: the trunk held no parcel to take, or one whose label is not the booked one.
    nothing_to_collect = "nothing_to_collect"
    label_mismatch = "label_mismatch"
    other = "other"


# What a driver may report by hand; the rest are decided by the platform.
DRIVER_REASONS = frozenset(
    {
        Reason.vehicle_not_found,
        Reason.trunk_full,
        Reason.trunk_not_opened,
        Reason.parcel_damaged,
        Reason.nobody_home,
        Reason.address_not_found,
        Reason.car_unresponsive,
        Reason.nothing_to_collect,
        Reason.other,
    }
)


def label_matches(scanned: str, *, tracking_number: str, code_payload: str | None) -> bool:
    """The label the driver scanned in the trunk is the booked pickup's: its printed
    tracking number, or the payload of its 2-D code."""
    scanned = scanned.strip()
    return bool(scanned) and scanned in {tracking_number, code_payload}


# -- item rules --------------------------------------------------------------------------
@dataclass(frozen=True)
class Parcel:
    length_cm: int
    width_cm: int
    height_cm: int
    weight_g: int
    declared_value_cents: int
    signature_required: bool = False
    age_restricted: bool = False
    perishable: bool = False
    hazardous: bool = False

    @property
    def volume_l(self) -> float:
        return self.length_cm * self.width_cm * self.height_cm / 1000


@dataclass(frozen=True)
class ItemRules:
    max_weight_g: int = 22_000
    max_dims_cm: tuple[int, int, int] = (66, 53, 41)
    max_declared_value_cents: int = 150_000


@dataclass(frozen=True)
class Violation:
    code: str
    message: str
    field: str | None = None


def parcel_violations(parcel: Parcel, rules: ItemRules) -> list[Violation]:
    """Item rules that hold whatever the car: weight, size, value and forbidden flags."""
    found: list[Violation] = []
    if parcel.weight_g > rules.max_weight_g:
        found.append(
            Violation(
                "parcel_too_heavy",
                f"parcel weighs {parcel.weight_g} g; trunk delivery takes at most "
                f"{rules.max_weight_g} g",
                "parcel.weight_g",
            )
        )
    dims = sorted((parcel.length_cm, parcel.width_cm, parcel.height_cm), reverse=True)
    limits = sorted(rules.max_dims_cm, reverse=True)
    if any(d > m for d, m in zip(dims, limits, strict=True)):
        found.append(
            Violation(
                "parcel_too_big",
                f"parcel is {dims[0]}×{dims[1]}×{dims[2]} cm; trunk delivery takes at most "
                f"{limits[0]}×{limits[1]}×{limits[2]} cm",
                "parcel",
            )
        )
    if parcel.declared_value_cents > rules.max_declared_value_cents:
        found.append(
            Violation(
                "declared_value_too_high",
                f"declared value {parcel.declared_value_cents / 100:.2f} EUR is above "
                f"{rules.max_declared_value_cents / 100:.2f} EUR",
                "parcel.declared_value_cents",
            )
        )
    for flag in ("signature_required", "age_restricted", "perishable", "hazardous"):
        if getattr(parcel, flag):
            found.append(
                Violation(
                    f"{flag}_not_allowed",
                    f"{flag.replace('_', ' ')} items cannot go into a trunk",
                    f"parcel.{flag}",
                )
            )
    return found


def fits_trunk(parcel: Parcel, trunk_volume_l: int) -> Violation | None:
    # Trunks are never empty and never box-shaped: only half the volume is usable.
    usable = trunk_volume_l * 0.5
    if parcel.volume_l > usable:
        return Violation(
            "parcel_too_big_for_trunk",
            f"parcel needs {parcel.volume_l:.0f} l; this trunk has about {usable:.0f} l usable",
            "parcel",
        )
    return None


# -- windows -----------------------------------------------------------------------------
# The shortest window a booking may name, and so the shortest slot checkout offers: one rule
# for both, so that every window booking accepts at the day's end is also offered.
MIN_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class TimeWindow:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("a window must end after it starts")

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def overlaps(self, other: TimeWindow) -> bool:
        return self.start < other.end and other.start < self.end


def day_slots(
    day: date, *, tz: str, start_hour: int, end_hour: int, slot_minutes: int
) -> list[TimeWindow]:
    """The windows offered at checkout for one local day, in UTC: `slot_minutes` each from
    the day's start; the last ends at the day's end, shorter if need be (20–21 of 08–21 in
    2 h slots), as long as it is at least `MIN_WINDOW`, which booking accepts too."""
    zone = ZoneInfo(tz)
    opens = datetime.combine(day, time(start_hour), zone)
    closes = datetime.combine(day, time(0), zone) + timedelta(hours=end_hour)
    slots = []
    cursor = opens
    step = timedelta(minutes=slot_minutes)
    while closes - cursor >= MIN_WINDOW:
        end = min(cursor + step, closes)
        slots.append(TimeWindow(cursor.astimezone(UTC), end.astimezone(UTC)))
        cursor = end
    return slots


def service_hours(day: date, *, tz: str, start_hour: int, end_hour: int) -> TimeWindow:
    zone = ZoneInfo(tz)
    opens = datetime.combine(day, time(start_hour), zone)
    closes = datetime.combine(day, time(0), zone) + timedelta(hours=end_hour)
    return TimeWindow(opens.astimezone(UTC), closes.astimezone(UTC))


# -- access checks -----------------------------------------------------------------------
@dataclass(frozen=True)
class AccessContext:
    """Everything the platform knows when a driver asks to open a trunk."""

    now: datetime
    window: TimeWindow
    place_lat: float
    place_lon: float
    vehicle_lat: float | None
    vehicle_lon: float | None
    vehicle_position_at: datetime | None
    vehicle_online: bool
    vehicle_blockers: tuple[str, ...]
    driver_lat: float
    driver_lon: float
    vehicle_radius_m: int
    driver_radius_m: int
    position_max_age_s: int
    live_grant_on_vehicle: bool = False
    # The car verifies grants itself (offline mode): it may be out of reach of the platform,
    # and it checks its own position against the grant's geofence.
    car_verifies_grant: bool = False
    # A pickup whose customer never said the parcel is in the trunk: nothing to open it for.
    nothing_to_collect: bool = False


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    # A final refusal ends the attempt; the others let the driver fix it and ask again.
    final: bool = True
    details: dict[str, int] = field(default_factory=dict)


# Blockers that are the owner's say, each refused under its own reason.
_OWNER_SAID = ("access_blocked", "no_consent", "consent_expired")


def access_refusals(ctx: AccessContext) -> list[Refusal]:
    """Every rule that forbids opening this trunk now, most important first (empty: allowed)."""
    found: list[Refusal] = []
    if "access_blocked" in ctx.vehicle_blockers:
        found.append(Refusal(Reason.access_blocked, "the owner has blocked access to this car"))
    if "no_consent" in ctx.vehicle_blockers:
        found.append(Refusal(Reason.no_consent, "the owner has withdrawn consent to trunk access"))
    if "consent_expired" in ctx.vehicle_blockers:
        found.append(
            Refusal(Reason.consent_expired, "the owner's consent at the car maker has expired")
        )
    if ctx.nothing_to_collect:
        found.append(
            Refusal(
                Reason.nothing_to_collect,
                "the customer has not confirmed the parcel is in the trunk",
            )
        )
    other = [b for b in ctx.vehicle_blockers if b not in _OWNER_SAID]
    if other:
        found.append(
            Refusal("vehicle_not_capable", f"car cannot take trunk delivery: {', '.join(other)}")
        )
    if ctx.now < ctx.window.start:
        found.append(
            Refusal(
                Reason.outside_window,
                f"the window opens at {ctx.window.start.isoformat()}",
                final=False,
            )
        )
    elif ctx.now >= ctx.window.end:
        found.append(
            Refusal(Reason.outside_window, f"the window closed at {ctx.window.end.isoformat()}")
        )
    if not ctx.vehicle_online and not ctx.car_verifies_grant:
        found.append(Refusal(Reason.vehicle_offline, "the car is offline"))
    if (
        ctx.vehicle_lat is None
        or ctx.vehicle_lon is None
        or ctx.vehicle_position_at is None
        or (ctx.now - ctx.vehicle_position_at).total_seconds() > ctx.position_max_age_s
    ):
        if ctx.car_verifies_grant:
            # Unknown to us, but the car checks the geofence itself: the driver must be there.
            return found + _driver_at_place(ctx)
        found.append(Refusal(Reason.vehicle_not_found, "the car has not reported where it is"))
        return found
    from_place = distance_m(ctx.vehicle_lat, ctx.vehicle_lon, ctx.place_lat, ctx.place_lon)
    if from_place > ctx.vehicle_radius_m:
        found.append(
            Refusal(
                Reason.vehicle_moved,
                f"the car is {from_place} m from the booked place (limit {ctx.vehicle_radius_m} m)",
                details={"distance_m": from_place},
            )
        )
    from_driver = distance_m(ctx.vehicle_lat, ctx.vehicle_lon, ctx.driver_lat, ctx.driver_lon)
    if from_driver > ctx.driver_radius_m:
        found.append(
            Refusal(
                Reason.driver_not_at_vehicle,
                f"the driver is {from_driver} m from the car (limit {ctx.driver_radius_m} m)",
                final=False,
                details={"distance_m": from_driver},
            )
        )
    if ctx.live_grant_on_vehicle:
        found.append(
            Refusal("grant_already_live", "this car already has a live grant", final=False)
        )
    return found


def _driver_at_place(ctx: AccessContext) -> list[Refusal]:
    away = distance_m(ctx.driver_lat, ctx.driver_lon, ctx.place_lat, ctx.place_lon)
    limit = ctx.vehicle_radius_m + ctx.driver_radius_m
    found = []
    if away > limit:
        found.append(
            Refusal(
                Reason.driver_not_at_vehicle,
                f"the driver is {away} m from the booked place (limit {limit} m)",
                final=False,
                details={"distance_m": away},
            )
        )
    if ctx.live_grant_on_vehicle:
        found.append(
            Refusal("grant_already_live", "this car already has a live grant", final=False)
        )
    return found


# -- fallback policy ---------------------------------------------------------------------
@dataclass(frozen=True)
class OptionView:
    seq: int
    window: TimeWindow


class FallbackKind(enum.StrEnum):
    next_place = "next_place"
    home = "home"
    # The nearest pickup point of the carrier with room, open today, holds it for the customer.
    pickup_point = "pickup_point"
    return_to_sender = "return_to_sender"
    # A pickup ends without its parcel; the shop or the sender decides what comes next.
    not_collected = "not_collected"


@dataclass(frozen=True)
class Fallback:
    kind: FallbackKind
    option_seq: int | None = None


# The owner said no: do not go looking for the car elsewhere.
_NOT_THIS_CAR = frozenset(
    {Reason.access_blocked, Reason.no_consent, Reason.consent_expired, Reason.trunk_full}
)
# The trunk was open and the parcel was not (or not the right one): another place won't help.
_NOTHING_THERE = frozenset({Reason.nothing_to_collect, Reason.label_mismatch})
# A damaged parcel, or one that is not the booked one, goes back; no customer should fetch it.
_NOT_FOR_A_POINT = frozenset({Reason.parcel_damaged, Reason.parcel_mismatch})


def decide_fallback(
    *,
    options: list[OptionView],
    current_seq: int | None,
    mode: str,
    reason: str,
    now: datetime,
    has_fallback_address: bool,
    pickup: bool = False,
    pickup_point_with_room: bool = False,
) -> Fallback:
    """What happens to a parcel after a failed attempt. Never drops it. A pickup tries the
    car's later places too, and otherwise ends not collected: its parcel is still with the
    customer, there is no door to take it to. A delivery goes to the car's later places,
    the door, a pickup point of its carrier with room (`pickup_point_with_room`), and only
    then back to the sender."""
    if pickup and mode == "home":
        return Fallback(FallbackKind.not_collected)
    if mode == "home":
        return _last_resort(reason, pickup_point_with_room)
    if pickup and reason in _NOTHING_THERE:
        return Fallback(FallbackKind.not_collected)
    if reason not in _NOT_THIS_CAR and current_seq is not None:
        for option in sorted(options, key=lambda o: o.seq):
            if option.seq > current_seq and option.window.end > now:
                return Fallback(FallbackKind.next_place, option.seq)
    if pickup:
        return Fallback(FallbackKind.not_collected)
    if has_fallback_address:
        return Fallback(FallbackKind.home)
    return _last_resort(reason, pickup_point_with_room)


def _last_resort(reason: str, pickup_point_with_room: bool) -> Fallback:
    if pickup_point_with_room and reason not in _NOT_FOR_A_POINT:
        return Fallback(FallbackKind.pickup_point)
    return Fallback(FallbackKind.return_to_sender)
