"""Consent at the car maker's own page: the platform, as the maker's OAuth 2 client (code
with PKCE), sends the owner there to approve scopes, and the maker redirects back with a
code the adapter exchanges. Links a new car, or renews a linked car's consent."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from trunkdrop.errors import Conflict, Forbidden, InvalidInput
from trunkdrop.parties.models import Party
from trunkdrop.store.base import new_id
from trunkdrop.vehicles import service
from trunkdrop.vehicles.models import Vehicle, VehicleConsentRequest
from trunkdrop.vehicles.ports import CONSENT_SCOPES, AdapterError, ConsentAsk
from trunkdrop.vehicles.registry import AdapterRegistry
from trunkdrop.vehicles.schemas import VehicleLink

# Long enough for an owner to sign in at the maker; a request left longer is dead.
REQUEST_LIFETIME = timedelta(minutes=15)


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def start_link(
    *,
    session: Session,
    registry: AdapterRegistry,
    owner: Party,
    vehicle_in: VehicleLink,
    redirect_uri: str,
    now: datetime,
) -> tuple[VehicleConsentRequest, str]:
    """Ask the owner to approve linking a car at its maker: the request and where to go."""
    linked = session.scalars(
        select(Vehicle).where(
            Vehicle.brand == vehicle_in.brand,
            Vehicle.external_id == vehicle_in.external_id,
            Vehicle.unlinked_at.is_(None),
        )
    ).one_or_none()
    if linked is not None and not (
        linked.owner_id == owner.id and linked.consent_withdrawn_at is not None
    ):
        raise Conflict(
            "this car is already linked", code="vehicle_already_linked", field="external_id"
        )
    return _start(
        session=session,
        registry=registry,
        owner=owner,
        brand=vehicle_in.brand,
        external_id=vehicle_in.external_id,
        vehicle_id=None,
        link=vehicle_in.model_dump(mode="json"),
        redirect_uri=redirect_uri,
        now=now,
    )


def start_renewal(
    *,
    session: Session,
    registry: AdapterRegistry,
    owner: Party,
    vehicle_id: str,
    redirect_uri: str,
    now: datetime,
) -> tuple[VehicleConsentRequest, str]:
    """Ask the owner to give (or renew) a linked car's consent at its maker."""
    vehicle = service.get_owned_vehicle(session=session, owner=owner, vehicle_id=vehicle_id)
    return _start(
        session=session,
        registry=registry,
        owner=owner,
        brand=vehicle.brand,
        external_id=vehicle.external_id,
        vehicle_id=vehicle.id,
        link=None,
        redirect_uri=redirect_uri,
        now=now,
    )


def _start(
    *,
    session: Session,
    registry: AdapterRegistry,
    owner: Party,
    brand: str,
    external_id: str,
    vehicle_id: str | None,
    link: dict[str, object] | None,
    redirect_uri: str,
    now: datetime,
) -> tuple[VehicleConsentRequest, str]:
    adapter = registry.get(brand)
    if not adapter.metadata.consent_redirect:
        raise InvalidInput(
            f"{brand} confirms cars directly: link with POST /v1/vehicles, renew with "
            "POST /v1/vehicles/{id}/consent",
            field="brand",
            code="consent_redirect_not_supported",
        )
    state, verifier = generate_token(43), generate_token(64)
    ask = ConsentAsk(
        external_id=external_id,
        scopes=CONSENT_SCOPES,
        state=state,
        code_challenge=create_s256_code_challenge(verifier),
        redirect_uri=redirect_uri,
    )
    try:
        url = adapter.authorization_url(ask)
    except AdapterError as e:
        raise InvalidInput(
            f"the car maker cannot ask its owner: {e}", field="brand", code=e.code
        ) from e
    request = VehicleConsentRequest(
        id=new_id("vcr"),
        owner_id=owner.id,
        brand=brand,
        external_id=external_id,
        vehicle_id=vehicle_id,
        link=link,
        state_hash=_digest(state),
        code_verifier=verifier,
        redirect_uri=redirect_uri,
        created_at=now,
        expires_at=now + REQUEST_LIFETIME,
    )
    session.add(request)
    session.flush()
    return request, url


def finish(
    *,
    session: Session,
    registry: AdapterRegistry,
    owner: Party,
    state: str,
    code: str | None,
    error: str | None,
    now: datetime,
    grant_issuer: str | None = None,
    grant_public_keys: dict[str, bytes] | None = None,
) -> Vehicle:
    """The car maker redirected the owner back: exchange the code and link the car or renew
    its consent. A state not issued to this owner, used, or run out is refused."""
    request = session.scalars(
        select(VehicleConsentRequest)
        .where(VehicleConsentRequest.state_hash == _digest(state))
        .with_for_update()
    ).one_or_none()
    if request is None or request.owner_id != owner.id:
        raise InvalidInput(
            "no open consent request has this state", field="state", code="consent_state_invalid"
        )
    # One use: gone with the answer (the car maker's code is spent by the exchange too);
    # the plate and VIN it holds are not kept past it.
    session.delete(request)
    session.flush()
    if request.expires_at <= now:
        raise InvalidInput(
            "the consent request ran out; start again", field="state", code="consent_state_expired"
        )
    if error is not None or not code:
        raise Forbidden(
            f"the owner did not approve at the car maker ({error or 'no code'})",
            code="carmaker_consent_denied",
        )
    try:
        confirmation = registry.get(request.brand).exchange_consent(
            external_id=request.external_id,
            code=code,
            code_verifier=request.code_verifier,
            redirect_uri=request.redirect_uri,
            now=now,
        )
    except AdapterError as e:
        raise InvalidInput(
            f"the car maker did not confirm the consent: {e}", field="code", code=e.code
        ) from e
    if request.vehicle_id is not None:
        vehicle = service.get_owned_vehicle(
            session=session, owner=owner, vehicle_id=request.vehicle_id
        )
        return service.renew_consent(
            session=session, vehicle=vehicle, confirmation=confirmation, owner=owner, now=now
        )
    assert request.link is not None
    return service.link_confirmed(
        session=session,
        registry=registry,
        owner=owner,
        vehicle_in=VehicleLink.model_validate(request.link),
        confirmation=confirmation,
        now=now,
        grant_issuer=grant_issuer,
        grant_public_keys=grant_public_keys,
    )


def forget_requests(*, session: Session, now: datetime, owner_id: str | None = None) -> int:
    """Drop requests that ran out unanswered (the sweep), or all of one owner's (erasure)."""
    query = delete(VehicleConsentRequest)
    if owner_id is None:
        query = query.where(VehicleConsentRequest.expires_at <= now)
    else:
        query = query.where(VehicleConsentRequest.owner_id == owner_id)
    gone = session.execute(query)
    return int(getattr(gone, "rowcount", 0) or 0)
