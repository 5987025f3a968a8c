"""Webhooks over real HTTP to a receiver on 127.0.0.1 that checks every signature with the
standardwebhooks package; the relay is driven by the tests' manual clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from tests.support import World
from trunkdrop import workers
from trunkdrop.api.app import create_app
from trunkdrop.bootstrap import Platform
from trunkdrop.clock import ManualClock
from trunkdrop.config import Settings
from trunkdrop.notify import service as notify
from trunkdrop.webhooks.models import WebhookEndpoint


class Receiver:
    """An HTTP server that keeps what it was sent and answers the statuses it is given
    (then `default`)."""

    def __init__(self, default: int = 200) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        self.default = default
        self.on_receive: Callable[[], None] = lambda: None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.answers.pop(0) if receiver.answers else receiver.default
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
                receiver.on_receive()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every webhook received, each checked against `secret` (raises if one fails)."""
        return [Webhook(secret).verify(body, headers) for headers, body in self.received]

    def ids(self) -> list[str]:
        return [headers["webhook-id"] for headers, _ in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        environment="test",
        workers_inline=False,
        webhooks_allow_private=True,
    )


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


def _receiver(receivers: list[Receiver], default: int = 200) -> Receiver:
    receiver = Receiver(default)
    receivers.append(receiver)
    return receiver


ALL = [
    "delivery.booked",
    "delivery.cancelled",
    "delivery.out_for_delivery",
    "delivery.attempt_failed",
    "delivery.delivered",
    "delivery.not_reached",
    "delivery.returned_to_sender",
    "incident.opened",
    "incident.resolved",
]


def _subscribe(world: World, who: str, url: str, events: list[str] = ALL) -> dict[str, Any]:
    return world.ok(world.post(who, "/v1/webhook-endpoints", {"url": url, "events": events}), 201)


def _relay(world: World, seconds: float = 0) -> None:
    workers.run_once(world.platform, world.clock.advance(seconds))


def test_a_delivered_parcels_events_arrive_signed_and_in_order(
    world: World, receivers: list[Receiver]
) -> None:
    """Booked, out for delivery, delivered: three signed webhooks in that order, each its own id."""
    receiver = _receiver(receivers)
    endpoint = _subscribe(world, "shop", receiver.url)
    assert endpoint["secret"].startswith("whsec_")
    vehicle, delivery, attempt = world.ready_at_car()
    world.deliver_into_trunk(vehicle, attempt)
    _relay(world)
    payloads = receiver.verified(endpoint["secret"])
    assert [p["type"] for p in payloads] == [
        "delivery.booked",
        "delivery.out_for_delivery",
        "delivery.delivered",
    ]
    assert {p["data"]["delivery_id"] for p in payloads} == {delivery["id"]}
    assert len(set(receiver.ids())) == 3
    assert receiver.ids() == [p["data"]["id"] for p in payloads]
    assert payloads[-1]["data"]["facts"] == {"outcome": "delivered_trunk"}
    with pytest.raises(Exception, match="signature"):
        Webhook(_subscribe(world, "shop", receiver.url)["secret"]).verify(
            receiver.received[0][1], receiver.received[0][0]
        )


