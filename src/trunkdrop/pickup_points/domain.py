"""The pure rules of a pickup point: when it is open, which one takes a parcel, the
customer's pickup code. No database, no clock: local time comes in as an argument."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time

from trunkdrop.geo import distance_m

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CODE_DIGITS = 8
# Wrong codes a parcel takes before it is blocked: 8 digits and five tries leave a guesser
# one chance in twenty million; the customer asks the carrier for a new code.
MAX_CODE_TRIES = 5


def parse_hhmm(text: str) -> time | None:
    """ "08:30" as a time of day; "24:00" (the end of the day) as None."""
    hours, minutes = (int(part) for part in text.split(":"))
    return None if (hours, minutes) == (24, 0) else time(hours, minutes)


@dataclass(frozen=True)
class Interval:
    opens: time
    closes: time | None  # None: until midnight

    def contains(self, moment: time) -> bool:
        return self.opens <= moment and (self.closes is None or moment < self.closes)

    def ends_after(self, moment: time) -> bool:
        return self.closes is None or moment < self.closes


def intervals_of(hours: Mapping[str, Sequence[Mapping[str, str]]], weekday: int) -> list[Interval]:
    """The day's opening intervals from `{"mon": [{"opens": "08:00", "closes": "20:00"}]}`;
    a weekday left out is a closed day."""
    found = []
    for entry in hours.get(WEEKDAYS[weekday], ()):
        opens = parse_hhmm(entry["opens"])
        found.append(Interval(opens or time(0), parse_hhmm(entry["closes"])))
    return found


def is_open(hours: Mapping[str, Sequence[Mapping[str, str]]], local: datetime) -> bool:
    """Open at this local moment."""
    return any(i.contains(local.time()) for i in intervals_of(hours, local.weekday()))


def opens_again_today(hours: Mapping[str, Sequence[Mapping[str, str]]], local: datetime) -> bool:
    """Open now or later this local day: the driver hands the parcel in at the end of the
    route, so a point that already closed for the day (or is closed all day) cannot take it."""
    return any(i.ends_after(local.time()) for i in intervals_of(hours, local.weekday()))


@dataclass(frozen=True)
class Candidate:
    id: str
    latitude: float
    longitude: float
    capacity: int
    stock: int
    hours: Mapping[str, Sequence[Mapping[str, str]]]


def nearest_with_room(
    candidates: Sequence[Candidate], *, latitude: float, longitude: float, local: datetime
) -> Candidate | None:
    """The nearest point with a free place that opens again today; ties by id, so the
    choice does not depend on the order rows come back in."""
    usable = [c for c in candidates if c.stock < c.capacity and opens_again_today(c.hours, local)]
    if not usable:
        return None
    return min(
        usable, key=lambda c: (distance_m(latitude, longitude, c.latitude, c.longitude), c.id)
    )


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str, salt: str) -> str:
    """What is stored of a code: a salted, slow hash (scrypt), never the code itself."""
    return hashlib.scrypt(code.strip().encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1).hex()


def code_matches(code: str, *, salt: str, code_hash: str) -> bool:
    return hmac.compare_digest(hash_code(code, salt), code_hash)
