"""Access path figures: (1) grants issued and verified per second in process; (2) complete trunk
deliveries per second through the HTTP API of a real uvicorn server on 127.0.0.1 (workers
running), with N concurrent simulated drivers, and the p50/p99 latency of the access request.

    .venv/bin/python benchmarks/access_path.py [--drivers 32] [--per-driver 8]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]
    .venv/bin/python benchmarks/access_path.py --processes 2 --car-link mqtt \
        --database-url postgresql://postgres@127.0.0.1:5432/<your database> \
        [--mqtt-url mqtt://127.0.0.1:1883]

With --processes N --car-link mqtt the platform runs as in production: `trunkdrop serve
--processes N --no-workers`, one `trunkdrop worker` and the cars as `trunkdrop cars` on the
broker (own topic root and client ids, so a shared broker is fine), on the real clock with
service hours all day. It measures (psutil) the CPU of the API processes, the worker, the
PostgreSQL backends on the database and the broker, not this load generator nor the cars;
it counts database transactions per delivery (pg_stat_database), not statements. Give it
a database of its own: every backend on it is counted as the platform's.

A delivery is: next stop → start attempt (naming the handset, so the challenge comes with
it) → signed access request → (unlock sent, car opens) → deposit → driver shuts the lid →
(lock sent, car locks) → delivered.
The simulated cars answer without latency, so the figure is the platform's, not a car
maker's. The server runs on a clock pinned to a delivery morning (10:00 Berlin) that moves
at real speed, so the booked windows are open whenever the benchmark runs. On PostgreSQL
it uses its own schema `trunkdrop_bench`, created and dropped here. The last line printed
is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trunkdrop.access import tokens
from trunkdrop.deliveries.schemas import AccessRequest, AttemptStart
from trunkdrop.dispatch import routes

BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 12, 1)
CENTRE = (48.1374, 11.5755)
BENCH_SCHEMA = "trunkdrop_bench"


# -- (1) grants in process ------------------------------------------------------------------
def grants_per_second(seconds: float = 3.0, limit: int = 20_000) -> tuple[float, float]:
    """Sign, then verify and check claims, as many grants as fit in `seconds` (at most `limit`)."""
    private = Ed25519PrivateKey.generate()
    ring = tokens.Keyring(
        signer=tokens.SigningMaterial("kid_b", private), public_keys={"kid_b": private.public_key()}
    )
    now = datetime.now(UTC)
    device = tokens.b64u(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )

    def claims(i: int) -> tokens.GrantClaims:
        return tokens.GrantClaims(
            iss="trunkdrop",
            sub="veh_bench",
            aud=tokens.AUDIENCE,
            scope=tokens.TRUNK_UNLOCK,
            jti=f"gr_{i}",
            iat=now,
            nbf=now,
            exp=now + timedelta(minutes=10),
            attempt="att_bench",
            delivery="dlv_bench",
            driver="dri_bench",
            geo_lat=48.1,
            geo_lon=11.5,
            geo_radius_m=300,
            device="dev_bench",
            cnf=device,
        )

    issued: list[str] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds and len(issued) < limit:
        issued.append(ring.sign(claims(len(issued))))
    issue_rate = len(issued) / (time.perf_counter() - start)
    start, verified = time.perf_counter(), 0
    for token in issued:
        if time.perf_counter() - start > seconds:
            break
        got = ring.verify(token, vehicle_id="veh_bench")
        assert not tokens.claim_refusals(
            got, issuer="trunkdrop", vehicle_id="veh_bench", now=now, max_lifetime_s=600,
            device_key=device,
        )  # fmt: skip
        verified += 1
    return issue_rate, verified / (time.perf_counter() - start)


# -- (2) the server side: seed the world, then serve ----------------------------------------
class PinnedClock:
    """Real-speed time that starts on the benchmark's delivery morning."""

    def __init__(self, start: datetime) -> None:
        self._start, self._t0 = start, time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


