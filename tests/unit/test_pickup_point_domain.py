"""The pure rules of pickup points: opening hours, the nearest point with room, the code's
hash, and where the fallback policy puts a point in its chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from trunkdrop.deliveries import domain as deliveries
from trunkdrop.deliveries.domain import FallbackKind
from trunkdrop.pickup_points import domain

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday
WEEKDAY_HOURS = {d: [{"opens": "08:00", "closes": "18:00"}] for d in domain.WEEKDAYS[:5]}
LOCKER = {d: [{"opens": "00:00", "closes": "24:00"}] for d in domain.WEEKDAYS}


def _candidate(pid: str, lat: float, *, stock: int = 0, capacity: int = 5, hours=None):  # type: ignore[no-untyped-def]
    return domain.Candidate(pid, lat, 11.5, capacity, stock, hours or WEEKDAY_HOURS)


def test_opening_hours_are_read_per_weekday_with_midnight_as_24() -> None:
    """Open 08–18 on weekdays: open at 10, not at 18:00 sharp, closed on Sunday; a locker's
    00:00–24:00 is open at 23:59."""
    tuesday = datetime(2026, 12, 1, 10, 0)
    assert domain.is_open(WEEKDAY_HOURS, tuesday)
    assert not domain.is_open(WEEKDAY_HOURS, tuesday.replace(hour=18))
    assert not domain.is_open(WEEKDAY_HOURS, tuesday + timedelta(days=5))
    assert domain.is_open(LOCKER, tuesday.replace(hour=23, minute=59))


def test_a_point_that_closed_for_the_day_cannot_take_a_parcel_today() -> None:
    """Before closing (even before opening) the point still opens today; after, it does not."""
    assert domain.opens_again_today(WEEKDAY_HOURS, datetime(2026, 12, 1, 6, 0))
    assert domain.opens_again_today(WEEKDAY_HOURS, datetime(2026, 12, 1, 17, 59))
    assert not domain.opens_again_today(WEEKDAY_HOURS, datetime(2026, 12, 1, 18, 0))
    assert not domain.opens_again_today(WEEKDAY_HOURS, datetime(2026, 12, 6, 9, 0))  # Sunday


def test_the_nearest_point_with_room_is_chosen() -> None:
    """A nearer full point and a nearer closed one are passed over for a farther one."""
    chosen = domain.nearest_with_room(
        [
            _candidate("full", 48.101, stock=5),
            _candidate("closed", 48.102, hours={"sun": [{"opens": "08:00", "closes": "12:00"}]}),
            _candidate("far", 48.2),
            _candidate("open", 48.15),
        ],
        latitude=48.1,
        longitude=11.5,
        local=datetime(2026, 12, 1, 10, 0),
    )
    assert chosen is not None and chosen.id == "open"
    none = domain.nearest_with_room(
        [_candidate("full", 48.1, stock=5)], latitude=48.1, longitude=11.5, local=T0
    )
    assert none is None


def test_a_code_is_kept_only_as_its_salted_hash() -> None:
    """The hash checks the code (spaces around it forgiven) and refuses any other; another
    salt gives another hash."""
    code = domain.new_code()
    assert len(code) == domain.CODE_DIGITS and code.isdigit()
    hashed = domain.hash_code(code, "00" * 16)
    assert code not in hashed
    assert domain.code_matches(f" {code} ", salt="00" * 16, code_hash=hashed)
    assert not domain.code_matches("x" + code[1:], salt="00" * 16, code_hash=hashed)
    assert domain.hash_code(code, "11" * 16) != hashed


def _decide(**over):  # type: ignore[no-untyped-def]
    args = {
        "options": [],
        "current_seq": 1,
        "mode": "trunk",
        "reason": "trunk_full",
        "now": T0,
        "has_fallback_address": False,
        "pickup_point_with_room": True,
    } | over
    return deliveries.decide_fallback(**args)


def test_a_point_comes_after_the_door_and_before_the_sender() -> None:
    """With a door the parcel goes there first; at the door, or with none, to a point with
    room; without one back to the sender."""
    assert _decide(has_fallback_address=True).kind == FallbackKind.home
    assert _decide().kind == FallbackKind.pickup_point
    assert _decide(mode="home", reason="nobody_home").kind == FallbackKind.pickup_point
    assert _decide(pickup_point_with_room=False).kind == FallbackKind.return_to_sender


def test_a_damaged_parcel_and_a_pickup_never_go_to_a_point() -> None:
    """A damaged or wrong parcel goes back to the sender; a return from the trunk ends not
    collected (its parcel is still with the customer)."""
    assert _decide(reason="parcel_damaged").kind == FallbackKind.return_to_sender
    assert _decide(pickup=True).kind == FallbackKind.not_collected


def test_a_parcel_at_a_point_ends_collected_or_returned() -> None:
    """at_pickup_point leads to collected_by_customer or back to the sender, nothing else."""
    status = deliveries.DeliveryStatus
    assert deliveries.DELIVERY_TRANSITIONS[status.at_pickup_point] == {
        status.collected_by_customer,
        status.returned_to_sender,
    }
    assert deliveries.check_delivery_transition("out_for_delivery", "at_pickup_point")
