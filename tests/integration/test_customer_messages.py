"""Customer messages: rendered per reader (language, zone), sent over SMTP to a local
server, recorded on the outbox row for push; no position in any of them."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import Message as Email
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from tests.support import OFFICE, World
from trunkdrop.config import Settings
from trunkdrop.notify.models import OutboxMessage


class Inbox:
    """An SMTP server on 127.0.0.1 that keeps what it receives."""

    def __init__(self, port: int | None = None) -> None:
        self.mails: list[Email] = []
        self._lock = threading.Lock()
        self.port = port or _free_port()
        self.running = True
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.mails.append(message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Email]:
        with self._lock:
            return [m for m in self.mails if m["To"] == address]

    def stop(self) -> None:
        if self.running:
            self.running = False
            self._controller.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    server = Inbox()
    yield server
    server.stop()


@pytest.fixture
def settings(database_url: str, inbox: Inbox) -> Settings:
    return Settings(
        database_url=database_url,
        environment="test",
        workers_inline=False,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_from="trunkdrop <noreply@example.org>",
    )


def _body(mail: Email) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(mail.get_content_charset() or "utf-8")


def _no_position(text: str) -> None:
    for coordinate in (OFFICE[0], OFFICE[1]):
        assert f"{coordinate:.3f}"[:5] not in text
    assert not re.search(r"\d+\.\d{3,}", text), text


def test_a_delivery_is_told_to_the_customer_in_german_in_her_zone(
    world: World, inbox: Inbox
) -> None:
    """Anna (German, Berlin) gets 'driver on the way' and 'delivered, trunk locked at HH:MM CET' by e-mail."""
    world.ok(
        world.client.patch(
            "/v1/me",
            json={"language": "de", "timezone": "Europe/Berlin", "email": "anna@example.org"},
            headers=world.auth("anna"),
        )
    )
    vehicle, delivery, attempt = world.ready_at_car()
    world.deliver_into_trunk(vehicle, attempt)
    read = world.ok(world.get("anna", f"/v1/deliveries/{delivery['id']}"))
    assert read["status"] == "delivered"
    mails = inbox.to("anna@example.org")
    subjects = [m["Subject"] for m in mails]
    assert "trunkdrop: Fahrer unterwegs" in subjects
    assert "trunkdrop: Zugestellt" in subjects
    delivered = _body(next(m for m in mails if m["Subject"] == "trunkdrop: Zugestellt"))
    locked = next(e["at"] for e in read["timeline"] if e["kind"] == "locked")
    local = datetime.fromisoformat(locked).astimezone(ZoneInfo("Europe/Berlin"))
    assert f"Kofferraum um {local:%H:%M} CET verriegelt" in delivered
    on_the_way = _body(next(m for m in mails if m["Subject"] == "trunkdrop: Fahrer unterwegs"))
    assert "bitte bewegen Sie das Auto nicht" in on_the_way
    for mail in mails:
        assert mail["Content-Language"] == "de"
        _no_position(_body(mail))


def test_an_english_reader_in_another_zone_reads_english_and_that_zone(
    world: World, inbox: Inbox
) -> None:
    """A customer in New York reads English with the time in EST; the shop without e-mail gets none."""
    world.ok(
        world.client.patch(
            "/v1/me",
            json={"language": "en", "timezone": "America/New_York", "email": "anna@example.com"},
            headers=world.auth("anna"),
        )
    )
    vehicle, _, attempt = world.ready_at_car()
    world.deliver_into_trunk(vehicle, attempt)
    mails = inbox.to("anna@example.com")
    bodies = {m["Subject"]: _body(m) for m in mails}
    assert (
        "driver on the way — please don't move the car"
        in bodies["trunkdrop: Driver on the way"].lower()
    )
    assert re.search(r"Delivered, trunk locked at \d\d:\d\d EST\.", bodies["trunkdrop: Delivered"])
    assert len(inbox.mails) == len(mails), "only Anna has an address"


def test_without_smtp_messages_stay_in_the_outbox_rendered_for_push(world: World) -> None:
    """No SMTP configured: every message is settled in the outbox with its rendered text."""
    world.platform.message_channels = []
    vehicle, _, attempt = world.ready_at_car()
    world.deliver_into_trunk(vehicle, attempt)
    with world.platform.uow() as session:
        rows = list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient_id == world.ids["anna"])
            )
        )
    assert rows and all(r.sent_at is not None for r in rows)
    delivered = next(r for r in rows if r.topic == "delivery.delivered")
    assert delivered.payload["rendered"]["subject"] == "Delivered"
    assert " CET" in delivered.payload["rendered"]["body"]


def test_an_unreachable_smtp_server_keeps_the_message_pending(world: World, inbox: Inbox) -> None:
    """A message the SMTP server could not take stays unsent and goes out once it answers."""
    world.ok(
        world.client.patch("/v1/me", json={"email": "anna@example.org"}, headers=world.auth("anna"))
    )
    inbox.stop()
    world.ready_at_car()
    with world.platform.uow() as session:
        pending = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.recipient_id == world.ids["anna"], OutboxMessage.sent_at.is_(None)
            )
        ).all()
        assert any(r.topic == "delivery.out_for_delivery" for r in pending)
    restarted = Inbox(port=inbox.port)
    try:
        world.tick(2)
        assert [m["Subject"] for m in restarted.to("anna@example.org")].count(
            "trunkdrop: Driver on the way"
        ) == 1
    finally:
        restarted.stop()


def test_a_trunk_left_open_is_told_when_relocking_and_when_locked(
    world: World, inbox: Inbox
) -> None:
    """The owner reads 'we are locking it again', then — after the car reports locked — 'has been locked again'."""
    world.ok(
        world.client.patch("/v1/me", json={"email": "anna@example.org"}, headers=world.auth("anna"))
    )
    _, _, attempt = world.ready_at_car()
    world.ok(world.request_access(attempt["id"], (OFFICE[0] + 0.0001, OFFICE[1])), 202)
    world.tick(20)
    world.ok(world.post("driver", f"/v1/attempts/{attempt['id']}/deposit"))
    world.tick(6 * 60, step=5)
    bodies = [_body(m) for m in inbox.to("anna@example.org")]
    relocking = [i for i, b in enumerate(bodies) if "we are locking it again" in b]
    relocked = [i for i, b in enumerate(bodies) if "has been locked again" in b]
    assert len(relocking) == 1 and len(relocked) == 1, bodies
    assert relocking[0] < relocked[0]


def test_a_message_the_server_refuses_for_a_day_is_given_up(world: World, inbox: Inbox) -> None:
    """A message pending for longer than message_retry_s is settled as undelivered, not retried for ever."""
    world.ok(
        world.client.patch("/v1/me", json={"email": "anna@example.org"}, headers=world.auth("anna"))
    )
    inbox.stop()
    world.ready_at_car()

    def pending() -> list[OutboxMessage]:
        with world.platform.uow() as session:
            return list(
                session.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.recipient_id == world.ids["anna"],
                        OutboxMessage.sent_at.is_(None),
                    )
                )
            )

    newest = max(pending(), key=lambda r: r.created_at)
    retry = timedelta(seconds=world.platform.settings.message_retry_s)
    world.until(newest.created_at + retry - timedelta(seconds=60))
    assert newest.id in {r.id for r in pending()}, "given up before its time"
    world.until(newest.created_at + retry + timedelta(seconds=60))
    assert pending() == []
    with world.platform.uow() as session:
        given_up = session.get(OutboxMessage, newest.id)
        assert given_up is not None
        assert given_up.payload["undelivered"]
        assert given_up.payload["rendered"]["subject"]
