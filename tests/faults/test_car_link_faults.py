"""The car link's faults across real processes on PostgreSQL and Mosquitto: the car process
(`trunkdrop cars`) killed with a trunk open, and the broker killed and restarted in the
middle of a delivery. Every wait is bounded; ports, topic roots and client ids are picked
at runtime, so a shared broker never mixes runs."""

from __future__ import annotations

import getpass
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_URL, _reset_postgres
from tests.faults.seeding import (
    ALL_DAY_ENV,
    TRUNKDROP,
    Driver,
    Seeded,
    audit_verifies,
    free_port,
    park_over_link,
    rows,
    seed_route,
    serving,
    start,
    stop_all,
    until,
)

MQTT_URL = os.environ.get("TRUNKDROP_TEST_MQTT_URL")
MOSQUITTO = "/usr/sbin/mosquitto"
LIMIT_S = 58.0
pytestmark = [
    pytest.mark.skipif(PG_URL is None, reason="TRUNKDROP_TEST_DATABASE_URL is not set"),
    pytest.mark.skipif(not MQTT_URL, reason="TRUNKDROP_TEST_MQTT_URL is not set"),
]
UNLOCKS = "SELECT status FROM vehicle_commands WHERE attempt_id = :a AND kind = 'unlock_trunk'"
STATUS = "SELECT status FROM attempts WHERE id = :a"
OPENINGS = (
    "SELECT count(*) FROM vehicle_events e JOIN attempts a ON a.vehicle_id = e.vehicle_id"
    " WHERE a.id = :a AND e.type = 'trunk_opened'"
)


@pytest.fixture
def pg_env(postgres_migrated: str) -> Iterator[dict[str, str]]:
    _reset_postgres(postgres_migrated)
    env = {
        **os.environ,
        "TRUNKDROP_DATABASE_URL": postgres_migrated,
        "TRUNKDROP_ENVIRONMENT": "test",
        "TRUNKDROP_WORKER_INTERVAL_S": "0.3",
        "TRUNKDROP_AUTO_REPLAN": "false",
        **ALL_DAY_ENV,
    }
    yield env
    _reset_postgres(postgres_migrated)


def _car_link(broker: str) -> dict[str, str]:
    root = f"faults{secrets.token_hex(4)}"
    return {
        "car_link": "mqtt",
        "mqtt_url": broker,
        "mqtt_topic_root": root,
        "mqtt_client_id": f"{root}-platform",
    }


def _env(pg_env: dict[str, str], link: dict[str, str], **more: str) -> dict[str, str]:
    return {**pg_env, **{f"TRUNKDROP_{k.upper()}": v for k, v in link.items()}, **more}


