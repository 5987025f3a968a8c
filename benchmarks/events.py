"""Events recorded and webhooks delivered per second to a local receiver, with one relay.

    .venv/bin/python benchmarks/events.py [--events 5000] [--batch 50] [--paced 1000 --rate 200]

The platform runs on a fresh SQLite database with one shop endpoint on a receiver in this
process (127.0.0.1, HTTP/1.1 keep-alive). Phase one records `--events` published events as
fast as it can (`--batch` per transaction; each an incident opened, with its audit
entry), then starts one relay thread on the backlog; the figure is webhooks received per
second from the relay's start to the last webhook received. Phase two records
`--paced` events at `--rate` per second and measures, per event, the time from its commit
to its webhook's arrival; the figure is the 99th percentile. A sample of the webhooks is
verified with the standardwebhooks package. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from trunkdrop.bootstrap import Platform, bootstrap
from trunkdrop.config import Settings
from trunkdrop.events import service as events
from trunkdrop.events.domain import Event
from trunkdrop.parties import service as parties
from trunkdrop.webhooks import pending
from trunkdrop.webhooks import service as webhooks
from trunkdrop.webhooks.schemas import EndpointCreate


class Receiver:
    """Keeps the arrival time of each webhook by the event's subject."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.sample: list[tuple[dict[str, str], bytes]] = []
        self.done = threading.Event()
        self.expect = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                now = time.perf_counter()
                subject = json.loads(body)["data"]["subject"]
                receiver.arrived[subject] = now
                if len(receiver.sample) < 100:
                    receiver.sample.append(({k: v for k, v in self.headers.items()}, body))
                if len(receiver.arrived) >= receiver.expect:
                    receiver.done.set()
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


def relay_loop(platform: Platform, stop: threading.Event) -> None:
    while not stop.is_set():
        pending.wait(0.05)
        platform.relay.drain(platform.uow, platform.now())


def record(platform: Platform, shop_id: str, names: list[str], recorded: dict[str, float]) -> None:
    with platform.uow() as session:
        for name in names:
            events.record(
                session=session,
                event=Event(
                    kind="incident.opened",
                    at=platform.now(),
                    subject=name,
                    facts={"kind": "bench"},
                    parties=(shop_id,),
                ),
            )
    committed = time.perf_counter()
    for name in names:
        recorded[name] = committed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--paced", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            environment="test",
            workers_inline=False,
            webhooks_allow_private=True,
        )
        platform = bootstrap(settings)
        receiver = Receiver()
        with platform.uow() as session:
            shop = parties.create_party(
                session=session, role="retailer", name="shop", now=platform.now()
            )
            shop_id = shop.id
            _, secret = webhooks.create_endpoint(
                session=session,
                settings=settings,
                owner=shop,
                endpoint_in=EndpointCreate(url=receiver.url, events=["incident.opened"]),
                now=platform.now(),
            )
        recorded: dict[str, float] = {}

        # Phase one: throughput. The events first, then the relay sends the backlog.
        receiver.expect = args.events
        names = [f"bulk_{i:08d}" for i in range(args.events)]
        started = time.perf_counter()
        for i in range(0, len(names), args.batch):
            record(platform, shop_id, names[i : i + args.batch], recorded)
        recording_s = time.perf_counter() - started
        stop = threading.Event()
        relay = threading.Thread(target=relay_loop, args=(platform, stop), daemon=True)
        started = time.perf_counter()
        relay.start()
        pending.wake()
        if not receiver.done.wait(300):
            raise SystemExit(f"only {len(receiver.arrived)} of {args.events} webhooks arrived")
        sending_s = max(receiver.arrived.values()) - started
        per_s = args.events / sending_s

        # Phase two: latency at a steady rate.
        receiver.done.clear()
        receiver.expect = args.events + args.paced
        paced = [f"paced_{i:08d}" for i in range(args.paced)]
        t0 = time.perf_counter()
        for i, name in enumerate(paced):
            time.sleep(max(0.0, t0 + i / args.rate - time.perf_counter()))
            record(platform, shop_id, [name], recorded)
        if not receiver.done.wait(300):
            raise SystemExit("the paced webhooks did not all arrive")
        latencies = sorted((receiver.arrived[n] - recorded[n]) * 1000 for n in paced)
        p99 = latencies[int(0.99 * (len(latencies) - 1))]
        stop.set()
        pending.wake()
        relay.join(5)
        for headers, body in receiver.sample:
            Webhook(secret).verify(body, headers)
        platform.close()
        receiver.server.shutdown()
    print(
        f"{args.events} events recorded in {recording_s:.2f} s "
        f"({args.events / recording_s:.0f}/s, {args.batch} per transaction); "
        f"webhooks delivered {per_s:.0f}/s; "
        f"at {args.rate:g} events/s: p50 {latencies[len(latencies) // 2]:.1f} ms, "
        f"p99 {p99:.1f} ms; {len(receiver.sample)} signatures verified"
    )
    print(
        json.dumps(
            {
                "events_recorded_per_s": round(args.events / recording_s),
                "webhooks_per_s": round(per_s),
                "p99_event_to_webhook_ms": round(p99, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
