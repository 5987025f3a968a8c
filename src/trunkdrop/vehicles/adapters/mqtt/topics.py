"""The car link's topic layout: `{root}/v1/{brand}/{car}/{channel}`.

Brand and car are in the topic so that a broker's per-car ACL decides who may say what: a
car may read only its own commands and write only its own reports. docs/car-link.md has
the whole layout and who publishes on which channel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

VERSION = "v1"
Channel = Literal["commands", "acks", "reports", "state", "link", "keys", "revocations", "sim"]
CHANNELS: tuple[Channel, ...] = (
    "commands",
    "acks",
    "reports",
    "state",
    "link",
    "keys",
    "revocations",
    "sim",
)
# A topic level names one brand or car: no separators, no wildcards, nothing a broker
# treats specially (`$` starts its own system topics).
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
FLEET = "_fleet"  # the simulated world's own topics (its clock), never a brand


@dataclass(frozen=True)
class CarTopic:
    brand: str
    car: str
    channel: Channel


class Topics:
    """Builds and parses the topics under one root (tests use a root of their own)."""

    def __init__(self, root: str = "trunkdrop") -> None:
        if not root or any(part in root for part in ("+", "#")) or root.startswith("$"):
            raise ValueError(f"topic root {root!r} must be a plain topic without wildcards")
        self.root = root.rstrip("/")

    def car(self, brand: str, car: str, channel: Channel) -> str:
        for name, value in (("brand", brand), ("car", car)):
            if not _SEGMENT.match(value):
                raise ValueError(f"{name} {value!r} cannot be a topic level")
        return f"{self.root}/{VERSION}/{brand}/{car}/{channel}"

    def every_car(self, channel: Channel, brand: str = "+") -> str:
        """The subscription to `channel` of every car (of one brand, or of all)."""
        return f"{self.root}/{VERSION}/{brand}/+/{channel}"

    @property
    def clock(self) -> str:
        return f"{self.root}/{VERSION}/{FLEET}/clock"

    def parse(self, topic: str) -> CarTopic:
        """The brand, car and channel of a car's topic; ValueError for anything else."""
        prefix = f"{self.root}/{VERSION}/"
        if not topic.startswith(prefix):
            raise ValueError(f"topic {topic!r} is not under {prefix!r}")
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 3:
            raise ValueError(f"topic {topic!r} is not {prefix}<brand>/<car>/<channel>")
        brand, car, channel = parts
        if brand == FLEET or not _SEGMENT.match(brand) or not _SEGMENT.match(car):
            raise ValueError(f"topic {topic!r} does not name a brand and a car")
        for known in CHANNELS:
            if channel == known:
                return CarTopic(brand=brand, car=car, channel=known)
        raise ValueError(f"topic {topic!r} has no channel {channel!r}")
