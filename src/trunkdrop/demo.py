"""`trunkdrop demo`: a small day of in-car delivery through the real services.

Five customers, one shop, one carrier with one driver, simulated cars of three
brands. Every step goes through the same services, state machine, database and
vehicle adapter as production; only the clock is simulated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trunkdrop import workers
from trunkdrop.access import audit, tokens
from trunkdrop.bootstrap import Platform, bootstrap
from trunkdrop.clock import ManualClock
from trunkdrop.config import Settings
from trunkdrop.deliveries import attempts, lookups
from trunkdrop.deliveries import service as deliveries
from trunkdrop.deliveries.models import Attempt, Delivery
from trunkdrop.deliveries.schemas import AttemptStart, CheckoutRequest, DeliveryCreate, ParcelIn
from trunkdrop.devices import service as devices
from trunkdrop.devices.schemas import DeviceProof, DeviceRegister
from trunkdrop.dispatch import loading, routes
from trunkdrop.dispatch import service as dispatch
from trunkdrop.dispatch.schemas import ServiceAreaCreate
from trunkdrop.errors import DomainError
from trunkdrop.incidents.models import Incident
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Party
from trunkdrop.places import service as places
from trunkdrop.places.schemas import PlaceCreate
from trunkdrop.schemas import Position
from trunkdrop.vehicles import service as vehicles
from trunkdrop.vehicles.schemas import VehicleLink

DEMO_DAY = date(2026, 12, 1)
TZ = ZoneInfo("Europe/Berlin")
MUNICH = (48.1374, 11.5755)
DEPOT = (48.1780, 11.4905)  # a logistics area in the north-west of Munich


@dataclass
class Customer:
    name: str
    brand: str
    plate: str
    colour: str
    home: tuple[float, float, str]
    office: tuple[float, float, str]
    party_id: str = ""
    vehicle_id: str = ""
    home_id: str = ""
    office_id: str = ""
    external_id: str = ""


def _party(session: Session, party_id: str) -> Party:
    party = session.get(Party, party_id)
    assert party is not None
    return party


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DEMO_DAY, time(hour, minute), TZ)


class Demo:
    def __init__(self, platform: Platform, clock: ManualClock, out: Callable[[str], None]) -> None:
        self.p, self.clock, self.out = platform, clock, out

    def tick(self, seconds: int, step: int = 2) -> None:
        """Let simulated time pass, running the workers as the server would."""
        for _ in range(max(1, seconds // step)):
            workers.run_once(self.p, self.clock.advance(step))

    def until(self, moment: datetime) -> None:
        remaining = int((moment - self.clock.now()).total_seconds())
        if remaining > 0:
            self.tick(remaining, step=max(2, min(60, remaining // 10)))

    def sim(self, c: Customer) -> tuple[str, str]:
        return c.brand, c.external_id


def run_demo(database_path: Path, out: Callable[[str], None] = print) -> dict[str, int]:
    if database_path.exists():
        database_path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{database_path}{suffix}").unlink(missing_ok=True)
    clock = ManualClock(_at(7, 30))
    settings = Settings(database_url=f"sqlite:///{database_path}", environment="development")
    platform = bootstrap(settings, clock=clock)
    try:
        return _run(Demo(platform, clock, out))
    finally:
        platform.close()


def _run(d: Demo) -> dict[str, int]:
    p, now = d.p, d.clock.now
    customers = [
        Customer(
            "Anna",
            "sim-aurora",
            "M-AN 101",
            "blue",
            (48.1497, 11.5670, "Schellingstr. 10"),
            (48.1402, 11.5600, "Karlsplatz 5"),
        ),
        Customer(
            "Ben",
            "sim-aurora",
            "M-BE 202",
            "white",
            (48.1590, 11.5860, "Leopoldstr. 40"),
            (48.1330, 11.5450, "Landsberger Str. 80"),
        ),
        Customer(
            "Clara",
            "sim-aurora",
            "M-CL 303",
            "red",
            (48.1210, 11.5990, "Rosenheimer Str. 90"),
            (48.1440, 11.5580, "Dachauer Str. 20"),
        ),
        Customer(
            "Dario",
            "sim-cirrus",
            "M-DA 404",
            "grey",
            (48.1100, 11.5400, "Plinganserstr. 30"),
            (48.1350, 11.5760, "Sendlinger Str. 7"),
        ),
        Customer(
            "Felix",
            "sim-aurora",
            "M-FE 606",
            "silver",
            (48.1300, 11.6100, "Wörthstr. 12"),
            (48.1330, 11.5900, "Rosenheimer Platz 2"),
        ),
        Customer(
            "Eva",
            "sim-borealis",
            "M-EV 505",
            "black",
            (48.1650, 11.5500, "Hohenzollernstr. 60"),
            (48.1390, 11.5650, "Neuhauser Str. 15"),
        ),
    ]
    with p.uow() as s:
        shop = parties.create_party(session=s, role="retailer", name="Isar Outfitters", now=now())
        carrier = parties.create_party(session=s, role="carrier", name="Bavaria Parcel", now=now())
        driver = parties.create_party(
            session=s, role="driver", name="Driver Jonas", carrier_id=carrier.id, now=now()
        )
        dispatch.create_service_area(
            session=s,
            carrier=carrier,
            now=now(),
            area_in=ServiceAreaCreate(
                name="Munich",
                latitude=MUNICH[0],
                longitude=MUNICH[1],
                radius_m=15_000,
                depot_latitude=DEPOT[0],
                depot_longitude=DEPOT[1],
            ),
        )
        for i, c in enumerate(customers):
            party = parties.create_party(session=s, role="customer", name=c.name, now=now())
            c.party_id, c.external_id = party.id, f"WSIM{i:013d}"
            car = vehicles.link_vehicle(
                session=s,
                registry=p.registry,
                owner=party,
                now=now(),
                vehicle_in=VehicleLink(
                    brand=c.brand,
                    external_id=c.external_id,
                    make=c.brand.split("-")[1].title(),
                    model="Estate",
                    year=2023,
                    plate=c.plate,
                    colour=c.colour,
                    trunk_volume_l=450,
                ),
            )
            c.vehicle_id = car.id
            c.home_id = places.create_place(
                session=s,
                owner=party,
                now=now(),
                place_in=PlaceCreate(
                    label="home",
                    latitude=c.home[0],
                    longitude=c.home[1],
                    address=c.home[2],
                    is_home=True,
                ),
            ).id
            c.office_id = places.create_place(
                session=s,
                owner=party,
                now=now(),
                place_in=PlaceCreate(
                    label="office",
                    latitude=c.office[0],
                    longitude=c.office[1],
                    address=c.office[2],
                    parking_notes="visitor bay, level -1",
                ),
            ).id
        # The driver's handset makes its own key pair; the platform only learns the public key.
        handset = Ed25519PrivateKey.generate()
        device_id = devices.register_device(
            session=s,
            driver=driver,
            now=now(),
            device_in=DeviceRegister(
                public_key=tokens.b64u(
                    handset.public_key().public_bytes(
                        serialization.Encoding.Raw, serialization.PublicFormat.Raw
                    )
                ),
                label="Jonas's phone",
            ),
        ).id
        # The carrier vouches for the phone at the depot: only then may it sign.
        devices.approve_device(session=s, party=carrier, device_id=device_id, now=now())
        shop_id, carrier_id, driver_id = shop.id, carrier.id, driver.id
    d.out(
        f"trunkdrop demo — {DEMO_DAY.isoformat()}, Munich; {len(customers)} customers, simulated cars\n"
    )

    # Checkout: the shop asks what is possible for each customer's parcel.
    bookings: dict[str, str] = {}
    plans: dict[str, list[tuple[Callable[[Customer], str], int, int]]] = {
        "Anna": [(lambda c: c.office_id, 10, 12)],
        "Ben": [(lambda c: c.office_id, 10, 12), (lambda c: c.home_id, 18, 20)],
        "Clara": [(lambda c: c.office_id, 10, 12)],
        "Dario": [(lambda c: c.office_id, 12, 14)],
        "Felix": [(lambda c: c.office_id, 14, 16)],
        "Eva": [(lambda c: c.office_id, 10, 12)],
    }
    for n, c in enumerate(customers):
        parcel = ParcelIn(
            reference=f"PCL-{n + 1:04d}",
            length_cm=40,
            width_cm=30,
            height_cm=20,
            weight_g=2_500,
            declared_value_cents=7_900,
        )
        with p.uow() as s:
            options = deliveries.checkout_options(
                session=s,
                settings=p.settings,
                now=now(),
                request=CheckoutRequest(customer_id=c.party_id, date=DEMO_DAY, parcel=parcel),
            )
            if not options.trunk_possible:
                why = "; ".join(sorted({r.message for r in options.reasons}))
                d.out(f"checkout  {c.name:<6} trunk delivery not offered: {why}")
                continue
            shop_party = _party(s, shop_id)
            assert shop_party is not None
            itinerary = [
                {"place_id": pick(c), "window_start": _at(a), "window_end": _at(b)}
                for pick, a, b in plans[c.name]
            ]
            delivery = deliveries.book(
                session=s,
                settings=p.settings,
                retailer=shop_party,
                now=now(),
                delivery_in=DeliveryCreate.model_validate(
                    {
                        "customer_id": c.party_id,
                        "vehicle_id": c.vehicle_id,
                        "retailer_reference": f"ORDER-{n + 1:04d}",
                        "parcel": parcel.model_dump(),
                        "itinerary": itinerary,
                        "fallback_address": {
                            "address": c.home[2],
                            "latitude": c.home[0],
                            "longitude": c.home[1],
                        },
                    }
                ),
            )
            bookings[c.name] = delivery.id
            d.out(
                f"checkout  {c.name:<6} {len(options.options)} options offered; booked {delivery.id} ({len(itinerary)} place(s) in the itinerary)"
            )

    with p.uow() as s:
        carrier_party = _party(s, carrier_id)
        assert carrier_party is not None
        route = routes.plan_route(
            session=s,
            carrier=carrier_party,
            driver_id=driver_id,
            service_date=DEMO_DAY,
            delivery_ids=[bookings[n] for n in ("Anna", "Ben", "Clara", "Dario", "Felix")],
            now=now(),
        )
        route_id = route.id
    d.until(_at(8, 5))
    by_name = {c.name: c for c in customers}
    # Where the cars stand today. Ben parks 2 km from where he said.
    for c in customers:
        lat, lon, _ = c.office
        if c.name == "Ben":
            lat, lon = lat + 0.018, lon
        p.simulator.park(*d.sim(c), lat, lon, now())
    d.until(_at(8, 30))
    with p.uow() as s:
        loading.set_off(
            session=s,
            settings=p.settings,
            party=_party(s, carrier_id),
            route=dispatch.get_route(session=s, route_id=route_id),
            matrix=p.matrix,
            now=now(),
        )

    def visit(name: str, at: datetime, *, close_trunk: bool = True) -> None:
        c = by_name[name]
        d.until(at)
        with p.uow() as s:
            stop = dispatch.next_open_stop(session=s, route_id=route_id)
            assert stop is not None
            drv = _party(s, driver_id)
            assert drv is not None
            delivery = lookups.get_delivery(session=s, delivery_id=stop.delivery_id)
            if stop.mode == "trunk" and stop.option_seq is not None:
                target = lookups.option(session=s, delivery_id=delivery.id, seq=stop.option_seq)
                spot = (target.latitude + 0.0001, target.longitude)
            else:
                spot = (delivery.fallback_latitude or 0.0, delivery.fallback_longitude or 0.0)
            attempt = attempts.start_attempt(
                session=s,
                settings=p.settings,
                driver=drv,
                stop_id=stop.id,
                now=now(),
                attempt_in=AttemptStart(
                    position=Position(latitude=spot[0], longitude=spot[1]),
                    scanned_parcel_ref=delivery.parcel_ref,
                ),
            )
            attempt_id, mode = attempt.id, stop.mode
        if mode == "home":
            with p.uow() as s:
                attempts.confirm_handover(
                    session=s,
                    settings=p.settings,
                    driver=_party(s, driver_id),
                    attempt_id=attempt_id,
                    now=now(),
                )
            return
        try:
            with p.uow() as s:
                # The app asks for a challenge and the handset signs it.
                nonce = attempts.issue_challenge(
                    session=s,
                    settings=p.settings,
                    driver=_party(s, driver_id),
                    attempt_id=attempt_id,
                    device_id=device_id,
                    now=now(),
                ).nonce
            message = tokens.proof_message(
                nonce=nonce, action=tokens.TRUNK_UNLOCK, attempt_id=attempt_id
            )
            proof = DeviceProof(
                device_id=device_id, nonce=nonce, signature=tokens.b64u(handset.sign(message))
            )
            with p.uow() as s:
                attempts.request_access(
                    session=s,
                    settings=p.settings,
                    keyring=p.keyring(s),
                    driver=_party(s, driver_id),
                    attempt_id=attempt_id,
                    position=Position(latitude=spot[0], longitude=spot[1]),
                    proof=proof,
                    now=now(),
                )
        except DomainError:
            # Refused: the reason and the fallback are already recorded (the refusal is kept).
            return
        d.tick(60)  # the command travels to the car and the car reports the trunk open
        with p.uow() as s:
            att = s.get(Attempt, attempt_id)
            if att is None or att.status != "trunk_open":
                return
            attempts.confirm_deposit(
                session=s,
                settings=p.settings,
                driver=_party(s, driver_id),
                attempt_id=attempt_id,
                now=now(),
            )
        if close_trunk:
            p.simulator.close_trunk(*d.sim(c), now())
        d.tick(60)

    visit("Anna", _at(10, 15))
    visit("Ben", _at(10, 40))
    visit("Clara", _at(11, 0), close_trunk=False)  # a hurried driver leaves the trunk open
    d.tick(6 * 60, step=5)  # the watchdog relocks after 5 minutes
    visit("Dario", _at(12, 30))  # a sleepy brand: the platform wakes the car first
    # Felix's car sits in an underground garage without signal: the unlock expires.
    d.until(_at(13, 0))
    p.simulator.go_offline(*d.sim(by_name["Felix"]), now())
    visit("Felix", _at(14, 20))
    d.until(_at(17, 45))
    p.simulator.park(*d.sim(by_name["Ben"]), by_name["Ben"].home[0], by_name["Ben"].home[1], now())
    visit("Ben", _at(18, 10))
    visit("Felix", _at(18, 40))  # the fallback address: handed over at the door
    d.tick(120)

    with p.uow() as s:
        d.out("")
        for name, delivery_id in bookings.items():
            read = lookups.to_read(
                session=s, delivery=lookups.get_delivery(session=s, delivery_id=delivery_id)
            )
            d.out(
                f"{name} — {read.id} — {read.status}{f' ({read.outcome})' if read.outcome else ''}"
            )
            for entry in read.timeline:
                d.out(f"  {entry.at.astimezone(TZ).strftime('%H:%M:%S')}  {entry.text}")
            d.out("")
        for incident in s.scalars(select(Incident).order_by(Incident.opened_at)):
            d.out(
                f"incident  {incident.opened_at.astimezone(TZ).strftime('%H:%M')}  {incident.kind} [{incident.status}] {incident.detail}"
            )
        total = s.scalar(select(func.count()).select_from(Delivery)) or 0
        delivered = (
            s.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")
            )
            or 0
        )
        failed = (
            s.scalar(
                select(func.count(func.distinct(Attempt.delivery_id))).where(
                    Attempt.status == "failed"
                )
            )
            or 0
        )
        incident_count = s.scalar(select(func.count()).select_from(Incident)) or 0
        chain = audit.verify(session=s)
        d.out(f"audit     {chain.entries} entries, chain {'intact' if chain.ok else 'BROKEN'}")
    return {
        "deliveries": total,
        "delivered": delivered,
        "failed": failed,
        "incidents": incident_count,
    }


def main(database_path: Path) -> None:
    summary = run_demo(database_path)
    print(json.dumps(summary))
