"""The car link's messages, version 1: JSON, one pydantic model per channel.

Every message carries `"v": 1`; a receiver refuses a version it does not know rather than
guess. Times are ISO 8601 with an offset.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from trunkdrop.schemas import Latitude, Longitude
from trunkdrop.vehicles.ports import CommandOrder
from trunkdrop.vehicles.schemas import VehicleEventIn


def why_refused(error: Exception) -> str:
    """A refused message's fault for the logs: which fields and why, never their values (a
    report's values are a car's position)."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'message'}: {e['type']}"
            for e in error.errors(include_input=False, include_url=False)
        )
    return type(error).__name__


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1

    def encode(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class CommandMessage(_Message):
    """Platform → car, on `…/commands`. The car runs it only before `expires_at` by its own
    clock and runs a `command_id` once; a late one is reported `command_rejected`/`expired`."""

    command_id: str = Field(min_length=1, max_length=64)
    kind: Literal["unlock_trunk", "lock", "wake"]
    expires_at: AwareDatetime
    sent_at: AwareDatetime
    handset_key: str | None = Field(None, max_length=64)

    @classmethod
    def of(cls, order: CommandOrder, *, sent_at: datetime) -> CommandMessage:
        return cls(
            command_id=order.command_id,
            kind=order.kind,
            expires_at=order.expires_at,
            sent_at=sent_at,
            handset_key=order.handset_key,
        )

    def order(self, external_id: str) -> CommandOrder:
        if self.kind == "wake":
            raise ValueError("a wake-up is not a command order")
        return CommandOrder(
            command_id=self.command_id,
            vehicle_external_id=external_id,
            kind=self.kind,
            expires_at=self.expires_at,
            handset_key=self.handset_key,
        )


class AckMessage(_Message):
    """Car → platform, on `…/acks`: the command reached the car (what it did comes as a
    report)."""

    command_id: str = Field(min_length=1, max_length=64)
    status: Literal["received", "duplicate", "asleep", "expired"]
    at: AwareDatetime


class ReportMessage(_Message, VehicleEventIn):
    """Car → platform, on `…/reports`: exactly the car maker webhook's event, versioned.
    `event_id` makes it idempotent: the platform takes a report in once, however often the
    broker delivers it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def event(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"v"}, exclude_none=True)


class StateMessage(_Message):
    """Car → platform, retained on `…/state`: whether the car is in reach and awake, so the
    platform knows to wake it before a command (the car maker's "vehicle asleep")."""

    online: bool
    asleep: bool
    at: AwareDatetime


class LinkMessage(_Message):
    """Platform → fleet, retained on `…/link`: this car is linked; the fleet keeps it."""

    brand: str = Field(min_length=1, max_length=64)
    external_id: str = Field(min_length=1, max_length=64)
    at: AwareDatetime


class KeysMessage(_Message):
    """Platform → car, retained on `…/keys`: the public keys a car that checks grants
    itself verifies them with (base64url raw Ed25519)."""

    issuer: str
    vehicle_id: str
    public_keys: dict[str, str]
    at: AwareDatetime

    @staticmethod
    def encode_key(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode_key(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class RevocationMessage(_Message):
    """Platform → car, on `…/revocations`: a grant the car must refuse from now on."""

    grant_id: str = Field(min_length=1, max_length=64)
    at: AwareDatetime


class SimMessage(_Message):
    """Operator → simulated car, on `…/sim`: the physical world (the owner parks, the
    driver shuts the lid, the car leaves coverage). Only the simulated fleet listens."""

    action: Literal["park", "close_trunk", "go_offline", "come_online", "configure"]
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    # configure: the simulated car's settings and faults (latency_s, stale_lock_state, ...).
    settings: dict[str, float | bool] | None = None
    at: AwareDatetime


class ClockMessage(_Message):
    """The simulated world's time, retained on `{root}/v1/_fleet/clock`, for a fleet run
    with `--clock follow` (tests on a manual clock); a real car has its own clock."""

    now: AwareDatetime
