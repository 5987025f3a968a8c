"""The vehicle adapter port: what trunkdrop needs from a car maker's cloud (or the car itself).

Every brand adapter has the same shape: metadata with capabilities, confirm a car,
send a command that may take seconds to minutes, wake a sleeping car. Commands are
fire-and-forget; the car's own report (an event) confirms them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

CommandKind = Literal["unlock_trunk", "lock"]
CONSENT_SCOPES = ("location_during_windows", "trunk_access")
# The detail a car with `handset_proximity` rejects an unlock with when the grant's handset
# has not proved itself beside it.
HANDSET_NOT_NEAR = "handset_not_near"


@dataclass(frozen=True)
class Capabilities:
    trunk_only_unlock: bool
    lock_state: bool
    trunk_state: bool
    live_position: bool
    typical_latency_s: int
    rate_limit_per_min: int
    needs_wake: bool = False
    power_tailgate: bool = False
    # The car verifies grants itself with the platform's public keys (digital-key style).
    offline_grants: bool = False
    # The car sees the driver's handset over a short-range link (Bluetooth, UWB): it opens
    # for an unlock only when the grant's handset answered its own challenge beside it, so
    # a driver far away who copies the car's coordinates is refused by the car itself.
    handset_proximity: bool = False

    def trunk_delivery_blockers(self) -> list[str]:
        """Why a car with these capabilities cannot take trunk deliveries (empty: it can)."""
        blockers = []
        if not self.trunk_only_unlock:
            blockers.append("whole_car_unlock_only")
        if not self.lock_state:
            blockers.append("no_lock_state")
        if not self.trunk_state:
            blockers.append("no_trunk_state")
        return blockers


@dataclass(frozen=True)
class AdapterMetadata:
    brand: str
    display_name: str
    capabilities: Capabilities
    # The owner approves the platform at the car maker's own page (OAuth 2 authorisation
    # code with PKCE) instead of the maker confirming the car directly.
    consent_redirect: bool = False
    # How long the car maker's consent lasts before the owner must give it again; None:
    # until withdrawn.
    consent_lifetime_days: int | None = None

    def consent_expires_at(self, now: datetime) -> datetime | None:
        """When a consent the car maker gives at `now` ends."""
        if self.consent_lifetime_days is None:
            return None
        return now + timedelta(days=self.consent_lifetime_days)


@dataclass(frozen=True)
class VehicleConfirmation:
    external_id: str
    consent_scopes: tuple[str, ...]
    capabilities: Capabilities
    # The car maker's consent ends then (the owner renews it); None: until withdrawn.
    consent_expires_at: datetime | None = None


@dataclass(frozen=True)
class ConsentAsk:
    """What the platform, as the car maker's OAuth client, asks the owner to approve."""

    external_id: str
    scopes: tuple[str, ...]
    state: str
    code_challenge: str  # S256 of the platform's code verifier (PKCE)
    redirect_uri: str


@dataclass(frozen=True)
class CommandOrder:
    command_id: str
    vehicle_external_id: str
    kind: CommandKind
    expires_at: datetime
    grant_token: str | None = None
    # The public key of the handset the unlock is for (base64url): a car with
    # `handset_proximity` opens only when that handset proved itself beside the car.
    handset_key: str | None = None


class AdapterError(Exception):
    """A car-maker failure mapped to a stable code; vendor exceptions never leave the adapter."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class VehicleAsleep(AdapterError):
    def __init__(self, message: str = "vehicle is asleep") -> None:
        super().__init__("vehicle_asleep", message)


@dataclass(frozen=True)
class GrantKeys:
    """What a car that verifies grants itself is provisioned with at linking."""

    issuer: str
    vehicle_id: str  # the platform's id for the car: the grants' `sub`
    public_keys: dict[str, bytes]  # key id -> raw Ed25519 public key


class VehicleAdapter(Protocol):
    @property
    def metadata(self) -> AdapterMetadata: ...

    def confirm_vehicle(self, *, external_id: str, now: datetime) -> VehicleConfirmation:
        """The car maker confirms the car directly. Brands with `consent_redirect` raise
        AdapterError("consent_redirect_required")."""
        ...

    def authorization_url(self, ask: ConsentAsk) -> str:
        """Where the owner approves the platform at the car maker (brands with
        `consent_redirect`; the others raise AdapterError("not_supported"))."""
        ...

    def exchange_consent(
        self, *, external_id: str, code: str, code_verifier: str, redirect_uri: str, now: datetime
    ) -> VehicleConfirmation:
        """Exchange the code the car maker redirected back with for the confirmed car and
        its consent (scopes, expiry). A bad, used or expired code: AdapterError."""
        ...

    def send_command(self, order: CommandOrder, *, now: datetime) -> None: ...

    def wake(self, *, external_id: str, now: datetime) -> None: ...

    def provision_grant_keys(self, *, external_id: str, keys: GrantKeys, now: datetime) -> None:
        """Give a car that verifies grants itself the platform's public keys.

        Adapters of brands without `offline_grants` raise AdapterError("not_supported").
        """
        ...

    def revoke_grant(self, *, external_id: str, grant_id: str, now: datetime) -> None:
        """Tell a car that checks grants itself that a grant is revoked (idempotent)."""
        ...


# One car report as it arrives: the brand whose adapter speaks for the car, and the report
# in the car maker webhook's shape (`vehicles.schemas.VehicleEventIn`).
Report = tuple[str, dict[str, Any]]


class ReportSource(Protocol):
    """Where the cars' reports come in: the in-process simulator, or the car link.

    The worker takes what arrived, ingests it in one transaction, then settles it; when it
    could not (the database was unavailable) it hands it back with `redeliver`. Taking a
    report twice is harmless: ingest is idempotent on `event_id`.
    """

    def take(self, now: datetime) -> list[Report]:
        """The reports that have arrived by `now`, oldest first."""
        ...

    def redeliver(self, reports: list[Report]) -> None:
        """Reports that could not be taken in: offer them again, ahead of newer ones."""
        ...

    def settle(self, reports: list[Report]) -> None:
        """These reports are committed: the source may forget them."""
        ...
