"""`benchmarks/access_path.py --processes N --car-link mqtt`: the platform as it runs in
production (API processes, one worker, the cars as their own process on the broker, all on
PostgreSQL), driven by access_path's load and measured per process. Run it through
access_path.py; this file holds only that mode.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from access_path import bench_pg_url, drop_bench_schema, load, p50_p99, seeded_platform


# -- (3) processes apart: API processes, a worker and the cars over MQTT -----------------------
def platform_pids(serve: int, worker: int, database: str) -> dict[int, str]:
    """Every process of the platform now: the API processes (`serve` and its children),
    the worker, the PostgreSQL backends on the benchmark's database, the MQTT broker.
    Not the load generator, not the simulated cars."""
    import psutil
    import psycopg

    pids = {serve: "api", worker: "worker"}
    for child in psutil.Process(serve).children(recursive=True):
        pids[child.pid] = "api"
    admin = database.split("?")[0]
    with psycopg.connect(admin, autocommit=True) as conn:
        for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ):
            pids[int(pid)] = "postgresql"
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "mosquitto":
            pids[process.pid] = "mosquitto"
    return pids


def cpu_by_pid(pids: dict[int, str]) -> dict[int, float]:
    import psutil

    seconds: dict[int, float] = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        seconds[pid] = times.user + times.system
    return seconds


def transactions(database: str) -> int:
    import psycopg

    with psycopg.connect(database.split("?")[0], autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def _stall_story(conn: Any, attempt_id: str) -> str:
    """A stalled attempt's status, its commands and what its car reported since access."""
    from sqlalchemy import text

    status, vehicle_id, asked = conn.execute(
        text("SELECT status, vehicle_id, access_requested_at FROM attempts WHERE id = :a"),
        {"a": attempt_id},
    ).one()
    commands = conn.execute(
        text(
            "SELECT kind, status, coalesce(detail, '') FROM vehicle_commands"
            " WHERE attempt_id = :a ORDER BY created_at"
        ),
        {"a": attempt_id},
    ).all()
    reports = conn.execute(
        text(
            "SELECT type FROM vehicle_events WHERE vehicle_id = :v AND received_at >= :t"
            " ORDER BY received_at, id"
        ),
        {"v": vehicle_id, "t": asked},
    ).scalars()
    return (
        f"{attempt_id} {status}; commands: "
        + ", ".join(" ".join(str(x) for x in r if x) for r in commands)
        + "; reports: "
        + ", ".join(reports)
    )