def seeded_platform(
    *,
    database_url: str,
    drivers: int,
    per_driver: int,
    worker_interval: float,
    live: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """A platform on the benchmark's delivery morning, and what the drivers need: each
    driver a registered handset, an API key and a started route of `per_driver` trunk
    stops, every car parked at its booked place and answering at once.

    `live` (settings for processes apart): the real clock, windows open now, and the cars
    left for the caller to park over the car link (their places in seed["cars"])."""
    from trunkdrop.bootstrap import bootstrap
    from trunkdrop.clock import SystemClock
    from trunkdrop.config import Settings
    from trunkdrop.deliveries import service as deliveries
    from trunkdrop.deliveries.schemas import DeliveryCreate
    from trunkdrop.devices import service as devices
    from trunkdrop.devices.schemas import DeviceRegister
    from trunkdrop.dispatch import service as dispatch
    from trunkdrop.dispatch.schemas import ServiceAreaCreate
    from trunkdrop.parties import service as parties
    from trunkdrop.places import service as places
    from trunkdrop.places.schemas import PlaceCreate
    from trunkdrop.vehicles import service as vehicles
    from trunkdrop.vehicles.schemas import VehicleLink

    clock = PinnedClock(datetime(2026, 12, 1, 9, 55, tzinfo=BERLIN)) if live is None else None
    settings = Settings(
        database_url=database_url,
        environment="development",
        worker_interval_s=worker_interval,
        workers_inline=live is None,
        **(live or {}),
    )
    platform = bootstrap(settings, clock=clock or SystemClock(), role="api" if live else "all")
    now = platform.now
    day, window = (
        DAY,
        (datetime(2026, 12, 1, 8, tzinfo=BERLIN), datetime(2026, 12, 1, 18, tzinfo=BERLIN)),
    )
    if live is not None:  # service hours all day (the processes' settings say so too)
        local = now().astimezone(BERLIN)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        day = local.date()
        window = (
            max(midnight, local - timedelta(hours=1)),
            min(midnight + timedelta(hours=23, minutes=59), local + timedelta(hours=3)),
        )
    seed: dict[str, Any] = {"drivers": [], "vehicles": {}}
    with platform.uow() as s:
        shop = parties.create_party(session=s, role="retailer", name="shop", now=now())
        carrier = parties.create_party(session=s, role="carrier", name="carrier", now=now())
        operator = parties.create_party(session=s, role="operator", name="ops", now=now())
        seed["operator_key"] = parties.create_api_key(session=s, party=operator, now=now())
        dispatch.create_service_area(
            session=s,
            carrier=carrier,
            now=now(),
            area_in=ServiceAreaCreate(
                name="Munich",
                latitude=CENTRE[0],
                longitude=CENTRE[1],
                radius_m=15_000,
                depot_latitude=48.178,
                depot_longitude=11.4905,
            ),
        )
    cars: list[tuple[str, str, float, float]] = []
    for d in range(drivers):
        with platform.uow() as s:
            driver = parties.create_party(
                session=s, role="driver", name=f"driver {d}", carrier_id=carrier.id, now=now()
            )
            handset = Ed25519PrivateKey.generate()
            public = handset.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            device = devices.register_device(
                session=s,
                driver=driver,
                device_in=DeviceRegister(public_key=tokens.b64u(public)),
                now=now(),
            )
            devices.approve_device(session=s, party=carrier, device_id=device.id, now=now())
            delivery_ids = []
            for k in range(per_driver):
                n = d * per_driver + k
                # Each driver its own street, stops 100 m apart: a plausible track. A long
                # day turns into the next street every 100 stops and comes back along it, so
                # it stays inside the 15 km service area (access_steps.py seeds one driver
                # with 228 stops) and no step is longer than 100 m.
                streets, street, along = -(-per_driver // 100), k // 100, k % 100
                lat = CENTRE[0] + (along if street % 2 == 0 else 99 - along) * 0.0009
                lon = CENTRE[1] + (d * streets + street) * 0.0009
                owner = parties.create_party(session=s, role="customer", name=f"c{n}", now=now())
                car = vehicles.link_vehicle(
                    session=s,
                    registry=platform.registry,
                    owner=owner,
                    now=now(),
                    vehicle_in=VehicleLink(
                        brand="sim-aurora",
                        external_id=f"BENCH{n:012d}",
                        make="Aurora",
                        model="Estate",
                        year=2024,
                        plate=f"M-B {n}",
                        colour="blue",
                        trunk_volume_l=450,
                    ),
                )
                place = places.create_place(
                    session=s,
                    owner=owner,
                    now=now(),
                    place_in=PlaceCreate(label="office", latitude=lat, longitude=lon, address="x"),
                )
                delivery = deliveries.book(
                    session=s,
                    settings=settings,
                    retailer=shop,
                    now=now(),
                    delivery_in=DeliveryCreate.model_validate(
                        {
                            "customer_id": owner.id,
                            "vehicle_id": car.id,
                            "retailer_reference": f"B-{n}",
                            "parcel": {
                                "reference": f"PCL-B{n:07d}",
                                "length_cm": 30,
                                "width_cm": 20,
                                "height_cm": 10,
                                "weight_g": 1000,
                                "declared_value_cents": 1000,
                            },
                            "itinerary": [
                                {
                                    "place_id": place.id,
                                    "window_start": window[0],
                                    "window_end": window[1],
                                }
                            ],
                        }
                    ),
                )
                delivery_ids.append(delivery.id)
                seed["vehicles"][delivery.parcel_ref] = car.id
                cars.append((car.brand, car.external_id, lat, lon))
                seed.setdefault("cars", []).append([car.brand, car.external_id, lat, lon])
            route = routes.plan_route(
                session=s,
                carrier=carrier,
                driver_id=driver.id,
                service_date=day,
                delivery_ids=delivery_ids,
                now=now(),
            )
            routes.start_route(session=s, settings=settings, party=carrier, route=route, now=now())
            seed["drivers"].append(
                {
                    "key": parties.create_api_key(session=s, party=driver, now=now()),
                    "device_id": device.id,
                    "private_key": tokens.b64u(
                        handset.private_bytes(
                            serialization.Encoding.Raw,
                            serialization.PrivateFormat.Raw,
                            serialization.NoEncryption(),
                        )
                    ),
                }
            )
    if live is not None:
        return platform, seed
    for brand, external, lat, lon in cars:
        platform.simulator.configure(brand, external, latency_s=0.0)
        platform.simulator.park(brand, external, lat, lon, now())
    from trunkdrop import workers

    workers.run_once(platform)
    return platform, seed


def serve(args: argparse.Namespace) -> None:
    import uvicorn
    from sqlalchemy import event

    from trunkdrop.api.app import create_app

    platform, seed = seeded_platform(
        database_url=args.database_url,
        drivers=args.drivers,
        per_driver=args.per_driver,
        worker_interval=args.worker_interval,
    )
    statements = [0]

    def count(*_: object) -> None:
        statements[0] += 1

    event.listen(platform.engine, "before_cursor_execute", count)
    app = create_app(platform)

    @app.get("/bench/sql", include_in_schema=False)
    def sql_statements() -> dict[str, int]:  # the benchmark's own probe, not the product's
        return {"sql": statements[0]}

    Path(args.seed_file).write_text(json.dumps(seed))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


# -- (2b) the floor: the same delivery flow against endpoints that do nothing ---------------
def serve_floor(args: argparse.Namespace) -> None:
    """Every route the drivers call, answering at once with no database, no grant, no car.

    What the same client, HTTP stack and two cores manage when the platform's own work
    costs nothing: the ceiling any implementation on FastAPI + uvicorn meets here.
    Benchmark-only; bodies are still parsed by the product's own request models.
    """
    import uvicorn
    from fastapi import FastAPI, Header
    from fastapi.responses import StreamingResponse

    app = FastAPI()
    counter = iter(range(10**9))
    finished: dict[str, asyncio.Event] = {}

    def caller(authorization: str | None) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise RuntimeError("no key")
        return authorization.removeprefix("Bearer ")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/stops/next")
    async def next_stop(authorization: str | None = Header(None)) -> dict[str, Any]:
        caller(authorization)
        n = next(counter)
        return {"id": f"stp_{n}", "latitude": CENTRE[0], "longitude": CENTRE[1],
                "parcel_ref": "PCL-FLOOR"}  # fmt: skip

    @app.post("/v1/stops/{stop_id}/attempts", status_code=201)
    async def attempt(
        stop_id: str, body: AttemptStart, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        caller(authorization)
        attempt_id = f"att_{stop_id}"
        finished[attempt_id] = asyncio.Event()
        challenge = {"nonce": tokens.b64u(os.urandom(24)), "expires_at": "later"}
        return {"id": attempt_id, "status": "at_car", "challenge": challenge}

    @app.post("/v1/attempts/{attempt_id}/access", status_code=202)
    async def access(
        attempt_id: str, body: AccessRequest, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        caller(authorization)
        return {"attempt_id": attempt_id, "status": "unlock_requested"}

    @app.get("/v1/attempts/{attempt_id}/events")
    async def events(
        attempt_id: str, timeout_s: int = 600, authorization: str | None = Header(None)
    ) -> StreamingResponse:
        caller(authorization)

        async def stream() -> AsyncIterator[str]:
            for status in ("unlock_requested", "unlock_sent", "trunk_open"):
                yield f"event: attempt\ndata: {json.dumps({'status': status})}\n\n"
            await finished[attempt_id].wait()
            del finished[attempt_id]
            for status in ("deposited", "succeeded"):
                yield f"event: attempt\ndata: {json.dumps({'status': status})}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/v1/attempts/{attempt_id}/deposit")
    async def deposit(attempt_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        caller(authorization)
        return {"id": attempt_id, "status": "deposited"}

    @app.post("/v1/sim/vehicles/{vehicle_id}")
    async def close(vehicle_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        caller(authorization)
        for event in finished.values():  # one car per stop: the newest waiting attempt's
            if not event.is_set():
                event.set()
                break
        return {"trunk": "closed"}

    Path(args.seed_file).write_text(json.dumps(floor_seed(args.drivers)))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


def floor_seed(drivers: int) -> dict[str, Any]:
    return {
        "operator_key": "ops",
        "vehicles": {"PCL-FLOOR": "veh_floor"},
        "drivers": [
            {
                "key": f"key{d}",
                "device_id": f"dev{d}",
                "private_key": tokens.b64u(
                    Ed25519PrivateKey.generate().private_bytes(
                        serialization.Encoding.Raw,
                        serialization.PrivateFormat.Raw,
                        serialization.NoEncryption(),
                    )
                ),
            }
            for d in range(drivers)
        ],
    }


# -- (2) the client side: N drivers ----------------------------------------------------------
async def drive(
    client: aiohttp.ClientSession,
    driver: dict[str, Any],
    operator_key: str,
    vehicles: dict[str, str],
    deadline: float,
    access_ms: list[float],
    done: list[float],
    stalled: list[str] | None = None,
) -> None:
    """One driver's day. With `stalled` given, an attempt whose events stop for the read
    timeout ends this driver's day and is listed there instead of stopping the run."""
    auth = {"Authorization": f"Bearer {driver['key']}"}
    ops = {"Authorization": f"Bearer {operator_key}"}
    handset = Ed25519PrivateKey.from_private_bytes(tokens.unb64u(driver["private_key"]))

    async def post(path: str, body: Any = None, headers: dict[str, str] = auth) -> Any:
        async with client.post(path, json=body, headers=headers) as response:
            return response.status, await response.json()

    async def follow(attempt_id: str) -> AsyncIterator[str]:
        """The attempt's event stream (one per attempt, as a driver app keeps it open):
        each status it passes through, until it ends or the run does."""
        left = max(1, int(deadline - time.monotonic()) + 1)
        async with client.get(
            f"/v1/attempts/{attempt_id}/events?timeout_s={left}", headers=auth
        ) as events:
            async for raw in events.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    read: dict[str, Any] = json.loads(line.removeprefix("data: "))
                    if "status" in read:
                        yield read["status"]

    while time.monotonic() < deadline:
        async with client.get("/v1/stops/next", headers=auth) as next_stop:
            if next_stop.status == 404:
                return  # this driver's day is done
            stop = await next_stop.json()
        t0 = time.perf_counter()
        here = {"latitude": stop["latitude"] + 0.0001, "longitude": stop["longitude"]}
        # The app names its handset: the challenge comes with the attempt.
        _, attempt = await post(
            f"/v1/stops/{stop['id']}/attempts",
            {
                "position": here,
                "scanned_parcel_ref": stop["parcel_ref"],
                "device_id": driver["device_id"],
            },
        )
        challenge = attempt.get("challenge") or {}
        if "nonce" not in challenge:
            raise RuntimeError(f"no challenge: {attempt}")
        nonce = challenge["nonce"]
        message = tokens.proof_message(
            nonce=nonce, action=tokens.TRUNK_UNLOCK, attempt_id=attempt["id"]
        )
        a0 = time.perf_counter()
        status, granted = await post(
            f"/v1/attempts/{attempt['id']}/access",
            {
                "position": here,
                "device_id": driver["device_id"],
                "nonce": nonce,
                "signature": tokens.b64u(handset.sign(message)),
            },
        )
        access_ms.append((time.perf_counter() - a0) * 1000)
        if status != 202:
            raise RuntimeError(f"access refused: {granted}")
        last = None
        try:
            async for status_now in follow(attempt["id"]):
                if status_now == "trunk_open" and last != "trunk_open":
                    # Parcel in, lid shut: the car reports closed, is locked, reports locked.
                    answers = [
                        await post(f"/v1/attempts/{attempt['id']}/deposit"),
                        await post(
                            f"/v1/sim/vehicles/{vehicles[stop['parcel_ref']]}",
                            {"action": "close_trunk"},
                            ops,
                        ),
                    ]
                    for code, body in answers:
                        if code >= 300:  # the attempt will stall: say why
                            print(f"{attempt['id']}: {code} {body}", file=sys.stderr)
                last = status_now
                if status_now in ("succeeded", "failed"):
                    break
        except (TimeoutError, aiohttp.ClientError):
            if stalled is None:
                raise
            stalled.append(attempt["id"])
            return
        if last == "succeeded":
            done.append(time.perf_counter() - t0)
        elif time.monotonic() < deadline:
            raise RuntimeError(f"attempt {attempt['id']} ended {last}, not succeeded")


def _session(port: int, connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        base_url=f"http://127.0.0.1:{port}",
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=None, sock_read=30),
    )


async def http_floor(port: int, connections: int, seconds: float = 3.0) -> float:
    """Requests per second on GET /health (no database, no auth) from this client: what
    HTTP alone costs here, server and client on the same two cores."""
    async with _session(port, connections) as client:
        deadline, count = time.monotonic() + seconds, 0

        async def hammer() -> None:
            nonlocal count
            while time.monotonic() < deadline:
                async with client.get("/health") as response:
                    response.raise_for_status()
                    await response.read()
                count += 1

        start = time.perf_counter()
        await asyncio.gather(*(hammer() for _ in range(connections)))
        return count / (time.perf_counter() - start)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sql_so_far(port: int) -> int:
    async with _session(port, 1) as client, client.get("/bench/sql") as response:
        count: int = (await response.json())["sql"]
        return count


async def load(
    port: int, seed: dict[str, Any], seconds: float, stalled: list[str] | None = None
) -> tuple[list[float], list[float], float]:
    access_ms: list[float] = []
    done: list[float] = []
    async with _session(port, len(seed["drivers"]) * 2 + 8) as client:
        start = time.perf_counter()
        deadline = time.monotonic() + seconds
        await asyncio.gather(
            *(
                drive(
                    client,
                    d,
                    seed["operator_key"],
                    seed["vehicles"],
                    deadline,
                    access_ms,
                    done,
                    stalled,
                )
                for d in seed["drivers"]
            )
        )
        return access_ms, done, time.perf_counter() - start


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_pg_url(base: str) -> tuple[str, str]:
    """A URL whose connections use the benchmark's own schema, and the admin URL."""
    import psycopg

    admin = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {BENCH_SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {BENCH_SCHEMA}")
    sep = "&" if "?" in admin else "?"
    return f"{admin}{sep}options=-csearch_path%3D{BENCH_SCHEMA}", admin


def drop_bench_schema(admin: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {BENCH_SCHEMA} CASCADE")


def start_server(
    args: argparse.Namespace, seed_file: Path, extra: list[str]
) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "--seed-file", str(seed_file), "--port", str(args.port)]
    command += ["--drivers", str(args.drivers), "--per-driver", str(args.per_driver)]
    command += ["--worker-interval", str(args.worker_interval), *extra]
    return subprocess.Popen(command)  # noqa: S603 - our own script, fixed arguments


def wait_until_serving(server: subprocess.Popen[bytes], seed_file: Path, port: int) -> None:
    for _ in range(1200):  # seeding takes a while; at most 2 minutes
        if seed_file.exists():
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
        if server.poll() is not None:
            raise SystemExit("the benchmark server failed to start")
        time.sleep(0.1)
    raise SystemExit("the benchmark server did not answer within 2 minutes")


def floor_rate(args: argparse.Namespace, tmp: str) -> tuple[float, float]:
    """Deliveries per second and server CPU per delivery (ms) of the no-op floor."""
    seed_file = Path(tmp) / "floor-seed.json"
    server = start_server(args, seed_file, ["--serve-floor"])
    try:
        wait_until_serving(server, seed_file, args.port)
        seed = json.loads(seed_file.read_text())
        cpu_before = cpu_seconds(server.pid)
        _, done, elapsed = asyncio.run(load(args.port, seed, args.floor_seconds))
        cpu = cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=10)
    return len(done) / elapsed, 1000 * cpu / max(1, len(done))


def p50_p99(access_ms: list[float]) -> tuple[float, float]:
    """The median and the 99th percentile of the access latencies (nan without any)."""
    if not access_ms:
        return float("nan"), float("nan")
    ordered = sorted(access_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=32)
    parser.add_argument("--per-driver", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop the load after this")
    # The platform's own default: commands and the cars' reports are handled as soon as a
    # request commits; the interval only paces the watchdog and the sweeps.
    parser.add_argument("--worker-interval", type=float, default=0.5)
    parser.add_argument("--database-url", default=os.environ.get("TRUNKDROP_BENCH_DATABASE_URL"))
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--floor-seconds", type=float, default=15.0, help="run the no-op floor this long (0: skip)"
    )
    parser.add_argument(
        "--processes", type=int, default=0, help="API processes apart (PostgreSQL, MQTT)"
    )
    parser.add_argument("--car-link", choices=("embedded", "mqtt"), default="embedded")
    parser.add_argument(
        "--mqtt-url", default=os.environ.get("TRUNKDROP_BENCH_MQTT_URL", "mqtt://127.0.0.1:1883")
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    if args.serve_floor:
        serve_floor(args)
        return
    if args.processes or args.car_link == "mqtt":
        # Its own file (one family: the platform as processes apart); imported here so that
        # this script stays the one command the docs name.
        from access_processes import run_processes

        if args.port == 8765:
            args.port = free_port()
        run_processes(args)
        return

    issue_rate, verify_rate = grants_per_second()
    with tempfile.TemporaryDirectory(prefix="td-bench-") as tmp:
        admin = None
        if args.database_url and args.database_url.startswith("postgresql"):
            url, admin = bench_pg_url(args.database_url)
            database = "postgresql"
        else:
            url, database = f"sqlite:///{tmp}/bench.db", "sqlite"
        seed_file = Path(tmp) / "seed.json"
        server = start_server(args, seed_file, ["--serve", "--database-url", url])
        try:
            wait_until_serving(server, seed_file, args.port)
            seed = json.loads(seed_file.read_text())
            floor = asyncio.run(http_floor(args.port, args.drivers))
            sql_before = asyncio.run(sql_so_far(args.port))
            cpu_before, client_before = cpu_seconds(server.pid), time.process_time()
            access_ms, done, elapsed = asyncio.run(load(args.port, seed, args.seconds))
            server_cpu = cpu_seconds(server.pid) - cpu_before
            client_cpu = time.process_time() - client_before
            sql = asyncio.run(sql_so_far(args.port)) - sql_before
        finally:
            server.terminate()
            server.wait(timeout=10)
            if admin is not None:
                drop_bench_schema(admin)
        floor_deliveries, floor_cpu = (
            floor_rate(args, tmp) if args.floor_seconds > 0 else (float("nan"), float("nan"))
        )
    p50, p99 = p50_p99(access_ms)
    rate = len(done) / elapsed if elapsed else 0.0
    per = max(1, len(done))
    rows = [
        ("grants issued per s (in process)", f"{issue_rate:,.0f}"),
        ("grants verified + checked per s (in process)", f"{verify_rate:,.0f}"),
        ("database", database),
        ("concurrent drivers", str(args.drivers)),
        ("deliveries completed", f"{len(done)} of {args.drivers * args.per_driver}"),
        ("complete trunk deliveries per s (HTTP)", f"{rate:.1f}"),
        ("delivery time p50 (s)", f"{statistics.median(done):.2f}" if done else "-"),
        ("access request p50 (ms)", f"{p50:.1f}"),
        ("access request p99 (ms)", f"{p99:.1f}"),
        # What limits it: the server's CPU per delivery (one process, one GIL), the SQL
        # statements each delivery costs, and what bare HTTP manages on this machine.
        ("server CPU per delivery (ms)", f"{1000 * server_cpu / per:.1f}"),
        ("server CPU busy (% of one core)", f"{100 * server_cpu / elapsed:.0f}"),
        ("client CPU per delivery (ms)", f"{1000 * client_cpu / per:.1f}"),
        ("SQL statements per delivery", f"{sql / per:.0f}"),
        ("HTTP floor: GET /health per s", f"{floor:,.0f}"),
        # The same drivers and flow against endpoints that do no work at all.
        ("floor: no-op deliveries per s (same flow)", f"{floor_deliveries:.1f}"),
        ("floor: server CPU per no-op delivery (ms)", f"{floor_cpu:.1f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>14}")
    print(
        json.dumps(
            {
                "deliveries_per_s": round(rate, 1),
                "p50_access_ms": round(p50, 1),
                "p99_access_ms": round(p99, 1),
                "database": database,
            }
        )
    )


if __name__ == "__main__":
    main()
