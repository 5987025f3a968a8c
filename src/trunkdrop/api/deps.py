"""Request dependencies: the platform, a session per request, the calling party and its role."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from trunkdrop.api.auth import KeyCache
from trunkdrop.bootstrap import Platform
from trunkdrop.config import Settings
from trunkdrop.errors import Forbidden, Unauthenticated
from trunkdrop.operations.logs import PARTY_ID
from trunkdrop.parties import service as parties
from trunkdrop.parties.models import Party, Role
from trunkdrop.store.engine import read_only_session
from trunkdrop.store.uow import end_transaction, unit_of_work
from trunkdrop.web import signin

bearer = HTTPBearer(auto_error=False)
T = TypeVar("T")


# Dependencies that neither block nor touch the database are `async def`: FastAPI runs a
# plain `def` dependency in a worker thread, and each such hop costs more CPU than these
# functions themselves (a request used to make seven).


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def get_session(platform: PlatformDep, request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed when the view returns, rolled back on error.

    Refusals that must be remembered (a refused grant is audited) commit too. A GET only
    reads, so it does not queue behind writers for SQLite's write lock (drivers poll
    their attempt many times a second). Making a session does no I/O, so it is made here
    on the event loop; the end (commit or rollback, then close) is one hop to a thread.
    """
    reads_only = request.method in ("GET", "HEAD")
    session = (
        read_only_session(platform.session_factory) if reads_only else platform.session_factory()
    )
    try:
        yield session
    except BaseException as e:
        await _end_in_thread(session, e)
        raise
    else:
        await _end_in_thread(session, None)
    finally:
        if not reads_only:
            _wake_workers(request)


async def _end_in_thread(session: Session, error: BaseException | None) -> None:
    # A thread of its own, never one of the shared pool: the transaction (on SQLite, the
    # write lock) may still be held here, and the pool's threads may all be requests
    # waiting for that lock (as FastAPI does for the exit of a sync dependency).
    await anyio.to_thread.run_sync(
        functools.partial(_end, session, error), limiter=anyio.CapacityLimiter(1)
    )


def _end(session: Session, error: BaseException | None) -> None:
    try:
        end_transaction(session, error)
    finally:
        session.close()


# Function scope: the transaction commits when the view returns, before the response is
# sent. With FastAPI's default (request scope) the client could read the answer of a
# write that was not committed yet, or never would be.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _wake_workers(request: Request) -> None:
    """A write may have queued a command or a car's report: send it now. (After one that
    changed nothing the workers find nothing to do, at the cost of a glance.)"""
    worker = getattr(request.app.state, "workers", None)
    if worker is not None:
        worker.wake()


class UnitOfWork:
    """The request's transaction in one hop to a thread: open, `work`, commit, close.

    For the driver's hot path (a delivery makes seven requests). With `SessionDep` a
    request hops three times (view, commit, close) and holds its transaction between the
    hops; here it holds it only inside one call, so the hot path can run on a few threads
    of its own (`Settings.api_db_threads`), where forty contending for one interpreter
    lock cost more CPU than the requests' work. Same rules as `get_session`: committed before the
    response is sent, refusals that must be remembered commit too, a GET only reads.
    """

    def __init__(self, platform: Platform, request: Request) -> None:
        self._platform, self._request = platform, request
        self._reads_only = request.method in ("GET", "HEAD")

    async def __call__(
        self, work: Callable[[Session], T], *, reads_only: bool = False, plain_reads: bool = False
    ) -> T:
        """Run `work` in the request's transaction; `reads_only` for a write verb whose
        work only reads (it then takes no write lock). `plain_reads`: the work only reads,
        locks nothing and streams nothing, so it needs no transaction at all
        (`store.engine.read_only_session`'s autocommit; a write verb's work must also say
        `reads_only`)."""
        reads_only = reads_only or self._reads_only
        # Reads and writes on pools of their own: on SQLite a write waits for the write
        # lock holding its thread, and reads (which need no lock) must not queue behind it.
        # Each unit holds its transaction inside one call only: a bounded pool cannot
        # deadlock.
        state = self._request.app.state
        limiter = state.db_read_threads if reads_only else state.db_write_threads
        return await anyio.to_thread.run_sync(
            self._run, work, reads_only, plain_reads and reads_only, limiter=limiter
        )

    def _run(self, work: Callable[[Session], T], reads_only: bool, autocommit: bool) -> T:
        try:
            with unit_of_work(
                self._platform.session_factory, reads_only=reads_only, autocommit=autocommit
            ) as session:
                return work(session)
        finally:
            # A write verb wakes the workers also when its transaction only read: it may
            # have moved the world outside (a simulated car's lid shut) that they report on.
            if not self._reads_only:
                _wake_workers(self._request)