def run_processes(args: argparse.Namespace) -> None:
    """`--processes N --car-link mqtt`: the platform as it runs in production, measured."""
    import secrets

    from sqlalchemy import create_engine, text

    from trunkdrop.vehicles.adapters.mqtt.control import FleetControl

    if not (args.database_url or "").startswith("postgresql"):
        raise SystemExit(
            "--processes needs PostgreSQL: --database-url or TRUNKDROP_BENCH_DATABASE_URL"
        )
    if args.car_link != "mqtt":
        raise SystemExit("--processes runs the cars as their own process: --car-link mqtt")
    url, admin = bench_pg_url(args.database_url)
    root = f"bench{secrets.token_hex(4)}"  # the broker may be shared: our own topics and ids
    live = {
        "car_link": "mqtt",
        "mqtt_url": args.mqtt_url,
        "mqtt_topic_root": root,
        "mqtt_client_id": f"{root}-platform",
        "service_day_start_hour": 0,
        "service_day_end_hour": 24,
        "auto_replan": False,
    }
    env = {
        **os.environ,
        **{
            f"TRUNKDROP_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in live.items()
        },
        "TRUNKDROP_DATABASE_URL": url,
        "TRUNKDROP_ENVIRONMENT": "development",
        "TRUNKDROP_WORKER_INTERVAL_S": str(args.worker_interval),
    }
    trunkdrop = str(Path(sys.executable).with_name("trunkdrop"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    started: list[subprocess.Popen[bytes]] = []
    platform = None
    try:
        cars = [trunkdrop, "cars", "--broker", args.mqtt_url, "--topic-root", root]
        cars += ["--client-prefix", f"{root}-car"]
        started.append(subprocess.Popen(cars, env=env, **quiet))  # noqa: S603
        platform, seed = seeded_platform(
            database_url=url,
            drivers=args.drivers,
            per_driver=args.per_driver,
            worker_interval=args.worker_interval,
            live=live,
        )
        serve_cmd = [trunkdrop, "serve", "--port", str(args.port), "--no-workers"]
        api = subprocess.Popen([*serve_cmd, "--processes", str(args.processes)], env=env, **quiet)  # noqa: S603
        worker = subprocess.Popen([trunkdrop, "worker", "--name", root], env=env, **quiet)  # noqa: S603
        started += [api, worker]
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{args.port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit("the API processes did not answer within a minute")
        assert platform.car_link is not None
        control = FleetControl(platform.car_link)
        for brand, external, lat, lon in seed["cars"]:
            control.act(
                brand, external, "configure", now=platform.now(), settings={"latency_s": 0.0}
            )
            control.act(brand, external, "park", now=platform.now(), where=(lat, lon))
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        parked, progress = 0, time.monotonic()
        # The worker ingests the cars' positions; each car joins the broker on its first
        # message, slowly on a busy machine: wait while they keep coming, 20 s at most idle.
        while time.monotonic() - progress < 20:
            with engine.connect() as c:
                now_parked = c.scalar(
                    text("SELECT count(*) FROM vehicles WHERE latitude IS NOT NULL")
                )
            if now_parked == len(seed["cars"]):
                parked = now_parked
                break
            if now_parked != parked:
                parked, progress = now_parked, time.monotonic()
            time.sleep(0.2)
        engine.dispose()
        if parked != len(seed["cars"]):
            raise SystemExit(f"only {parked} of {len(seed['cars'])} cars reported where they are")
        pids = platform_pids(api.pid, worker.pid, admin)
        cpu_before, xact_before = cpu_by_pid(pids), transactions(admin)
        stalled: list[str] = []
        access_ms, done, elapsed = asyncio.run(load(args.port, seed, args.seconds, stalled))
        xact = transactions(admin) - xact_before
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as c:  # what became of the stalled attempts
            stalled_commands = [_stall_story(c, a) for a in stalled]
        engine.dispose()
        pids |= platform_pids(api.pid, worker.pid, admin)
        cpu_after = cpu_by_pid(pids)
    finally:
        if platform is not None:
            platform.close()
        for process in reversed(started):
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_bench_schema(admin)
    for line in stalled_commands:
        print(f"stalled attempt {line}", file=sys.stderr)
    by_kind: dict[str, float] = {}
    for pid, kind in pids.items():
        spent = cpu_after.get(pid, 0.0) - cpu_before.get(pid, 0.0)
        by_kind[kind] = by_kind.get(kind, 0.0) + max(0.0, spent)
    per = max(1, len(done))
    platform_ms = 1000 * sum(by_kind.values()) / per
    p50, p99 = p50_p99(access_ms)
    rate = len(done) / elapsed if elapsed else 0.0
    rows = [
        ("database", "postgresql"),
        ("car link", "mqtt (trunkdrop cars, own process)"),
        ("API processes", str(args.processes)),
        ("concurrent drivers", str(args.drivers)),
        ("deliveries completed", f"{len(done)} of {args.drivers * args.per_driver}"),
        ("attempts stalled (no event for 30 s)", str(len(stalled))),
        ("complete trunk deliveries per s (HTTP)", f"{rate:.1f}"),
        ("access request p50 (ms)", f"{p50:.1f}"),
        ("access request p99 (ms)", f"{p99:.1f}"),
        ("platform CPU per delivery (ms)", f"{platform_ms:.1f}"),
        *(
            (f"  of which {kind} (ms)", f"{1000 * by_kind.get(kind, 0.0) / per:.1f}")
            for kind in ("api", "worker", "postgresql", "mosquitto")
        ),
        # The broker is shared on a developer machine: its share may include others' traffic.
        ("database transactions per delivery", f"{xact / per:.1f}"),
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
                "platform_cpu_ms_per_delivery": round(platform_ms, 1),
                "cpu_ms_per_delivery_by_process": {
                    k: round(1000 * v / per, 1) for k, v in by_kind.items()
                },
                "transactions_per_delivery": round(xact / per, 1),
                "stalled_attempts": len(stalled),
                "processes": args.processes,
                "car_link": "mqtt",
                "database": "postgresql",
            }
        )
    )
