"""Declarative base and column types shared by every domain's models."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult, DateTime, Executable, MetaData, Table, TypeDecorator, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back timezone-aware datetimes, also on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


_id_source: ContextVar[random.Random | None] = ContextVar("trunkdrop_id_source", default=None)


def new_id(prefix: str) -> str:
    """A readable, unguessable id: `veh_3f9a…` (80 random bits)."""
    source = _id_source.get()
    if source is not None:
        return f"{prefix}_{source.getrandbits(80):020x}"
    return f"{prefix}_{secrets.token_hex(10)}"


@contextmanager
def reproducible_ids(seed: int) -> Iterator[None]:
    """Ids from a seeded generator, for simulations that must repeat to the digit.

    Never used by the service itself: there ids must be unguessable.
    """
    token = _id_source.set(random.Random(seed))
    try:
        yield
    finally:
        _id_source.reset(token)


def append_rows(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert rows of an append-only table (timeline, outbox) at once, in the session's
    transaction, past the ORM's unit of work: nothing reads them back as objects in the
    same transaction, and the unit of work's bookkeeping cost more than the inserts."""
    if rows:
        _execute(session, model, "insert", rows)


def insert_if_absent(session: Session, model: type[Base], row: dict[str, Any]) -> bool:
    """Insert a row unless the table already holds one with the same key (primary or
    unique): True when this call inserted it. One statement decides, also when two
    transactions race for the same key: the database keeps one and the other inserts
    nothing, with no error to recover from (no savepoint needed)."""
    return _execute(session, model, "insert_if_absent", row).first() is not None


def _execute(
    session: Session, model: type[Base], kind: str, params: dict[str, Any] | list[dict[str, Any]]
) -> CursorResult[Any]:
    if session.new:  # a row may name an object still pending (a delivery booked just now)
        session.flush()
    connection = session.connection()
    key = (model.__tablename__, kind, connection.dialect.name)
    statement = _STATEMENTS.get(key)
    if statement is None:  # built once per table: building one costs more than running it
        table = table_of(model)
        if kind == "insert":
            statement = insert(table)
        else:
            make = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
            statement = make(table).on_conflict_do_nothing().returning(*table.primary_key)
        _STATEMENTS[key] = statement
    return connection.execute(statement, params)


_STATEMENTS: dict[tuple[str, str, str], Executable] = {}


def table_of(model: type[Base]) -> Table:
    """A model's table, for statements that go past the ORM."""
    return model.metadata.tables[model.__tablename__]
