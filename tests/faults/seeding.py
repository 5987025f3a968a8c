"""A driver's started route on PostgreSQL for the fault tests: seeded in this process on
the real clock (the processes under test run on it), cars parked at their places."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from trunkdrop.access import tokens

TRUNKDROP = str(Path(sys.executable).with_name("trunkdrop"))
BERLIN = ZoneInfo("Europe/Berlin")
CENTRE = (48.1374, 11.5755)
# The processes run on the real clock: service hours all day, so the tests run at any hour.
ALL_DAY = {"service_day_start_hour": 0, "service_day_end_hour": 24}
ALL_DAY_ENV = {"TRUNKDROP_SERVICE_DAY_START_HOUR": "0", "TRUNKDROP_SERVICE_DAY_END_HOUR": "24"}


@dataclass
class Seeded:
    """What a driver's app and an operator need to work the seeded route."""

    driver_key: str
    operator_key: str
    device_id: str
    handset: Ed25519PrivateKey
    vehicles: dict[str, str] = field(default_factory=dict)  # parcel ref -> vehicle id
    # Each car's brand, external id and booked place, to park it over the car link.
    cars: list[tuple[str, str, float, float]] = field(default_factory=list)


def seed_route(
    url: str, *, deliveries: int = 1, park: bool = True, car_link: dict[str, str] | None = None
) -> Seeded:
    """One driver with an approved handset and a started route of `deliveries` trunk stops,
    windows open now; cars parked (their positions ingested) unless `park` is False.

    `car_link`: the MQTT car link's settings (car_link, mqtt_url, mqtt_topic_root,
    mqtt_client_id); the cars are then linked over it (their retained link messages bring
    them into `trunkdrop cars`) and left for the caller to park (`park_over_link`)."""
    from trunkdrop import workers
    from trunkdrop.bootstrap import bootstrap
    from trunkdrop.config import Settings
    from trunkdrop.deliveries import service as deliveries_service
    from trunkdrop.deliveries.schemas import DeliveryCreate
    from trunkdrop.devices import service as devices
    from trunkdrop.devices.schemas import DeviceRegister
    from trunkdrop.dispatch import routes
    from trunkdrop.dispatch import service as dispatch
    from trunkdrop.dispatch.schemas import ServiceAreaCreate
    from trunkdrop.parties import service as parties
    from trunkdrop.places import service as places
    from trunkdrop.places.schemas import PlaceCreate
    from trunkdrop.vehicles import service as vehicles
    from trunkdrop.vehicles.schemas import VehicleLink

    settings = Settings(
        database_url=url,
        environment="test",
        **(car_link or {"car_link": "embedded"}),  # type: ignore[arg-type]
        **ALL_DAY,
    )
    platform = bootstrap(settings, migrate=False, role="api" if car_link else "all")
    if platform.car_link is not None and not platform.car_link.wait_connected(10):
        platform.close()
        raise AssertionError("the seeding platform did not reach the broker in 10 s")
    try:
        now = platform.now
        local = now().astimezone(BERLIN)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        window = (
            max(midnight, local - timedelta(hours=1)),
            min(midnight + timedelta(hours=23, minutes=59), local + timedelta(hours=3)),
        )
        handset = Ed25519PrivateKey.generate()
        public = handset.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        with platform.uow() as s:
            shop = parties.create_party(session=s, role="retailer", name="shop", now=now())
            carrier = parties.create_party(session=s, role="carrier", name="carrier", now=now())
            operator = parties.create_party(session=s, role="operator", name="ops", now=now())
            dispatch.create_service_area(
                session=s,
                carrier=carrier,
                now=now(),
                area_in=ServiceAreaCreate(
                    name="Munich",
                    latitude=CENTRE[0],
                    longitude=CENTRE[1],
                    radius_m=15_000,
                    depot_latitude=48.178,
                    depot_longitude=11.4905,
                ),
            )
            driver = parties.create_party(
                session=s, role="driver", name="driver", carrier_id=carrier.id, now=now()
            )
            device = devices.register_device(
                session=s,
                driver=driver,
                device_in=DeviceRegister(public_key=tokens.b64u(public)),
                now=now(),
            )
            devices.approve_device(session=s, party=carrier, device_id=device.id, now=now())
            seeded = Seeded(
                driver_key=parties.create_api_key(session=s, party=driver, now=now()),
                operator_key=parties.create_api_key(session=s, party=operator, now=now()),
                device_id=device.id,
                handset=handset,
            )
            delivery_ids = []
            for n in range(deliveries):
                lat, lon = CENTRE[0] + n * 0.0009, CENTRE[1]
                owner = parties.create_party(session=s, role="customer", name=f"c{n}", now=now())
                car = vehicles.link_vehicle(
                    session=s,
                    registry=platform.registry,
                    owner=owner,
                    now=now(),
                    vehicle_in=VehicleLink(
                        brand="sim-aurora",
                        external_id=f"FAULT{n:012d}",
                        make="Aurora",
                        model="Estate",
                        year=2024,
                        plate=f"M-F {n}",
                        colour="blue",
                        trunk_volume_l=450,
                    ),
                )
                place = places.create_place(
                    session=s,
                    owner=owner,
                    now=now(),
                    place_in=PlaceCreate(label="office", latitude=lat, longitude=lon, address="x"),
                )
                delivery = deliveries_service.book(
                    session=s,
                    settings=settings,
                    retailer=shop,
                    now=now(),
                    delivery_in=DeliveryCreate.model_validate(
                        {
                            "customer_id": owner.id,
                            "vehicle_id": car.id,
                            "retailer_reference": f"F-{n}",
                            "parcel": {
                                "reference": f"PCL-F{n:07d}",
                                "length_cm": 30,
                                "width_cm": 20,
                                "height_cm": 10,
                                "weight_g": 1000,
                                "declared_value_cents": 1000,
                            },
                            "itinerary": [
                                {
                                    "place_id": place.id,
                                    "window_start": window[0],
                                    "window_end": window[1],
                                }
                            ],
                        }
                    ),
                )
                delivery_ids.append(delivery.id)
                seeded.vehicles[delivery.parcel_ref] = car.id
                seeded.cars.append((car.brand, car.external_id, lat, lon))
            route = routes.plan_route(
                session=s,
                carrier=carrier,
                driver_id=driver.id,
                service_date=local.date(),
                delivery_ids=delivery_ids,
                now=now(),
            )
            routes.start_route(session=s, settings=settings, party=carrier, route=route, now=now())
        if park and car_link is None:
            for brand, external, lat, lon in seeded.cars:
                platform.simulator.configure(brand, external, latency_s=0.0)
                platform.simulator.park(brand, external, lat, lon, now())
            workers.run_once(platform)
        return seeded
    finally:
        platform.close()


