"""The pure rules of a pickup from the trunk: its states, the label check, the refusal to
open for nothing, and where a failed pickup goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.test_delivery_domain import ctx
from trunkdrop.deliveries import domain
from trunkdrop.deliveries.domain import (
    DeliveryStatus,
    FallbackKind,
    IllegalTransition,
    OptionView,
    TimeWindow,
    decide_fallback,
)

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _options() -> list[OptionView]:
    return [
        OptionView(1, TimeWindow(NOW - timedelta(hours=1), NOW + timedelta(hours=1))),
        OptionView(2, TimeWindow(NOW + timedelta(hours=3), NOW + timedelta(hours=5))),
    ]


def test_a_pickup_is_collected_only_from_out_for_delivery() -> None:
    """collected follows the driver's visit; a booked pickup cannot jump to it."""
    assert domain.check_delivery_transition("out_for_delivery", "collected") == "collected"
    with pytest.raises(IllegalTransition):
        domain.check_delivery_transition("booked", "collected")
    with pytest.raises(IllegalTransition):
        domain.check_delivery_transition("collected", "not_collected")


def test_the_label_matches_by_tracking_number_or_code_payload_only() -> None:
    """Either the printed number or the 2-D code's payload; nothing else, not empty."""
    label = {"tracking_number": "TDR1", "code_payload": "TRUNKDROP:RETURN:TDR1:shp"}
    assert domain.label_matches("TDR1", **label)
    assert domain.label_matches(" TRUNKDROP:RETURN:TDR1:shp ", **label)
    assert not domain.label_matches("TDR2", **label)
    assert not domain.label_matches("", tracking_number="TDR1", code_payload=None)


def test_nothing_to_collect_is_a_final_refusal() -> None:
    """A pickup whose customer never said the parcel is there is refused for good."""
    refusals = domain.access_refusals(ctx(nothing_to_collect=True))
    assert [(r.code, r.final) for r in refusals] == [("nothing_to_collect", True)]
    assert domain.access_refusals(ctx()) == []


def test_a_pickup_with_nothing_or_the_wrong_parcel_ends_not_collected() -> None:
    """No later place helps when the trunk held nothing or another parcel."""
    for reason in ("nothing_to_collect", "label_mismatch"):
        decision = decide_fallback(
            options=_options(),
            current_seq=1,
            mode="trunk",
            reason=reason,
            now=NOW,
            has_fallback_address=False,
            pickup=True,
        )
        assert decision.kind == FallbackKind.not_collected


def test_a_pickup_tries_the_cars_next_place_and_never_a_door() -> None:
    """A car that moved: the itinerary's next place; after the last, not collected."""
    moved = {"mode": "trunk", "reason": "vehicle_moved", "now": NOW, "pickup": True}
    nxt = decide_fallback(options=_options(), current_seq=1, has_fallback_address=True, **moved)
    assert (nxt.kind, nxt.option_seq) == (FallbackKind.next_place, 2)
    last = decide_fallback(options=_options(), current_seq=2, has_fallback_address=True, **moved)
    assert last.kind == FallbackKind.not_collected
    assert DeliveryStatus.not_collected in domain.DELIVERY_TRANSITIONS[DeliveryStatus.booked]
