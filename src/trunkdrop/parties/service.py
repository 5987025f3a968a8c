"""Creating parties and keys, and finding the party behind a presented key."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from trunkdrop.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties.models import ApiKey, Party, Role
from trunkdrop.store.base import new_id


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# A party's id says its role at a glance; each role its own prefix (carrier and car maker
# once shared `car_`). Ids already stored keep theirs.
_ID_PREFIX = {
    Role.customer: "cus",
    Role.retailer: "ret",
    Role.carrier: "car",
    Role.driver: "dri",
    Role.carmaker: "mkr",
    Role.operator: "ope",
}


def create_party(
    *,
    session: Session,
    role: str,
    name: str,
    now: datetime,
    carrier_id: str | None = None,
    brand: str | None = None,
    brands: Collection[str] = (),
) -> Party:
    """A new party; a car maker names the brand it reports for, one of `brands` (the
    adapters the platform has)."""
    try:
        role = Role(role).value
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {role!r}; use one of {allowed}", field="role") from None
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name must be 1 to 200 characters", field="name")
    if role == Role.driver:
        if carrier_id is None:
            raise InvalidInput("a driver needs the carrier they drive for", field="carrier")
        carrier = session.get(Party, carrier_id)
        if carrier is None or carrier.role != Role.carrier:
            raise InvalidInput(f"no carrier with id {carrier_id!r}", field="carrier")
    elif carrier_id is not None:
        raise InvalidInput("only drivers belong to a carrier", field="carrier")
    if role == Role.carmaker and not brand:
        raise InvalidInput("a car maker needs the brand adapter it reports for", field="brand")
    if role == Role.carmaker and brand not in brands:
        known = ", ".join(sorted(brands)) or "none"
        raise InvalidInput(f"no vehicle adapter for brand {brand!r}; known: {known}", field="brand")
    party = Party(
        id=new_id(_ID_PREFIX[Role(role)]),
        role=role,
        name=name,
        carrier_id=carrier_id,
        brand=brand if role == Role.carmaker else None,
        created_at=now,
    )
    session.add(party)
    session.flush()
    return party


def create_api_key(
    *, session: Session, party: Party, now: datetime, device_id: str | None = None
) -> str:
    """Store a new key for `party` (hashed) and return the plaintext, which is never stored.
    A key issued for a handset (`device_id`) dies when that handset is revoked."""
    return _new_key(session, party, now, device_id)[1]


def _new_key(
    session: Session, party: Party, now: datetime, device_id: str | None
) -> tuple[ApiKey, str]:
    key = f"td_{party.role[:4]}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        id=new_id("key"),
        party_id=party.id,
        key_hash=_hash(key),
        prefix=key[:12],
        created_at=now,
        device_id=device_id,
    )
    session.add(row)
    session.flush()
    return row, key


def _may_manage_keys(by: Party | None, party: Party | None) -> bool:
    """The party itself, its carrier (for a driver), an operator, or the command line."""
    return by is None or (
        party is not None
        and (by.role == Role.operator or by.id == party.id or by.id == party.carrier_id)
    )


def party_whose_keys(*, session: Session, by: Party, party_id: str) -> Party:
    """The party whose keys `by` may issue: itself, its driver (a carrier), anyone (an
    operator). Not found and not yours look the same: other parties' ids are not confirmed."""
    party = session.get(Party, party_id)
    if party is None or not _may_manage_keys(by, party):
        raise NotFound(f"no party with id {party_id!r} whose keys you may issue", field="party_id")
    return party


def issue_api_key(
    *,
    session: Session,
    by: Party,
    party_id: str,
    now: datetime,
    label: str,
    device_id: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key for an existing party — a driver whose phone was stolen keeps their
    identity, routes and handsets — issued by the party itself, its carrier or an operator.
    The caller checks that `device_id`, when given, is the party's own handset."""
    party = party_whose_keys(session=session, by=by, party_id=party_id)
    row, key = _new_key(session, party, now, device_id)
    row.label = label
    events.record(
        session=session,
        event=Event(
            kind="api_key.issued",
            at=now,
            subject=party.id,
            actor=by.id,
            facts={"key": row.id, "prefix": row.prefix, "label": label, "device": device_id},
        ),
    )
    return row, key


def revoke_keys_of_device(*, session: Session, device_id: str, by: str, now: datetime) -> int:
    """Revoke the live keys issued for a handset (it was lost or stolen). Returns how many."""
    keys = list(
        session.scalars(
            select(ApiKey)
            .where(ApiKey.device_id == device_id, ApiKey.revoked_at.is_(None))
            .with_for_update()
        )
    )
    for key in keys:
        key.revoked_at = now
        events.record(
            session=session,
            event=Event(
                kind="api_keys.revoked",
                at=now,
                subject=key.party_id,
                actor=by,
                facts={"keys": 1, "key": key.id, "device": device_id},
            ),
        )
    session.flush()
    return len(keys)


def authenticate(*, session: Session, key: str) -> Party:
    # One query: every request pays for it.
    party = session.scalars(
        select(Party)
        .join(ApiKey, ApiKey.party_id == Party.id)
        .where(ApiKey.key_hash == _hash(key), ApiKey.revoked_at.is_(None))
    ).one_or_none()
    if party is None:
        raise Unauthenticated("unknown or revoked API key")
    return party


def update_preferences(*, session: Session, party: Party, changes: dict[str, object]) -> Party:
    """Set how messages reach `party` (language, time zone, e-mail address)."""
    stored = session.get(Party, party.id)
    if stored is None:
        raise NotFound(f"no party with id {party.id!r}", field="party_id")
    for name in ("language", "timezone", "email"):
        if name in changes:
            value = changes[name]
            if name == "language" and value is None:
                raise InvalidInput("language: en or de", field="language")
            setattr(stored, name, value)
    session.flush()
    return stored


def revoke_api_keys(*, session: Session, by: Party | None, party_id: str, now: datetime) -> int:
    """Revoke every live key of a party (a driver who left, a leaked key): in one call by the
    party itself, its carrier (for a driver), an operator, or the command line (`by` None).
    Returns how many keys died. API processes forget their remembered answer at once when
    the revocation is theirs, within seconds otherwise (api/auth.py)."""
    party = session.get(Party, party_id)
    if party is None or not _may_manage_keys(by, party):
        # Not found and not yours look the same: ids of other parties are not confirmed.
        raise NotFound(f"no party with id {party_id!r} whose keys you may revoke", field="party_id")
    keys = list(
        session.scalars(
            select(ApiKey)
            .where(ApiKey.party_id == party.id, ApiKey.revoked_at.is_(None))
            .with_for_update()
        )
    )
    for key in keys:
        key.revoked_at = now
    if keys:
        events.record(
            session=session,
            event=Event(
                kind="api_keys.revoked",
                at=now,
                subject=party.id,
                actor=by.id if by is not None else "cli",
                facts={"keys": len(keys)},
            ),
        )
    session.flush()
    return len(keys)


def get_party(*, session: Session, party_id: str, role: str | None = None) -> Party:
    party = session.get(Party, party_id)
    if party is None or (role is not None and party.role != role):
        what = role or "party"
        raise NotFound(f"no {what} with id {party_id!r}", field=f"{what}_id")
    return party


def require_role(party: Party, *roles: str) -> None:
    if party.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}; your key is a {party.role} key")


def pseudonymise(*, session: Session, party: Party) -> None:
    """Erasure (GDPR art. 17): the party keeps its id (deliveries, the audit chain) but no
    name, e-mail or time zone."""
    party.name, party.email, party.timezone = "erased", None, None
    session.flush()