def test_a_failing_receiver_gets_the_same_id_until_it_answers_and_order_holds(
    world: World, receivers: list[Receiver]
) -> None:
    """500, 500, then 200: the booking's webhook-id three times; the cancellation only after it."""
    receiver = _receiver(receivers)
    receiver.answers = [500, 500]
    endpoint = _subscribe(world, "shop", receiver.url)
    vehicle = world.link_car()
    office = world.add_place()
    delivery = world.book(vehicle, [(office, 10, 12)])
    world.ok(world.post("shop", f"/v1/deliveries/{delivery['id']}/cancel"))
    _relay(world)
    assert len(receiver.received) == 1, "the cancellation must wait for the booking"
    _relay(world, 5)
    assert len(receiver.received) == 1, "the retry waits for its backoff"
    for _ in range(4):
        _relay(world, 60)
    ids = receiver.ids()
    assert len(ids) == 4
    assert ids[0] == ids[1] == ids[2] != ids[3]
    assert [p["type"] for p in receiver.verified(endpoint["secret"])] == [
        "delivery.booked",
        "delivery.booked",
        "delivery.booked",
        "delivery.cancelled",
    ]
    page = world.ok(world.get("shop", f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"))
    booked = page["data"][0]
    assert [t["status_code"] for t in booked["tries"]] == [500, 500, 200]
    assert booked["tries"][0]["error"] == "answered 500"
    assert booked["status"] == "succeeded"
    assert [m["status"] for m in page["data"]] == ["succeeded", "succeeded"]


def test_a_receiver_that_never_answers_2xx_is_disabled_and_its_owner_told(
    world: World, receivers: list[Receiver]
) -> None:
    """Always 503: retried with growing waits for a day, then the endpoint is disabled and the shop gets a message."""
    receiver = _receiver(receivers, default=503)
    endpoint = _subscribe(world, "shop", receiver.url)
    vehicle = world.link_car()
    delivery = world.book(vehicle, [(world.add_place(), 10, 12)])
    start = world.clock.now()
    for _ in range(40):
        _relay(world, 3600)
        read = world.ok(world.get("shop", f"/v1/webhook-endpoints/{endpoint['id']}"))
        if not read["enabled"]:
            break
    assert read["enabled"] is False
    assert "no 2xx answer" in read["disabled_reason"]
    assert world.clock.now() - start <= timedelta(hours=26)
    tries = len(receiver.received)
    assert 5 <= tries <= 20
    assert set(receiver.ids()) == {receiver.ids()[0]}
    assert all(
        p["data"]["delivery_id"] == delivery["id"] for p in receiver.verified(endpoint["secret"])
    )
    with world.platform.uow() as session:
        told = notify.messages_for(session=session, recipient_id=world.ids["shop"])
        assert [m.topic for m in told if m.topic == "webhook_endpoint.disabled"] == [
            "webhook_endpoint.disabled"
        ]
    _relay(world, 86_400)
    assert len(receiver.received) == tries, "a disabled endpoint is sent nothing"


def test_a_retailer_never_receives_another_retailers_event(
    world: World, receivers: list[Receiver]
) -> None:
    """Two shops, one booking each: each shop's endpoint gets only its own; the operator's gets both."""
    mine, theirs, everyone = (_receiver(receivers) for _ in range(3))
    _subscribe(world, "shop", mine.url)
    _subscribe(world, "other-shop", theirs.url)
    _subscribe(world, "operator", everyone.url, ["delivery.booked"])
    _subscribe(world, "other-carrier", _receiver(receivers).url)
    anna = world.book(world.link_car(), [(world.add_place(), 10, 12)])
    ben = world.book(
        world.link_car("ben"), [(world.add_place("ben"), 10, 12)], who="ben", shop="other-shop"
    )
    _relay(world)
    delivery_of = lambda r: [json.loads(b)["data"]["delivery_id"] for _, b in r.received]  # noqa: E731
    assert delivery_of(mine) == [anna["id"]]
    assert delivery_of(theirs) == [ben["id"]]
    assert sorted(delivery_of(everyone)) == sorted([anna["id"], ben["id"]])
    assert receivers[3].received == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hooks",
        "https://127.0.0.1/hooks",
        "https://[::1]/hooks",
        "https://[::ffff:10.0.0.1]/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://localhost/hooks",
    ],
)
def test_private_and_loopback_targets_are_refused_at_creation(world: World, url: str) -> None:
    """Without webhooks_allow_private, a URL on a private, loopback or link-local address is a 422 naming url."""
    world.platform.settings.webhooks_allow_private = False
    response = world.post("shop", "/v1/webhook-endpoints", {"url": url, "events": ALL})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "url"
    assert world.ok(world.get("shop", "/v1/webhook-endpoints"))["data"] == []