class Driver:
    """The driver's app over HTTP: next stop, attempt with its challenge, signed access."""

    def __init__(self, base: str, seeded: Seeded) -> None:
        self.base, self.seeded = base, seeded
        self.auth = {"Authorization": f"Bearer {seeded.driver_key}"}

    def attempt(self) -> dict[str, Any]:
        """Start the attempt at the next stop, standing by the car; returns it with its
        challenge."""
        stop = httpx.get(f"{self.base}/v1/stops/next", headers=self.auth, timeout=10).json()
        here = {"latitude": stop["latitude"] + 0.0001, "longitude": stop["longitude"]}
        started = httpx.post(
            f"{self.base}/v1/stops/{stop['id']}/attempts",
            json={
                "position": here,
                "scanned_parcel_ref": stop["parcel_ref"],
                "device_id": self.seeded.device_id,
            },
            headers=self.auth,
            timeout=10,
        )
        assert started.status_code == 201, started.text
        attempt: dict[str, Any] = started.json()
        attempt["here"] = here
        return attempt

    def access_body(self, attempt: dict[str, Any], nonce: str | None = None) -> dict[str, Any]:
        nonce = nonce or attempt["challenge"]["nonce"]
        message = tokens.proof_message(
            nonce=nonce, action=tokens.TRUNK_UNLOCK, attempt_id=attempt["id"]
        )
        return {
            "position": attempt["here"],
            "device_id": self.seeded.device_id,
            "nonce": nonce,
            "signature": tokens.b64u(self.seeded.handset.sign(message)),
        }

    def fresh_nonce(self, attempt_id: str) -> httpx.Response:
        return httpx.post(
            f"{self.base}/v1/attempts/{attempt_id}/challenge",
            json={"device_id": self.seeded.device_id},
            headers=self.auth,
            timeout=10,
        )


def park_over_link(car_link: dict[str, str], seeded: Seeded) -> None:
    """Park the seeded cars of `trunkdrop cars` at their places, answering at once: as the
    operator's controls do, one `sim` message each on the broker."""
    from trunkdrop.vehicles.adapters.mqtt.adapter import MqttCarLink
    from trunkdrop.vehicles.adapters.mqtt.control import FleetControl
    from trunkdrop.vehicles.adapters.mqtt.topics import Topics

    link = MqttCarLink(
        car_link["mqtt_url"],
        topics=Topics(car_link["mqtt_topic_root"]),
        client_id=f"{car_link['mqtt_client_id']}-seeding",
        session_expiry_s=0,
        receive=False,
    )
    link.start(wait_s=10)
    try:
        control, now = FleetControl(link), datetime.now(UTC)
        for brand, external, lat, lon in seeded.cars:
            control.act(brand, external, "configure", now=now, settings={"latency_s": 0.0})
            control.act(brand, external, "park", now=now, where=(lat, lon))
    finally:
        link.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(check: Callable[[], bool], deadline: float) -> bool:
    """Poll `check` until it holds or the deadline passes (another process: no event)."""
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [TRUNKDROP, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop_all(started: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(started):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def serving(base: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as c:
            return list(c.execute(text(sql), params))
    finally:
        engine.dispose()


def audit_verifies(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRUNKDROP, "audit", "verify"], env=env, capture_output=True, timeout=30, text=True
    )
