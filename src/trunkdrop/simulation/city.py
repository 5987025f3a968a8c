"""A synthetic Munich: districts, workplaces, errands, a depot, and each customer's car day.

Coordinates are real (district centres, business areas, a logistics area). People and
their days are drawn from a seeded generator, so a seed always gives the same city.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

Point = tuple[float, float]

MUNICH_CENTRE: Point = (48.1374, 11.5755)
# Logistics area at the Frankfurter Ring, Munich-Freimann, where parcel depots cluster.
DEPOT: Point = (48.1847, 11.5963)

# District centres with a weight roughly proportional to population (thousands).
DISTRICTS: list[tuple[str, Point, int]] = [
    ("Altstadt-Lehel", (48.1372, 11.5800), 21),
    ("Ludwigsvorstadt-Isarvorstadt", (48.1310, 11.5620), 52),
    ("Maxvorstadt", (48.1500, 11.5700), 51),
    ("Schwabing-West", (48.1640, 11.5700), 68),
    ("Au-Haidhausen", (48.1280, 11.5940), 61),
    ("Sendling", (48.1190, 11.5420), 41),
    ("Sendling-Westpark", (48.1200, 11.5180), 60),
    ("Schwanthalerhöhe", (48.1360, 11.5370), 30),
    ("Neuhausen-Nymphenburg", (48.1550, 11.5280), 99),
    ("Moosach", (48.1800, 11.5100), 54),
    ("Milbertshofen-Am Hart", (48.1900, 11.5700), 76),
    ("Schwabing-Freimann", (48.1800, 11.6000), 80),
    ("Bogenhausen", (48.1550, 11.6250), 88),
    ("Berg am Laim", (48.1250, 11.6330), 47),
    ("Trudering-Riem", (48.1200, 11.6700), 75),
    ("Ramersdorf-Perlach", (48.1000, 11.6400), 119),
    ("Obergiesing-Fasangarten", (48.1100, 11.5900), 55),
    ("Untergiesing-Harlaching", (48.0980, 11.5750), 53),
    ("Thalkirchen-Obersendling", (48.0950, 11.5400), 59),
    ("Hadern", (48.1150, 11.4850), 50),
    ("Pasing-Obermenzing", (48.1500, 11.4600), 80),
    ("Aubing-Lochhausen-Langwied", (48.1600, 11.4100), 51),
    ("Allach-Untermenzing", (48.1900, 11.4700), 34),
    ("Feldmoching-Hasenbergl", (48.2150, 11.5450), 63),
    ("Laim", (48.1380, 11.5000), 57),
]

# Where people drive to work: business areas with a weight for how many work there.
WORKPLACES: list[tuple[str, Point, int]] = [
    ("Innenstadt", (48.1400, 11.5650), 30),
    ("Werksviertel", (48.1240, 11.6070), 8),
    ("Parkstadt Schwabing", (48.1820, 11.5910), 12),
    ("Arabellapark", (48.1540, 11.6170), 10),
    ("BMW FIZ Milbertshofen", (48.1900, 11.5560), 14),
    ("Neuperlach Süd", (48.0890, 11.6450), 8),
    ("Campus Martinsried", (48.1080, 11.4600), 7),
    ("Unterföhring Medienpark", (48.1900, 11.6420), 6),
    ("Westend Business", (48.1350, 11.5280), 7),
]


@dataclass(frozen=True)
class Stay:
    """The car parked at one place from `start_s` to `end_s` (seconds after midnight)."""

    label: str
    point: Point
    start_s: int
    end_s: int


@dataclass
class Customer:
    number: int
    district: str
    home: Point
    brand: str
    day: list[Stay]
    # Disturbances the platform does not know about in advance.
    unexpected_move: tuple[int, int, Point] | None = None  # from, until, where
    offline_in_garage: bool = False
    others_at_home: float = 0.35
    extras: dict[str, float] = field(default_factory=dict)


# Probability that somebody else of the household opens the door, by hour, when the
# customer (and their car) is away. A stylised curve after the shape of weekday at-home
# shares in time-use surveys (Destatis Zeitverwendungserhebung 2022): low in the
# working morning, rising in the evening. See docs/simulation.md.
OTHERS_AT_HOME_BY_HOUR = {8: 0.40, 9: 0.35, 10: 0.30, 11: 0.30, 12: 0.32, 13: 0.32, 14: 0.33,
                          15: 0.36, 16: 0.42, 17: 0.50, 18: 0.58, 19: 0.62, 20: 0.65}  # fmt: skip
# Somebody opens when the customer's car stands at home (they are most likely in).
AT_HOME_ANSWERS = 0.90
# ... and when the customer booked that window themselves ("I am home 18–21"): attended
# delivery slots succeed far more often than unannounced visits. Our assumption.
ATTENDED_ANSWERS = 0.98

BRANDS = [("sim-aurora", 0.55), ("sim-cirrus", 0.25), ("sim-borealis", 0.20)]


def _jitter(rng: random.Random, centre: Point, sigma_m: float) -> Point:
    dlat = rng.gauss(0, sigma_m) / 111_320
    dlon = rng.gauss(0, sigma_m) / (111_320 * math.cos(math.radians(centre[0])))
    return (round(centre[0] + dlat, 6), round(centre[1] + dlon, 6))


def _pick(rng: random.Random, items: list[tuple[str, Point, int]]) -> tuple[str, Point]:
    name, point, _ = rng.choices(items, weights=[w for _, _, w in items])[0]
    return name, point


def _hm(h: float) -> int:
    return int(h * 3600)


def draw_customer(rng: random.Random, number: int) -> Customer:
    """One customer: a home in a district and the car's day (home → work → errands → home)."""
    district, centre = _pick(rng, DISTRICTS)
    home = _jitter(rng, centre, 700)
    brand = rng.choices([b for b, _ in BRANDS], weights=[w for _, w in BRANDS])[0]
    stays: list[Stay] = []
    commuter = rng.random() < 0.68
    if commuter:
        _, work_centre = _pick(rng, WORKPLACES)
        work = _jitter(rng, work_centre, 400)
        leave = _hm(rng.uniform(7.0, 8.75))
        arrive = leave + _hm(rng.uniform(0.3, 0.6))
        depart = arrive + _hm(rng.uniform(7.5, 9.5))
        stays.append(Stay("home", home, 0, leave))
        stays.append(Stay("work", work, arrive, depart))
        back = depart + _hm(rng.uniform(0.3, 0.6))
        if rng.random() < 0.35:
            errand = _jitter(rng, home, 1500)
            errand_end = back + _hm(rng.uniform(0.75, 1.5))
            stays.append(Stay("errands", errand, back, errand_end))
            back = errand_end + _hm(0.25)
        stays.append(Stay("home", home, back, _hm(24)))
    else:
        # At home most of the day, one outing in the late morning or afternoon.
        out = _hm(rng.uniform(9.5, 15.5))
        errand = _jitter(rng, home, 2000)
        back = out + _hm(rng.uniform(1.0, 2.5))
        stays.append(Stay("home", home, 0, out))
        stays.append(Stay("errands", errand, out + _hm(0.25), back))
        stays.append(Stay("home", home, back + _hm(0.25), _hm(24)))
    customer = Customer(number=number, district=district, home=home, brand=brand, day=stays)
    roll = rng.random()
    if roll < 0.05:
        # Moved unexpectedly: away from one of its stays for a while, to somewhere else.
        stay = rng.choice([s for s in stays if s.end_s - s.start_s > _hm(2)] or stays)
        start = rng.randint(
            max(stay.start_s, _hm(8)),
            max(max(stay.start_s, _hm(8)), min(stay.end_s, _hm(20)) - _hm(1)),
        )
        customer.unexpected_move = (
            start,
            start + _hm(rng.uniform(1.0, 2.0)),
            _jitter(rng, stay.point, 3000),
        )
    elif roll < 0.08 and commuter:
        customer.offline_in_garage = True
    return customer