def test_a_private_target_is_refused_again_at_send(world: World, receivers: list[Receiver]) -> None:
    """An endpoint allowed at creation is not called once private addresses are refused; the try says why."""
    receiver = _receiver(receivers)
    endpoint = _subscribe(world, "shop", receiver.url)
    world.platform.settings.webhooks_allow_private = False
    world.book(world.link_car(), [(world.add_place(), 10, 12)])
    _relay(world)
    assert receiver.received == []
    page = world.ok(world.get("shop", f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"))
    assert page["data"][0]["tries"][0]["error"].startswith("refused:")
    assert page["data"][0]["status"] == "pending"


def test_endpoints_are_managed_by_their_owner_only(world: World, receivers: list[Receiver]) -> None:
    """List shows only one's own; another shop gets 404; a customer or a driver may not subscribe; bad event types are 422."""
    receiver = _receiver(receivers)
    endpoint = _subscribe(world, "shop", receiver.url)
    listed = world.ok(world.get("shop", "/v1/webhook-endpoints"))["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]
    assert world.ok(world.get("other-shop", "/v1/webhook-endpoints"))["data"] == []
    for path in ("", "/deliveries"):
        assert (
            world.get("other-shop", f"/v1/webhook-endpoints/{endpoint['id']}{path}").status_code
            == 404
        )
    assert (
        world.post("other-shop", f"/v1/webhook-endpoints/{endpoint['id']}/disable").status_code
        == 404
    )
    assert world.delete("other-shop", f"/v1/webhook-endpoints/{endpoint['id']}").status_code == 404
    for who in ("anna", "driver"):
        response = world.post(who, "/v1/webhook-endpoints", {"url": receiver.url, "events": ALL})
        assert response.status_code == 403, who
    bad = world.post("shop", "/v1/webhook-endpoints", {"url": receiver.url, "events": ["x.y"]})
    assert bad.status_code == 422
    assert bad.json()["field"] == "events"
    assert world.delete("shop", f"/v1/webhook-endpoints/{endpoint['id']}").status_code == 204
    assert world.get("shop", f"/v1/webhook-endpoints/{endpoint['id']}").status_code == 404


def test_disable_holds_messages_and_enable_sends_them(
    world: World, receivers: list[Receiver]
) -> None:
    """Queued then disabled: nothing is sent until enabled again; what happened while disabled is not queued (the feed has it)."""
    receiver = _receiver(receivers)
    endpoint = _subscribe(world, "shop", receiver.url)
    vehicle, office = world.link_car(), world.add_place()
    first = world.book(vehicle, [(office, 10, 12)])
    world.ok(world.post("shop", f"/v1/webhook-endpoints/{endpoint['id']}/disable"))
    second = world.book(vehicle, [(office, 10, 12)])
    _relay(world)
    assert receiver.received == []
    world.ok(world.post("shop", f"/v1/webhook-endpoints/{endpoint['id']}/enable"))
    _relay(world)
    sent = receiver.verified(endpoint["secret"])
    assert [p["data"]["delivery_id"] for p in sent] == [first["id"]]
    feed = world.ok(world.get("shop", "/v1/events"))["data"]
    assert [e["delivery_id"] for e in feed] == [first["id"], second["id"]]


def test_replay_sends_the_same_webhook_id_and_a_rotated_secret_overlaps(
    world: World, receivers: list[Receiver]
) -> None:
    """A replay carries the first webhook-id; after a rotation both secrets verify it, and only the new after a day."""
    receiver = _receiver(receivers)
    endpoint = _subscribe(world, "shop", receiver.url)
    world.book(world.link_car(), [(world.add_place(), 10, 12)])
    _relay(world)
    rotated = world.ok(world.post("shop", f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret"))
    assert rotated["secret"] != endpoint["secret"]
    page = world.ok(world.get("shop", f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"))
    message_id = page["data"][0]["id"]
    replayed = world.ok(world.post("shop", f"/v1/webhook-deliveries/{message_id}/replay"), 202)
    assert replayed["status"] == "pending"
    assert (
        world.post("other-shop", f"/v1/webhook-deliveries/{message_id}/replay").status_code == 404
    )
    _relay(world)
    assert len(receiver.ids()) == 2
    assert receiver.ids()[0] == receiver.ids()[1]
    headers, body = receiver.received[1]
    for secret in (endpoint["secret"], rotated["secret"]):
        Webhook(secret).verify(body, headers)
    world.ok(world.post("shop", f"/v1/webhook-deliveries/{message_id}/replay"), 202)
    _relay(world, 86_401)
    headers, body = receiver.received[2]
    Webhook(rotated["secret"]).verify(body, headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(endpoint["secret"]).verify(body, headers)


def test_the_servers_own_workers_send_webhooks_without_being_driven(
    platform: Platform, clock: ManualClock, receivers: list[Receiver]
) -> None:
    """With the in-process workers on (as `trunkdrop serve` runs), a booking's webhook arrives by itself."""
    receiver = _receiver(receivers)
    arrived = threading.Event()
    receiver.on_receive = arrived.set
    with TestClient(create_app(platform, run_workers=True)) as client:
        world = World(platform, client, clock)
        endpoint = _subscribe(world, "shop", receiver.url, ["delivery.booked"])
        delivery = world.book(world.link_car(), [(world.add_place(), 10, 12)])
        assert arrived.wait(10), "the relay thread did not send the booking"
    [payload] = receiver.verified(endpoint["secret"])
    assert payload["data"]["delivery_id"] == delivery["id"]


def test_the_signing_secret_is_stored_sealed(world: World, receivers: list[Receiver]) -> None:
    """The database holds no signing secret in clear: a dump alone cannot forge webhooks."""
    endpoint = _subscribe(world, "shop", _receiver(receivers).url)
    rotated = world.ok(world.post("shop", f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret"))
    with world.platform.uow() as session:
        row = session.get(WebhookEndpoint, endpoint["id"])
        assert row is not None
        stored = f"{row.secret} {row.previous_secret}"
    for secret in (endpoint["secret"], rotated["secret"]):
        assert secret.removeprefix("whsec_") not in stored
    assert "whsec_" not in stored
