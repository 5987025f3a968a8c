"""Recording an event: its timeline entry, audit entry and messages, in one place and in the
transaction of the change it records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    and_,
    any_,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnClause

from trunkdrop.access import audit
from trunkdrop.deliveries.models import Delivery, TimelineEntry
from trunkdrop.events.domain import Event, recording_of
from trunkdrop.events.models import EventAudience, LoggedEvent
from trunkdrop.notify import service as notify
from trunkdrop.notify.models import OutboxMessage
from trunkdrop.parties.models import Party, Role
from trunkdrop.store.base import UTCDateTime, append_rows, new_id, table_of
from trunkdrop.webhooks import fanout
from trunkdrop.webhooks.models import WebhookEndpoint


def record(*, session: Session, event: Event) -> None:
    """Write what the event's kind is recorded as. The change it records is in the same
    transaction: both commit or neither does. What wakes readers after the commit (event
    streams, the command dispatcher) follows from the rows themselves (`store.hints`)."""
    recording = recording_of(event)
    facts = dict(event.facts)
    # PostgreSQL: a published event's timeline entry and messages go with it (`_log`).
    together = recording.published is not None and session.get_bind().dialect.name == "postgresql"
    entry: dict[str, Any] | None = None
    if recording.timeline is not None:
        # `recording_of` refused a timeline event without them.
        assert event.delivery_id is not None
        assert event.text is not None
        entry = {
            "delivery_id": event.delivery_id,
            "at": event.at,
            "kind": recording.timeline,
            "text": event.text[:300],
        }
        if not together:
            append_rows(session, TimelineEntry, [entry])
    if recording.audit is not None:
        audit.append(
            session=session,
            actor=event.actor,
            action=recording.audit,
            subject=event.subject,
            now=event.at,
            data=facts,
        )
    message: dict[str, Any] | None = None
    if recording.topic is not None:
        payload = {"delivery_id": event.delivery_id, **facts} if event.delivery_id else facts
        if event.text is not None:
            payload["message"] = event.text
        message = {"topic": recording.topic, "payload": payload}
        if not together:
            notify.emit(
                session=session,
                topic=recording.topic,
                recipient_ids=event.parties,
                delivery_id=event.delivery_id,
                now=event.at,
                payload=payload,
            )
    if recording.published is not None:
        _log(
            session=session,
            event=event,
            published=recording.published,
            entry=entry if together else None,
            message=message if together else None,
        )


def _log(
    *,
    session: Session,
    event: Event,
    published: str,
    entry: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
) -> None:
    """The event in the log under its public name, readable by its parties (and the
    delivery's shop and carrier), and queued for their webhook endpoints. On PostgreSQL
    also its timeline `entry` and `message` to its parties, if given."""
    audience = _audience(session, event)
    if session.new:  # the delivery the event names may still be pending
        session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # The event, its audience, timeline entry and messages, and the endpoints that may
        # hear it: one round trip.
        params: dict[str, Any] = {
            "key": new_id("evt"),
            "kind": published,
            "occurred_at": event.at,
            "delivery_id": event.delivery_id,
            "subject": event.subject,
            "facts": dict(event.facts),
            "party_ids": audience,
            "audience": audience,
        }
        if entry is not None:
            params |= {"entry_kind": entry["kind"], "entry_text": entry["text"]}
        if message is not None:
            params |= {
                "topic": message["topic"],
                "payload": message["payload"],
                "recipients": list(dict.fromkeys(r for r in event.parties if r)),
            }
        together = _log_statement(entry is not None, message is not None)
        rows = session.connection().execute(together, params).all()
        fanout.queue(
            session=session,
            event_id=rows[0][0],
            kind=published,
            audience=audience,
            ordering_key=event.delivery_id or event.subject,
            now=event.at,
            # A row without an endpoint: nobody's endpoint may hear it.
            listeners=[(r[1], r[2] or []) for r in rows if r[1] is not None],
        )
        return
    table = table_of(LoggedEvent)
    statement = insert(table).returning(table.c.id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.values(tx=_as_bigint(func.pg_current_xact_id()))
    event_id: int = (
        session.connection()
        .execute(
            statement,
            {
                "key": new_id("evt"),
                "kind": published,
                "occurred_at": event.at,
                "delivery_id": event.delivery_id,
                "subject": event.subject,
                "facts": dict(event.facts),
                "party_ids": audience,
            },
        )
        .scalar_one()
    )
    append_rows(session, EventAudience, [{"party_id": p, "event_id": event_id} for p in audience])
    fanout.queue(
        session=session,
        event_id=event_id,
        kind=published,
        audience=audience,
        ordering_key=event.delivery_id or event.subject,
        now=event.at,
    )


def _log_statement(entry: bool, message: bool) -> Select[int, str | None, list[str] | None]:
    """PostgreSQL: the event logged and its audience written (with its timeline `entry`
    and `message` to its parties, if asked) in data-modifying WITHs of the statement that
    reads the webhook endpoints that may hear it (`fanout.queue`): a row per endpoint, or
    one with none; each row's first column is the event's id. Every row is written from a
    SELECT naming its columns: a parameter named like a column another insert leaves out
    would otherwise be written to it. Built once per shape."""
    statement = _LOG_PG.get((entry, message))
    if statement is not None:
        return statement
    events_table, heard_table = table_of(LoggedEvent), table_of(EventAudience)
    endpoints = table_of(WebhookEndpoint)
    audience = bindparam("audience", type_=ARRAY(String))
    at = bindparam("occurred_at", type_=UTCDateTime())
    delivery_id = bindparam("delivery_id", type_=String())
    logged = (
        insert(events_table)
        .values(
            {
                **{
                    c.name: bindparam(c.name, type_=c.type)
                    for c in events_table.columns
                    if c.name not in ("id", "tx")
                },
                "tx": _as_bigint(func.pg_current_xact_id()),
            }
        )
        .returning(events_table.c.id)
        .cte("logged")
    )
    heard = (
        insert(heard_table)
        .from_select(["party_id", "event_id"], select(func.unnest(audience), logged.c.id))
        .cte("heard")
    )
    may_hear = and_(
        endpoints.c.enabled.is_(True),
        or_(endpoints.c.owner_id == any_(audience), endpoints.c.owner_role == "operator"),
    )
    statement = (
        select(logged.c.id, endpoints.c.id, endpoints.c.event_types)
        .select_from(logged.outerjoin(endpoints, may_hear))
        .order_by(endpoints.c.id)
        .add_cte(heard)
    )
    if entry:
        timeline = table_of(TimelineEntry)
        row = select(
            delivery_id,
            at,
            bindparam("entry_kind", type_=String()),
            bindparam("entry_text", type_=String()),
        )
        statement = statement.add_cte(
            insert(timeline).from_select(["delivery_id", "at", "kind", "text"], row).cte("entry")
        )
    if message:
        outbox = table_of(OutboxMessage)
        rows = select(
            bindparam("topic", type_=String()),
            func.unnest(bindparam("recipients", type_=ARRAY(String))),
            delivery_id,
            bindparam("payload", type_=outbox.c.payload.type),
            at,
        )
        columns = ["topic", "recipient_id", "delivery_id", "payload", "created_at"]
        statement = statement.add_cte(
            insert(outbox).from_select(columns, rows, include_defaults=False).cte("message")
        )
    _LOG_PG[(entry, message)] = statement
    return statement


_LOG_PG: dict[tuple[bool, bool], Select[int, str | None, list[str] | None]] = {}


def _audience(session: Session, event: Event) -> list[str]:
    """Who may read the event: its parties, and the shop and the carrier of its delivery
    (an incident names no parties; the driver on the way tells only shop and customer)."""
    ids = [p for p in event.parties if p]
    if event.delivery_id is not None:
        delivery = session.get(Delivery, event.delivery_id)
        if delivery is not None:
            ids += [delivery.retailer_id, delivery.carrier_id]
    return list(dict.fromkeys(ids))


def feed(
    *, session: Session, party: Party, after: int, limit: int
) -> tuple[list[LoggedEvent], bool]:
    """The events `party` may read recorded after the cursor `after`, oldest first, and
    whether more follow. An operator reads all."""
    query = select(LoggedEvent).where(LoggedEvent.id > after)
    if session.get_bind().dialect.name == "postgresql":
        # An event whose id is higher but whose transaction commits later than another's
        # would be skipped by a reader whose cursor already passed it. Only events recorded
        # by transactions older than every transaction of this database still running are
        # final (the cluster-wide snapshot xmin would let any other database's long
        # transaction stall the feed).
        query = query.where(or_(LoggedEvent.tx.is_(None), LoggedEvent.tx < _OPEN_WRITERS_HORIZON))
    if party.role != Role.operator:
        query = query.join(EventAudience, EventAudience.event_id == LoggedEvent.id).where(
            EventAudience.party_id == party.id
        )
    rows = list(session.scalars(query.order_by(LoggedEvent.id).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


# The oldest transaction still running in the reader's snapshot, leaving out those another
# database of the cluster runs (its 32-bit `backend_xid` matched against the snapshot's 64-bit
# ids); with none, the next id to be handed out. A transaction that ended between the
# snapshot and the look at `pg_stat_activity` counts as ours: held back for one read.
_OPEN_WRITERS_HORIZON: ColumnClause[Any] = literal_column(
    "(SELECT coalesce("
    "(SELECT min(i::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS i"
    " WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a"
    " WHERE a.datname IS DISTINCT FROM current_database() AND a.backend_xid IS NOT NULL"
    " AND a.backend_xid::text::bigint = i::text::bigint % 4294967296)),"
    " pg_snapshot_xmax(pg_current_snapshot())::text::bigint))"
)


def _as_bigint(xid8: Any) -> Any:
    """A PostgreSQL `xid8` as a bigint (it has no direct cast)."""
    return cast(cast(xid8, String), BigInteger)


def event_data(row: LoggedEvent) -> dict[str, Any]:
    """An event as the feed and the webhooks show it."""
    return {
        "id": row.key,
        "cursor": row.id,
        "type": row.kind,
        "occurred_at": row.occurred_at.isoformat(),
        "delivery_id": row.delivery_id,
        "subject": row.subject,
        "facts": row.facts,
    }