def draw_city(customers: int, seed: int) -> list[Customer]:
    rng = random.Random(seed)
    return [draw_customer(rng, n) for n in range(customers)]


def itinerary(
    customer: Customer, *, open_s: int, close_s: int, min_s: int = 1800, limit: int = 4
) -> list[Stay]:
    """The car's stays inside service hours that are long enough to deliver into."""
    out = []
    for stay in customer.day:
        start, end = max(stay.start_s, open_s), min(stay.end_s, close_s)
        if end - start >= min_s:
            out.append(Stay(stay.label, stay.point, start, end))
    return out[:limit]


def somebody_opens(
    customer: Customer,
    at_s: int,
    rng: random.Random,
    *,
    booked_window: tuple[int, int] | None = None,
) -> bool:
    """Whether a door delivery at `at_s` finds somebody at home."""
    car_home = any(s.label == "home" and s.start_s <= at_s < s.end_s for s in customer.day)
    if car_home and booked_window is not None and booked_window[0] <= at_s < booked_window[1]:
        return rng.random() < ATTENDED_ANSWERS
    if car_home:
        return rng.random() < AT_HOME_ANSWERS
    hour = min(max(at_s // 3600, 8), 20)
    return rng.random() < OTHERS_AT_HOME_BY_HOUR[hour]


def car_position(customer: Customer, at_s: int) -> Point | None:
    """Where the car is parked at `at_s` (None while driving)."""
    if (
        customer.unexpected_move
        and customer.unexpected_move[0] <= at_s < customer.unexpected_move[1]
    ):
        return customer.unexpected_move[2]
    for stay in customer.day:
        if stay.start_s <= at_s < stay.end_s:
            return stay.point
    return None
