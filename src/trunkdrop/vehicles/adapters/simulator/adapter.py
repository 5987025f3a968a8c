"""The reference adapter: one simulated brand, backed by the shared CarSimulator, and the
simulator as the platform's source of car reports (the embedded car link)."""

from __future__ import annotations

from datetime import datetime

from authlib.oauth2.rfc6749.parameters import prepare_grant_uri

from trunkdrop.vehicles.adapters.simulator.brands import SIM_BRANDS
from trunkdrop.vehicles.adapters.simulator.car import CarSimulator
from trunkdrop.vehicles.ports import (
    CONSENT_SCOPES,
    AdapterError,
    AdapterMetadata,
    CommandOrder,
    ConsentAsk,
    GrantKeys,
    Report,
    VehicleConfirmation,
)

# The platform's client id at the simulated car makers.
CLIENT_ID = "trunkdrop"


class SimulatorAdapter:
    """The reference adapter: one simulated brand, backed by the shared CarSimulator."""

    def __init__(self, brand: str, simulator: CarSimulator) -> None:
        if brand not in SIM_BRANDS:
            raise ValueError(f"unknown simulated brand {brand!r}")
        self._meta = SIM_BRANDS[brand]
        self._sim = simulator

    @property
    def metadata(self) -> AdapterMetadata:
        return self._meta

    def confirm_vehicle(self, *, external_id: str, now: datetime) -> VehicleConfirmation:
        if self._meta.consent_redirect:
            raise AdapterError(
                "consent_redirect_required",
                f"{self._meta.brand} asks the owner on its own page (POST /v1/vehicle-consents)",
            )
        return self._confirmed(external_id, CONSENT_SCOPES, now)

    def authorization_url(self, ask: ConsentAsk) -> str:
        if not self._meta.consent_redirect:
            raise AdapterError("not_supported", f"{self._meta.brand} confirms cars directly")
        # The simulated maker's page is served by the platform itself (simulator views).
        return str(
            prepare_grant_uri(
                f"/v1/sim/carmaker/{self._meta.brand}/authorize",
                CLIENT_ID,
                "code",
                redirect_uri=ask.redirect_uri,
                scope=" ".join(ask.scopes),
                state=ask.state,
                code_challenge=ask.code_challenge,
                code_challenge_method="S256",
                vehicle=ask.external_id,
            )
        )

    def exchange_consent(
        self, *, external_id: str, code: str, code_verifier: str, redirect_uri: str, now: datetime
    ) -> VehicleConfirmation:
        if not self._meta.consent_redirect:
            raise AdapterError("not_supported", f"{self._meta.brand} confirms cars directly")
        scopes = self._sim.carmaker.exchange(
            brand=self._meta.brand,
            external_id=external_id,
            code=code,
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
            now=now,
        )
        return self._confirmed(external_id, scopes, now)

    def _confirmed(
        self, external_id: str, scopes: tuple[str, ...], now: datetime
    ) -> VehicleConfirmation:
        self._sim.ensure_car(self._meta.brand, external_id)
        return VehicleConfirmation(
            external_id=external_id,
            consent_scopes=scopes,
            capabilities=self._meta.capabilities,
            consent_expires_at=self._meta.consent_expires_at(now),
        )

    def send_command(self, order: CommandOrder, *, now: datetime) -> None:
        try:
            self._sim.submit(self._meta.brand, order, now)
        except KeyError as e:  # mapped at the edge, like a vendor's 404
            raise AdapterError("unknown_vehicle", str(e)) from e

    def wake(self, *, external_id: str, now: datetime) -> None:
        self._sim.wake(self._meta.brand, external_id, now)

    def provision_grant_keys(self, *, external_id: str, keys: GrantKeys, now: datetime) -> None:
        if not self._meta.capabilities.offline_grants:
            raise AdapterError("not_supported", f"{self._meta.brand} cars do not check grants")
        if not self._sim.provision(self._meta.brand, external_id, keys, now):
            raise AdapterError("vehicle_offline", "the car is out of reach; try again later")

    def revoke_grant(self, *, external_id: str, grant_id: str, now: datetime) -> None:
        if not self._meta.capabilities.offline_grants:
            raise AdapterError("not_supported", f"{self._meta.brand} cars do not check grants")
        self._sim.revoke_grant(self._meta.brand, external_id, grant_id, now)


class SimulatorReportSource:
    """The embedded car link's `ReportSource`: the cars run up to `now` as they are asked."""

    def __init__(self, simulator: CarSimulator) -> None:
        self._sim = simulator

    def take(self, now: datetime) -> list[Report]:
        return self._sim.advance(now)

    def redeliver(self, reports: list[Report]) -> None:
        self._sim.redeliver(reports)

    def settle(self, reports: list[Report]) -> None:
        """Nothing to do: the simulator forgets a report once it is taken."""