async def get_unit_of_work(platform: PlatformDep, request: Request) -> UnitOfWork:
    return UnitOfWork(platform, request)


UnitDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]


async def get_settings(platform: PlatformDep) -> Settings:
    return platform.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_now(platform: PlatformDep) -> datetime:
    return platform.now()


NowDep = Annotated[datetime, Depends(get_now)]


async def current_party(
    platform: PlatformDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Party:
    """The calling party, detached: its key is checked in a short read-only transaction of
    its own (or answered from `auth.KeyCache`), so the request's write transaction (on
    SQLite, the database's one write lock) starts in the view and is not held between
    thread hops, and a long response (an event stream) holds no transaction at all."""
    if credentials is None and request.cookies.get(signin.COOKIE):
        return await _signed_in(platform, request)
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("send your API key as 'Authorization: Bearer KEY'")
    key = credentials.credentials[:200]
    cache: KeyCache = request.app.state.keys
    party = cache.get(key)
    if party is None:
        party = await anyio.to_thread.run_sync(
            _authenticate, platform, cache, key, limiter=request.app.state.db_read_threads
        )
    PARTY_ID.set(party.id)  # named in this request's log lines
    return party


async def _signed_in(platform: Platform, request: Request) -> Party:
    """A person signed in to the pages: the session cookie stands for an API key, and the
    API answers exactly what that party's key would. A write must also carry the session's
    CSRF token in a header, which a page of another site cannot read or send."""
    session_id = request.cookies[signin.COOKIE]
    if request.method not in ("GET", "HEAD") and not signin.csrf_ok(
        session_id, request.headers.get(signin.CSRF_HEADER)
    ):
        raise Forbidden(
            f"a signed-in write needs the page's {signin.CSRF_HEADER} header", code="csrf_failed"
        )
    return await anyio.to_thread.run_sync(
        _session_party, platform, session_id, limiter=request.app.state.db_read_threads
    )


def _session_party(platform: Platform, session_id: str) -> Party:
    with read_only_session(platform.session_factory) as session:
        party = signin.party_of(session=session, session_id=session_id, now=platform.now())
        session.expunge(party)
        return party


def _authenticate(platform: Platform, cache: KeyCache, key: str) -> Party:
    with read_only_session(platform.session_factory, autocommit=True) as session:
        return cache.authenticate(session, key)


CurrentParty = Annotated[Party, Depends(current_party)]


@dataclass(frozen=True)
class DriverCall:
    """A driver's request on the hot path: the platform, the driver, the request's time and
    its unit of work, in one dependency. FastAPI solving each small dependency (platform,
    settings, clock, unit, role, party) cost more than what they do, and a delivery makes
    four or five such requests."""

    platform: Platform
    driver: Party
    now: datetime
    unit: UnitOfWork

    @property
    def settings(self) -> Settings:
        return self.platform.settings


async def driver_call(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> DriverCall:
    platform: Platform = request.app.state.platform
    party = await current_party(platform, request, credentials)
    parties.require_role(party, Role.driver)
    return DriverCall(platform, party, platform.now(), UnitOfWork(platform, request))


AtTheCar = Annotated[DriverCall, Depends(driver_call)]


@dataclass(frozen=True)
class PartyCall:
    """Any party's read on the hot path (a driver polls their attempt several times a
    stop): the platform, the caller and the request's unit of work in one dependency, as
    `DriverCall` is for the driver's writes. The view checks what the caller may see."""

    platform: Platform
    party: Party
    unit: UnitOfWork


async def party_call(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> PartyCall:
    platform: Platform = request.app.state.platform
    party = await current_party(platform, request, credentials)
    return PartyCall(platform, party, UnitOfWork(platform, request))


Caller = Annotated[PartyCall, Depends(party_call)]


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


class CommitInView(APIRoute):
    """Routes whose sync views end their own transaction, in the view's thread.

    FastAPI validates a sync view's answer on a thread of the shared pool and only then ends
    the request's dependencies. Committing there (in `get_session`) held the transaction
    (on SQLite, the write lock) while waiting for a thread, and the pool's threads could
    all be requests waiting for that lock: nobody moved until the lock's timeout, then
    503s. Here the view's thread commits (or rolls back) as the view returns, with the same
    rules as `get_session`, whose own end then finds nothing left to do.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _ends_its_transaction(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _ends_its_transaction(view: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(view)  # FastAPI reads the view's parameters through __wrapped__
    def ending(*args: Any, **kwargs: Any) -> T:
        session = kwargs.get("session")
        if not isinstance(session, Session):
            return view(*args, **kwargs)
        try:
            result = view(*args, **kwargs)
        except BaseException as e:
            end_transaction(session, e)
            raise
        end_transaction(session)
        return result

    return ending
