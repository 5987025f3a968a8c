"""Request dependencies: the platform, a session per request, the calling party and its role."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from trunkdrop.bootstrap import Platform
from trunkdrop.config import Settings
from trunkdrop.errors import DomainError, Unauthenticated
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Party, Role
from trunkdrop.store.engine import READ_ONLY, read_only_session

bearer = HTTPBearer(auto_error=False)


# Dependencies that neither block nor touch the database are `async def`: FastAPI runs a
# plain `def` dependency in a worker thread, and each such hop costs more CPU than these
# functions themselves (a request used to make seven).


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_session(platform: PlatformDep, request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the view returns, rolled back on error.

    Refusals that must be remembered (a refused grant is audited) commit too. A GET only
    reads, so it does not queue behind writers for SQLite's write lock (drivers poll
    their attempt many times a second).
    """
    reads_only = request.method in ("GET", "HEAD")
    session = (
        read_only_session(platform.session_factory) if reads_only else platform.session_factory()
    )
    try:
        yield session
        session.commit()
        if not reads_only:
            _wake_workers(request)
    except DomainError as e:
        if e.persist:
            session.commit()
            _wake_workers(request)
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Function scope: the transaction commits when the view returns, before the response is
# sent. With FastAPI's default (request scope) the client could read the answer of a
# write that was not committed yet, or never would be.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _wake_workers(request: Request) -> None:
    """A committed change may have queued a command or a car's report: send it now."""
    worker = getattr(request.app.state, "workers", None)
    if worker is not None:
        worker.wake()


async def get_settings(platform: PlatformDep) -> Settings:
    return platform.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_now(platform: PlatformDep) -> datetime:
    return platform.now()


NowDep = Annotated[datetime, Depends(get_now)]


def current_party(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Party:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("send your API key as 'Authorization: Bearer KEY'")
    # On SQLite the key is looked up in a short read-only transaction of its own: the
    # request's write transaction (the database's one write lock) then starts in the view
    # and is not held while the request hops between threads. The party stays loaded.
    # PostgreSQL has no such lock; there the extra commit would only cost a round trip.
    split = not session.in_transaction() and session.get_bind().dialect.name == "sqlite"
    if split:
        session.connection(execution_options={READ_ONLY: True})
    party = parties.authenticate(session=session, key=credentials.credentials[:200])
    if split:
        session.commit()
    return party


CurrentParty = Annotated[Party, Depends(current_party)]


def current_party_detached(
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Party:
    """The calling party, read in a transaction of its own that ends at once.

    For long responses (event streams): the request session would hold SQLite's write
    lock for the whole stream and block every other transaction.
    """
    with read_only_session(platform.session_factory) as session:
        return current_party(session, credentials)


DetachedParty = Annotated[Party, Depends(current_party_detached)]


def role(*roles: Role) -> Callable[[Party], Coroutine[Any, Any, Party]]:
    async def check(party: CurrentParty) -> Party:
        parties.require_role(party, *roles)
        return party

    return check


Customer = Annotated[Party, Depends(role(Role.customer))]
Retailer = Annotated[Party, Depends(role(Role.retailer))]
Carrier = Annotated[Party, Depends(role(Role.carrier))]
Driver = Annotated[Party, Depends(role(Role.driver))]
Carmaker = Annotated[Party, Depends(role(Role.carmaker))]
Operator = Annotated[Party, Depends(role(Role.operator))]
CarrierOrDriver = Annotated[Party, Depends(role(Role.carrier, Role.driver, Role.operator))]
