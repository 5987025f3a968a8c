"""The pure delivery core: state machine, item rules, windows, access checks, fallback."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from trunkdrop.deliveries import domain
from trunkdrop.deliveries.domain import (
    AccessContext,
    AttemptStatus,
    DeliveryStatus,
    FallbackKind,
    ItemRules,
    OptionView,
    Parcel,
    TimeWindow,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WINDOW = TimeWindow(T0, T0 + timedelta(hours=2))
PLACE = (48.1402, 11.5600)


def ctx(**over: object) -> AccessContext:
    base = AccessContext(
        now=T0 + timedelta(minutes=15),
        window=WINDOW,
        place_lat=PLACE[0],
        place_lon=PLACE[1],
        vehicle_lat=PLACE[0],
        vehicle_lon=PLACE[1],
        vehicle_position_at=T0,
        vehicle_online=True,
        vehicle_blockers=(),
        driver_lat=PLACE[0] + 0.0001,
        driver_lon=PLACE[1],
        vehicle_radius_m=300,
        driver_radius_m=50,
        position_max_age_s=3600,
    )
    return replace(base, **over)  # type: ignore[arg-type]


def codes(c: AccessContext) -> list[str]:
    return [r.code for r in domain.access_refusals(c)]


def test_delivery_can_only_be_cancelled_before_it_is_out_for_delivery() -> None:
    """booked → cancelled is legal; out_for_delivery → cancelled is not."""
    assert domain.check_delivery_transition("booked", "cancelled") == DeliveryStatus.cancelled
    with pytest.raises(domain.IllegalTransition):
        domain.check_delivery_transition("out_for_delivery", "cancelled")


def test_delivered_is_final() -> None:
    """Nothing leaves the delivered state."""
    for target in DeliveryStatus:
        with pytest.raises(domain.IllegalTransition):
            domain.check_delivery_transition("delivered", target)


def test_attempt_cannot_succeed_without_deposit_after_trunk_open() -> None:
    """A trunk attempt reaches succeeded only from deposited (after the car's lock report)."""
    with pytest.raises(domain.IllegalTransition):
        domain.check_attempt_transition("trunk_open", "succeeded")
    with pytest.raises(domain.IllegalTransition):
        domain.check_attempt_transition("unlocking", "succeeded")
    assert domain.check_attempt_transition("deposited", "succeeded") == AttemptStatus.succeeded


def test_deposited_attempt_cannot_go_back() -> None:
    """Once the parcel is in the trunk the attempt only ends: succeeded, or failed (an
    operator's decision, `outcomes.settle_attempt`); never back to an earlier step."""
    for earlier in ("started", "unlocking", "trunk_open"):
        with pytest.raises(domain.IllegalTransition):
            domain.check_attempt_transition("deposited", earlier)
    assert domain.check_attempt_transition("deposited", "failed") == "failed"


def test_illegal_transition_names_the_attempt_and_the_delivery_with_their_article() -> None:
    """The problem detail reads "an attempt cannot go …" and "a delivery cannot go …"."""
    with pytest.raises(domain.IllegalTransition, match=r"^an attempt cannot go from succeeded"):
        domain.check_attempt_transition("succeeded", "failed")
    with pytest.raises(domain.IllegalTransition, match=r"^a delivery cannot go from delivered"):
        domain.check_delivery_transition("delivered", "booked")


def test_parcel_within_every_rule_has_no_violation() -> None:
    """A 40×30×20 cm, 2 kg, 50 EUR parcel passes the default item rules."""
    assert domain.parcel_violations(Parcel(40, 30, 20, 2000, 5000), ItemRules()) == []


@pytest.mark.parametrize(
    ("parcel", "code"),
    [
        (Parcel(40, 30, 20, 22_001, 5000), "parcel_too_heavy"),
        (Parcel(67, 30, 20, 2000, 5000), "parcel_too_big"),
        (Parcel(60, 60, 20, 2000, 5000), "parcel_too_big"),
        (Parcel(40, 30, 20, 2000, 150_001), "declared_value_too_high"),
        (Parcel(40, 30, 20, 2000, 5000, signature_required=True), "signature_required_not_allowed"),
        (Parcel(40, 30, 20, 2000, 5000, age_restricted=True), "age_restricted_not_allowed"),
        (Parcel(40, 30, 20, 2000, 5000, perishable=True), "perishable_not_allowed"),
        (Parcel(40, 30, 20, 2000, 5000, hazardous=True), "hazardous_not_allowed"),
    ],
)
def test_each_item_rule_names_its_violation(parcel: Parcel, code: str) -> None:
    """Every broken item rule is reported with its own stable code."""
    assert code in [v.code for v in domain.parcel_violations(parcel, ItemRules())]


def test_dimensions_are_compared_in_any_orientation() -> None:
    """A parcel that fits when turned (41×66×53) is not too big."""
    assert domain.parcel_violations(Parcel(41, 66, 53, 2000, 5000), ItemRules()) == []


def test_parcel_larger_than_half_the_trunk_does_not_fit() -> None:
    """Only half a trunk's volume is usable: 60 l into a 100 l trunk does not fit, into 450 l it does."""
    parcel = Parcel(50, 40, 30, 2000, 5000)
    violation = domain.fits_trunk(parcel, 100)
    assert violation is not None and violation.code == "parcel_too_big_for_trunk"
    assert domain.fits_trunk(parcel, 450) is None


def test_day_slots_cover_service_hours_in_two_hour_windows() -> None:
    """08:00–21:00 Berlin in 2 h slots: seven windows from 07:00 UTC in winter, the last 20–21."""
    slots = domain.day_slots(
        date(2026, 12, 1), tz="Europe/Berlin", start_hour=8, end_hour=21, slot_minutes=120
    )
    assert len(slots) == 7
    assert slots[0].start == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert slots[-2].end == datetime(2026, 12, 1, 19, 0, tzinfo=UTC)
    assert (slots[-1].start, slots[-1].end) == (
        datetime(2026, 12, 1, 19, 0, tzinfo=UTC),
        datetime(2026, 12, 1, 20, 0, tzinfo=UTC),
    )


def test_day_slots_offer_the_last_slot_down_to_the_shortest_bookable_window() -> None:
    """A remainder of MIN_WINDOW at the day's end is a slot; anything shorter is not."""
    day = date(2026, 12, 1)
    offered = domain.day_slots(day, tz="UTC", start_hour=8, end_hour=9, slot_minutes=30)
    assert [s.end - s.start for s in offered] == [domain.MIN_WINDOW] * 2
    short = domain.day_slots(day, tz="UTC", start_hour=8, end_hour=10, slot_minutes=100)
    assert [s.end - s.start for s in short] == [timedelta(minutes=100)]


def test_window_must_end_after_it_starts() -> None:
    """An inverted window is refused at construction."""
    with pytest.raises(ValueError, match="end after it starts"):
        TimeWindow(T0, T0)


def test_access_allowed_when_every_rule_holds() -> None:
    """Car at the place, driver at the car, inside the window: no refusal."""
    assert codes(ctx()) == []


def test_access_refused_before_window_is_not_final() -> None:
    """An early driver is refused but may ask again when the window opens."""
    refusals = domain.access_refusals(ctx(now=T0 - timedelta(minutes=1)))
    assert [(r.code, r.final) for r in refusals] == [("outside_window", False)]


def test_access_refused_after_window_is_final() -> None:
    """At the window's end access is refused for good."""
    refusals = domain.access_refusals(ctx(now=WINDOW.end, vehicle_position_at=WINDOW.end))
    assert [(r.code, r.final) for r in refusals] == [("outside_window", True)]


def test_car_outside_radius_is_vehicle_moved() -> None:
    """A car 400 m from the booked place (radius 300 m) has moved."""
    assert "vehicle_moved" in codes(
        ctx(vehicle_lat=PLACE[0] + 0.0036, driver_lat=PLACE[0] + 0.0036)
    )


def test_driver_far_from_car_is_refused_but_may_retry() -> None:
    """A driver 100 m from the car (limit 50 m) is refused, not failed."""
    refusals = domain.access_refusals(ctx(driver_lat=PLACE[0] + 0.0009))
    assert [(r.code, r.final) for r in refusals] == [("driver_not_at_vehicle", False)]


def test_unknown_or_stale_position_is_vehicle_not_found() -> None:
    """No position, or one older than the limit, means the car cannot be found."""
    assert codes(ctx(vehicle_lat=None)) == ["vehicle_not_found"]
    assert codes(ctx(vehicle_position_at=T0 - timedelta(hours=2))) == ["vehicle_not_found"]


def test_blocked_or_unconsented_car_is_refused() -> None:
    """The owner's block and a withdrawn consent each refuse access."""
    assert codes(ctx(vehicle_blockers=("access_blocked",)))[0] == "access_blocked"
    assert codes(ctx(vehicle_blockers=("no_consent",)))[0] == "no_consent"


def test_offline_car_and_live_grant_are_refused() -> None:
    """An offline car and a car with a live grant both refuse a new grant."""
    assert "vehicle_offline" in codes(ctx(vehicle_online=False))
    assert "grant_already_live" in codes(ctx(live_grant_on_vehicle=True))


OPTIONS = [
    OptionView(1, WINDOW),
    OptionView(2, TimeWindow(T0 + timedelta(hours=8), T0 + timedelta(hours=10))),
]


def test_fallback_tries_the_next_place_of_the_itinerary() -> None:
    """After a failure at place 1, place 2 (still ahead) is next."""
    decision = domain.decide_fallback(
        options=OPTIONS,
        current_seq=1,
        mode="trunk",
        reason="vehicle_moved",
        now=T0,
        has_fallback_address=True,
    )
    assert (decision.kind, decision.option_seq) == (FallbackKind.next_place, 2)


def test_fallback_skips_places_whose_window_is_over() -> None:
    """A next place whose window has passed is not offered; the home address is."""
    late = T0 + timedelta(hours=11)
    decision = domain.decide_fallback(
        options=OPTIONS,
        current_seq=1,
        mode="trunk",
        reason="vehicle_moved",
        now=late,
        has_fallback_address=True,
    )
    assert decision.kind == FallbackKind.home


def test_owner_block_goes_home_not_to_another_place() -> None:
    """When the owner blocked access, the parcel is not chased to the car's other places."""
    decision = domain.decide_fallback(
        options=OPTIONS,
        current_seq=1,
        mode="trunk",
        reason="access_blocked",
        now=T0,
        has_fallback_address=True,
    )
    assert decision.kind == FallbackKind.home


def test_no_fallback_address_returns_to_sender_and_home_failure_too() -> None:
    """Without a fallback address, or after a failed home attempt, the parcel goes back."""
    assert (
        domain.decide_fallback(
            options=OPTIONS[:1],
            current_seq=1,
            mode="trunk",
            reason="vehicle_moved",
            now=T0,
            has_fallback_address=False,
        ).kind
        == FallbackKind.return_to_sender
    )
    assert (
        domain.decide_fallback(
            options=OPTIONS,
            current_seq=None,
            mode="home",
            reason="nobody_home",
            now=T0,
            has_fallback_address=True,
        ).kind
        == FallbackKind.return_to_sender
    )
