"""Engine and session factory for SQLite (embedded) and PostgreSQL (at scale)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from pathlib import Path
from select import POLLERR, POLLHUP, POLLIN, poll
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, event, exc, inspect, select
from sqlalchemy.orm import Mapper, Session, sessionmaker

# Execution option for a transaction that only reads: on SQLite it begins DEFERRED, so it
# neither takes nor waits for the write lock (WAL readers see the last committed state).
READ_ONLY = "trunkdrop_read_only"
_BUSY_TIMEOUT_S = 30


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # SQL logs (DEBUG) show statements, never values: no key material or personal data.
    kwargs: dict[str, Any] = {"future": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": _BUSY_TIMEOUT_S,
            "factory": _writer_lock_connection(),
        }
        # A request holds its connection from authentication to commit, also while it waits
        # for a thread between those steps; a bounded pool could then be held entirely by
        # requests that wait for threads held by requests that wait for connections. SQLite
        # connections are file handles: never make a request wait for one.
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = -1
    else:
        # Enough for every thread of the API's thread pool (40) and the workers: a request
        # that waits for a connection holds its thread and slows every other one.
        kwargs["pool_size"] = 20
        kwargs["max_overflow"] = 30
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take it over so that
        # BEGIN IMMEDIATE serialises writers instead of failing them on upgrade.
        event.listen(engine, "begin", _sqlite_begin)
    else:
        event.listen(engine, "checkout", _drop_if_closed_by_server)
    return engine


def _drop_if_closed_by_server(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A pooled PostgreSQL connection the server has ended (pg_terminate_backend, a
    restart, an idle timeout) is replaced before it is handed out.

    Instead of `pool_pre_ping`, whose `SELECT 1` was a round trip (and a transaction of its
    own) before every transaction of every request: an idle connection in the pool has
    nothing to read unless the server said goodbye (its FATAL message, or end of file),
    so a readable socket, checked without waiting, means it is gone. The pool then takes
    another connection (SQLAlchemy's pessimistic disconnect handling). A connection cut
    silently (no FIN) is found by its first statement, as any cut mid-transaction is.
    """
    if dbapi_conn.closed or getattr(dbapi_conn, "broken", False):
        raise exc.DisconnectionError("the database connection is closed")
    poller = poll()
    poller.register(dbapi_conn.fileno(), POLLIN | POLLERR | POLLHUP)
    if poller.poll(0):
        raise exc.DisconnectionError("the database ended this connection")


class _NoRowValues(logging.Filter):
    """SQLAlchemy logs result rows at DEBUG: drop them (they carry encrypted keys, positions)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Row ")


logging.getLogger("sqlalchemy.engine.Engine").addFilter(_NoRowValues())


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _writer_lock_connection() -> type[sqlite3.Connection]:
    """sqlite3 connections of one engine that queue for the write lock in this process.

    SQLite makes a writer that finds the lock taken poll for it with growing sleeps (up
    to 100 ms each), so under load most of a request's time was spent asleep while the
    lock sat free. Writers of this process first queue on a Python lock, handed over the
    moment the holder's COMMIT or ROLLBACK has returned; BEGIN IMMEDIATE then finds the
    database free. Other processes still meet SQLite's own lock and busy timeout.
    """
    lock = threading.Lock()

    class WriterLockConnection(sqlite3.Connection):
        holds_writer_lock = False

        def acquire_writer_lock(self) -> None:
            # Bounded: a thread that opens a second write transaction while holding one
            # gets SQLite's own busy timeout (as without this lock), not a hang.
            self.holds_writer_lock = lock.acquire(timeout=_BUSY_TIMEOUT_S)

        def release_writer_lock(self) -> None:
            if self.holds_writer_lock:
                self.holds_writer_lock = False
                lock.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self.release_writer_lock()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.release_writer_lock()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self.release_writer_lock()

    return WriterLockConnection


def _sqlite_begin(conn: Any) -> None:
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
        return
    dbapi_conn = conn.connection.dbapi_connection
    queued = hasattr(dbapi_conn, "acquire_writer_lock")
    if queued:
        dbapi_conn.acquire_writer_lock()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if queued:
            dbapi_conn.release_writer_lock()
        raise


class PlatformSession(Session):
    """A session whose `get` of a row it does not hold yet runs a SELECT built once per
    model: `Session.get` builds its statement anew on every miss, which cost a third of
    the load (a delivery makes some twenty such loads). Everything else, and any `get`
    with options (a lock, a refresh), is `Session.get` itself; an option given as None
    (`with_for_update=None`) is no option."""

    def get(self, entity: Any, ident: Any, **options: Any) -> Any:
        options = {name: value for name, value in options.items() if value is not None}
        if options or not isinstance(entity, type) or not isinstance(ident, str):
            return super().get(entity, ident, **options)
        mapper: Mapper[Any] = inspect(entity)
        if len(mapper.primary_key) != 1:
            return super().get(entity, ident)
        if mapper.identity_key_from_primary_key((ident,)) in self.identity_map:
            return super().get(entity, ident)  # held: its own rules (expired, deleted)
        by_id = _BY_ID.get(mapper)
        if by_id is None:
            by_id = _BY_ID[mapper] = select(mapper).where(
                mapper.primary_key[0] == bindparam("ident")
            )
        return self.scalars(by_id, {"ident": ident}).one_or_none()


_BY_ID: dict[Mapper[Any], Any] = {}


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, class_=PlatformSession, expire_on_commit=False, autoflush=True)


def read_only_session(factory: sessionmaker[Session], *, autocommit: bool = False) -> Session:
    """A session for a request that only reads (see READ_ONLY).

    `autocommit`: on PostgreSQL, no transaction around the reads: each statement stands
    alone, one round trip instead of three (BEGIN, the read, COMMIT), and the database
    does less. Under READ COMMITTED every statement of a transaction takes its own
    snapshot anyway, so plain reads see the same; only for work that neither writes nor
    locks rows, nor streams a result (a server-side cursor needs a transaction)."""
    if autocommit:
        bind = factory.kw.get("bind")
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            return factory(bind=_autocommitting(bind), execution_options={READ_ONLY: True})
    return factory(execution_options={READ_ONLY: True})


def _autocommitting(engine: Engine) -> Engine:
    # One per engine, sharing its pool: made once (making one costs more than a read).
    found = _AUTOCOMMIT.get(engine)
    if found is None:
        found = _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return found


_AUTOCOMMIT: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