def _start_fleet(env: dict[str, str], link: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`trunkdrop cars` under the test's topic root, keeping its cars' state beside `log`
    (its messages, a new file per start); returns once its session is up."""
    root = link["mqtt_topic_root"]
    with log.open("wb") as out:
        fleet = subprocess.Popen(
            [
                *(TRUNKDROP, "cars", "--broker", link["mqtt_url"], "--topic-root", root),
                *("--client-prefix", f"{root}-car", "--session-expiry", "300"),
                *("--state-file", str(log.with_name("cars.json"))),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    assert until(lambda: "cars on" in log.read_text(), time.monotonic() + 20), log.read_text()
    return fleet


def _platform(env: dict[str, str], port: int) -> list[subprocess.Popen[bytes]]:
    """One API process (publishing only) and one worker (taking the cars' reports)."""
    return [
        start(env, "serve", "--port", str(port), "--no-workers"),
        start(env, "worker", "--name", "w1"),
    ]


def _parked(url: str, seeded: Seeded) -> bool:
    placed = rows(url, "SELECT count(*) FROM vehicles WHERE latitude IS NOT NULL")[0][0]
    return bool(placed == len(seeded.cars))


def _opened(base: str, driver: Driver, url: str, deadline: float) -> dict[str, object]:
    """The driver asks for access at the car; returns the attempt once its trunk is open."""
    attempt = driver.attempt()
    accepted = httpx.post(
        f"{base}/v1/attempts/{attempt['id']}/access",
        json=driver.access_body(attempt),
        headers=driver.auth,
        timeout=10,
    )
    assert accepted.status_code == 202, accepted.text
    assert until(lambda: _status(url, attempt) == "trunk_open", deadline)
    return attempt


def _story(url: str, attempt: dict[str, object]) -> str:
    """The attempt's status, its car's commands and reports: what a failed wait shows."""
    commands = rows(
        url,
        "SELECT c.kind, c.status, c.detail FROM vehicle_commands c JOIN attempts a"
        " ON a.vehicle_id = c.vehicle_id WHERE a.id = :a ORDER BY c.created_at",
        a=attempt["id"],
    )
    reports = rows(
        url,
        "SELECT e.type FROM vehicle_events e JOIN attempts a ON a.vehicle_id = e.vehicle_id"
        " WHERE a.id = :a ORDER BY e.id",
        a=attempt["id"],
    )
    return f"{_status(url, attempt)}; commands {commands}; reports {[r[0] for r in reports]}"


def _status(url: str, attempt: dict[str, object]) -> str:
    return str(rows(url, STATUS, a=attempt["id"])[0][0])


def _shut_lid(base: str, seeded: Seeded, operator: dict[str, str]) -> httpx.Response:
    (vehicle_id,) = seeded.vehicles.values()
    return httpx.post(
        f"{base}/v1/sim/vehicles/{vehicle_id}",
        json={"action": "close_trunk"},
        headers=operator,
        timeout=10,
    )


def test_the_car_process_killed_with_its_trunk_open_ends_locked_with_an_incident(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    """`trunkdrop cars` is killed with SIGKILL while the car's trunk is open; the driver
    deposits and shuts the lid meanwhile. The platform hears nothing, so the relock watchdog
    opens a trunk_not_locked incident and sends lock. Restarted, the car takes up its open
    lid (--state-file) and resumes its broker session, which hands it the lid shut and the
    lock kept for it: it reports closed and locked and the delivery succeeds, with one
    unlock executed and one opening; the audit chain verifies. (Without its state the car
    came back shut and locked, never reported the lid, and the delivery never ended.)"""
    deadline = time.monotonic() + LIMIT_S
    assert MQTT_URL is not None
    url = pg_env["TRUNKDROP_DATABASE_URL"]
    link = _car_link(MQTT_URL)
    # The watchdog's shortest limit; a lock sent while the car is away stays good for it.
    env = _env(pg_env, link, TRUNKDROP_RELOCK_AFTER_S="30", TRUNKDROP_COMMAND_EXPIRY_S="60")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fleet = _start_fleet(env, link, tmp_path / "cars-1.log")
    started = [fleet]
    try:
        seeded = seed_route(url, park=False, car_link=link)
        started += _platform(env, port)
        assert until(serving(base), deadline)
        park_over_link(link, seeded)
        assert until(lambda: _parked(url, seeded), deadline)
        driver = Driver(base, seeded)
        attempt = _opened(base, driver, url, deadline)

        fleet.send_signal(signal.SIGKILL)
        fleet.wait(timeout=10)
        path = f"{base}/v1/attempts/{attempt['id']}"
        deposit = httpx.post(f"{path}/deposit", headers=driver.auth, timeout=10)
        assert deposit.status_code == 200, deposit.text
        operator = {"Authorization": f"Bearer {seeded.operator_key}"}
        # The broker keeps it for the fleet's session; the car, restarted, has no open lid.
        assert _shut_lid(base, seeded, operator).status_code == 200
        incident = "SELECT kind FROM incidents WHERE attempt_id = :a AND kind = 'trunk_not_locked'"
        assert until(lambda: bool(rows(url, incident, a=attempt["id"])), deadline)
        assert _status(url, attempt) == "deposited"

        started.append(_start_fleet(env, link, tmp_path / "cars-2.log"))
        done = until(lambda: _status(url, attempt) == "succeeded", deadline)
        assert done, _story(url, attempt)
        assert [r[0] for r in rows(url, UNLOCKS, a=attempt["id"])] == ["executed"]
        assert rows(url, OPENINGS, a=attempt["id"])[0][0] == 1
        verify = audit_verifies(env)
        assert verify.returncode == 0, verify.stdout
    finally:
        stop_all(started)


def _mosquitto(port: int, where: Path) -> subprocess.Popen[bytes]:
    """A broker of this test's own (the shared one is never restarted), keeping sessions,
    subscriptions and retained messages on disk across a restart."""
    where.mkdir(exist_ok=True)
    config = where / "mosquitto.conf"
    config.write_text(
        # `user`: started as root, Mosquitto would drop to a user that cannot save in
        # the test's private directory (ignored when not root).
        f"listener {port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n"
        f"persistence true\npersistence_location {where}/\nautosave_interval 1\n"
    )
    return subprocess.Popen(
        [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _ready(base: str) -> tuple[int, dict[str, str]]:
    try:
        answer = httpx.get(f"{base}/ready", timeout=5)
    except httpx.HTTPError:
        return 0, {}
    return answer.status_code, answer.json().get("checks", {})


@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="no mosquitto to start")
def test_a_broker_killed_and_restarted_mid_delivery_is_reconnected_and_the_delivery_ends(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    """The test's own Mosquitto is killed with SIGKILL after the trunk opened: /ready says
    the broker is down, the lid's control is refused with a 503 problem; restarted on the
    same port, the API, the worker and the car reconnect by themselves, the lid is shut,
    the platform sends lock, the car reports locked and the delivery succeeds with one
    unlock executed; the audit chain verifies."""
    deadline = time.monotonic() + LIMIT_S
    url = pg_env["TRUNKDROP_DATABASE_URL"]
    broker_port = free_port()
    broker = _mosquitto(broker_port, tmp_path / "broker")
    started = [broker]
    link = _car_link(f"mqtt://127.0.0.1:{broker_port}")
    env = _env(pg_env, link)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        started.append(_start_fleet(env, link, tmp_path / "cars.log"))
        seeded = seed_route(url, park=False, car_link=link)
        started += _platform(env, port)
        assert until(lambda: _ready(base)[0] == 200, deadline)
        park_over_link(link, seeded)
        assert until(lambda: _parked(url, seeded), deadline)
        driver = Driver(base, seeded)
        attempt = _opened(base, driver, url, deadline)
        # The broker saves every second: wait for a save made after the trunk opened.
        saved, opened_at = tmp_path / "broker" / "mosquitto.db", time.time()
        assert until(lambda: saved.exists() and saved.stat().st_mtime > opened_at, deadline)

        broker.send_signal(signal.SIGKILL)
        broker.wait(timeout=10)
        assert until(lambda: _ready(base)[0] == 503, deadline)
        assert _ready(base)[1]["broker"] == "not connected"
        path = f"{base}/v1/attempts/{attempt['id']}"
        deposit = httpx.post(f"{path}/deposit", headers=driver.auth, timeout=10)
        assert deposit.status_code == 200, deposit.text
        operator = {"Authorization": f"Bearer {seeded.operator_key}"}
        refused = _shut_lid(base, seeded, operator)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")

        started.append(_mosquitto(broker_port, tmp_path / "broker"))
        assert until(lambda: _ready(base)[0] == 200, deadline)
        shut = _shut_lid(base, seeded, operator)
        assert shut.status_code == 200, shut.text
        done = until(lambda: _status(url, attempt) == "succeeded", deadline)
        assert done, _story(url, attempt)
        assert [r[0] for r in rows(url, UNLOCKS, a=attempt["id"])] == ["executed"]
        assert rows(url, OPENINGS, a=attempt["id"])[0][0] == 1
        verify = audit_verifies(env)
        assert verify.returncode == 0, verify.stdout
    finally:
        stop_all(started)
