"""Every endpoint that takes a date or a time answers extreme ones (year 1, year 9999, the
widest UTC offsets) with a 2xx or a 4xx problem, never a 5xx."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import HOME, World

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), ZoneInfo("Europe/Berlin")]
)
# Aware times over the whole range Python has, edges included.
MOMENTS = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES),
    st.sampled_from(
        [
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(1, 1, 1, 12, tzinfo=timezone(timedelta(hours=-12))),
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 0, tzinfo=UTC),  # past year 9999 in Berlin
            datetime(9999, 12, 31, 8, tzinfo=timezone(timedelta(hours=14))),
            datetime(9999, 12, 31, 10, tzinfo=ZoneInfo("Europe/Berlin")),
        ]
    ),
)
DAYS = st.one_of(st.dates(), st.sampled_from([date.min, date.max]))


def _span(start: datetime, length: timedelta) -> tuple[datetime, datetime]:
    """A window from `start`, cut at the last moment Python can hold."""
    try:
        return start, start + length
    except OverflowError:
        return start, start.replace(hour=23, minute=59, second=59)


SPANS = st.builds(
    _span,
    MOMENTS,
    st.sampled_from([timedelta(minutes=30), timedelta(minutes=59), timedelta(hours=2)]),
)
EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _no_5xx(response: Any) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text}"
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.fixture
def booked(world: World) -> dict[str, Any]:
    """Anna's car and office, for bookings."""
    return {"vehicle": world.link_car(), "place": world.add_place()}


@EXAMPLES
@given(span=SPANS)
def test_booking_with_extreme_windows(world: World, booked: dict[str, Any], span: Any) -> None:
    """A trunk booking whose window lies anywhere in time: never a 5xx."""
    start, end = span
    body = {
        "customer_id": world.ids["anna"],
        "vehicle_id": booked["vehicle"]["id"],
        "retailer_reference": "ORD-X",
        "parcel": world.parcel(),
        "itinerary": [
            {
                "place_id": booked["place"]["id"],
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
            }
        ],
    }
    _no_5xx(world.post("shop", "/v1/deliveries", body))


@EXAMPLES
@given(day=DAYS, door=SPANS)
def test_door_booking_with_extreme_days(world: World, day: date, door: Any) -> None:
    """A delivery to the door on any day, with any door window: never a 5xx."""
    start, end = door
    body = {
        "customer_id": world.ids["anna"],
        "retailer_reference": "ORD-Y",
        "parcel": world.parcel(),
        "service_date": day.isoformat(),
        "fallback_address": {
            "address": "Schellingstr. 10",
            "latitude": HOME[0],
            "longitude": HOME[1],
        },
        "door_window": {"start": start.isoformat(), "end": end.isoformat()},
    }
    _no_5xx(world.post("shop", "/v1/deliveries", body))


@EXAMPLES
@given(day=DAYS)
def test_checkout_routes_and_stops_on_extreme_days(world: World, day: date) -> None:
    """Checkout, a route, and the route and stop lists for any day: never a 5xx."""
    _no_5xx(
        world.post(
            "shop",
            "/v1/checkout/options",
            {"customer_id": world.ids["anna"], "date": day.isoformat(), "parcel": world.parcel()},
        )
    )
    _no_5xx(
        world.post(
            "carrier",
            "/v1/routes",
            {
                "driver_id": world.ids["driver"],
                "service_date": day.isoformat(),
                "delivery_ids": ["dlv_none"],
            },
        )
    )
    _no_5xx(world.get("carrier", "/v1/routes", params={"date": day.isoformat()}))
    _no_5xx(world.get("driver", "/v1/stops", params={"date": day.isoformat()}))


@EXAMPLES
@given(day=DAYS, start=st.sampled_from([time(0, 0), time(8, 0), time(23, 59)]))
def test_plans_on_extreme_days(world: World, day: date, start: time) -> None:
    """Planning and re-planning any day: never a 5xx."""
    _no_5xx(
        world.post(
            "carrier",
            "/v1/plans",
            {
                "service_date": day.isoformat(),
                "driver_ids": [world.ids["driver"]],
                "shift_start": start.isoformat(),
                "seconds": 0.1,
            },
        )
    )
    _no_5xx(
        world.post("carrier", "/v1/plans/replan", {"service_date": day.isoformat(), "seconds": 0.1})
    )


@EXAMPLES
@given(at=MOMENTS, kind=st.sampled_from(["position", "locked", "trunk_opened", "grant_used"]))
def test_car_reports_at_extreme_times(
    world: World, booked: dict[str, Any], at: datetime, kind: str
) -> None:
    """A car's report claiming any time: never a 5xx."""
    body: dict[str, Any] = {
        "event_id": f"ev-{kind}-{at.isoformat()}",
        "vehicle_id": booked["vehicle"]["external_id"],
        "type": kind,
        "occurred_at": at.isoformat(),
        "latitude": HOME[0],
        "longitude": HOME[1],
        "grant_id": "gr_unknown",
    }
    _no_5xx(world.post("aurora-cloud", "/v1/vehicle-events", body))


def test_bookings_reach_only_the_horizon(world: World, booked: dict[str, Any]) -> None:
    """A window 61 days ahead is refused as beyond the 60-day horizon; 59 days ahead is booked."""

    def book(days: int) -> Any:
        start = world.at(10) + timedelta(days=days)
        return world.post(
            "shop",
            "/v1/deliveries",
            {
                "customer_id": world.ids["anna"],
                "vehicle_id": booked["vehicle"]["id"],
                "retailer_reference": f"ORD-{days}",
                "parcel": world.parcel(),
                "itinerary": [
                    {
                        "place_id": booked["place"]["id"],
                        "window_start": start.isoformat(),
                        "window_end": (start + timedelta(hours=2)).isoformat(),
                    }
                ],
            },
        )

    far = book(61)
    assert far.status_code == 422 and far.json()["code"] == "beyond_booking_horizon", far.text
    assert far.json()["field"] == "itinerary[0].window_start"
    world.ok(book(59), 201)
    checkout = world.post(
        "shop",
        "/v1/checkout/options",
        {
            "customer_id": world.ids["anna"],
            "date": (world.at(10) + timedelta(days=61)).date().isoformat(),
            "parcel": world.parcel(),
        },
    )
    assert checkout.status_code == 422 and checkout.json()["code"] == "beyond_booking_horizon"
