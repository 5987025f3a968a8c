"""The access path across real processes on PostgreSQL: concurrent redemptions over two API
processes, and an API process or the worker killed with SIGKILL mid-way. Every wait is
bounded; ports are picked at runtime."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import PG_URL, _reset_postgres
from tests.faults.seeding import (
    ALL_DAY_ENV,
    Driver,
    audit_verifies,
    free_port,
    rows,
    seed_route,
    serving,
    start,
    stop_all,
    until,
)

LIMIT_S = 55.0
pytestmark = pytest.mark.skipif(PG_URL is None, reason="TRUNKDROP_TEST_DATABASE_URL is not set")
UNLOCKS = "SELECT status FROM vehicle_commands WHERE attempt_id = :a AND kind = 'unlock_trunk'"


@pytest.fixture
def pg_env(postgres_migrated: str) -> Iterator[dict[str, str]]:
    _reset_postgres(postgres_migrated)
    env = {
        **os.environ,
        "TRUNKDROP_DATABASE_URL": postgres_migrated,
        "TRUNKDROP_CAR_LINK": "embedded",
        "TRUNKDROP_ENVIRONMENT": "test",
        "TRUNKDROP_WORKER_INTERVAL_S": "0.3",
        "TRUNKDROP_AUTO_REPLAN": "false",
        **ALL_DAY_ENV,
    }
    yield env
    _reset_postgres(postgres_migrated)


def test_fifty_concurrent_access_requests_over_two_processes_unlock_once(
    pg_env: dict[str, str],
) -> None:
    """One signed access request sent 50 times at once over two API processes (one worker
    beside them): one is accepted, one unlock command exists, the other 49 are refused with
    one stable code."""
    deadline = time.monotonic() + LIMIT_S
    url = pg_env["TRUNKDROP_DATABASE_URL"]
    seeded = seed_route(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = [start(pg_env, "serve", "--port", str(port), "--processes", "2", "--no-workers")]
    try:
        started.append(start(pg_env, "worker", "--name", "w1"))
        assert until(serving(base), deadline)
        driver = Driver(base, seeded)
        attempt = driver.attempt()
        body = driver.access_body(attempt)
        go = threading.Barrier(50)

        def redeem(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, headers=driver.auth, timeout=30) as client:
                go.wait(timeout=30)  # all fifty connections open, then all send
                return client.post(f"/v1/attempts/{attempt['id']}/access", json=body)

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(redeem, range(50)))
        accepted = [a for a in answers if a.status_code == 202]
        refusals = {(a.status_code, a.json().get("code")) for a in answers if a not in accepted}
        assert len(accepted) == 1
        assert len(refusals) == 1, refusals
        ((status, code),) = refusals
        assert 400 <= status < 500 and code
        assert len(rows(url, UNLOCKS, a=attempt["id"])) == 1
        verify = audit_verifies(pg_env)
        assert verify.returncode == 0, verify.stdout
    finally:
        stop_all(started)


def _send_raw(port: int, path: str, auth: dict[str, str], body: dict[str, object]) -> None:
    """Write a whole POST to the server and return without reading its answer."""
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head + payload)


def test_an_api_process_killed_during_an_access_request_leaves_a_defined_state(
    pg_env: dict[str, str],
) -> None:
    """The API process is killed with SIGKILL right after an access request reaches it;
    restarted, the attempt is in a defined state with at most one unlock, a retry with a
    fresh challenge ends with exactly one unlock (accepted or cleanly refused), and the
    audit chain verifies."""
    deadline = time.monotonic() + LIMIT_S
    url = pg_env["TRUNKDROP_DATABASE_URL"]
    seeded = seed_route(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = start(pg_env, "serve", "--port", str(port), "--no-workers")
    started = [api, start(pg_env, "worker", "--name", "w1")]
    try:
        assert until(serving(base), deadline)
        driver = Driver(base, seeded)
        attempt = driver.attempt()
        path = f"/v1/attempts/{attempt['id']}/access"
        _send_raw(port, path, driver.auth, driver.access_body(attempt))
        api.send_signal(signal.SIGKILL)
        api.wait(timeout=10)
        started.append(start(pg_env, "serve", "--port", str(port), "--no-workers"))
        assert until(serving(base), deadline)

        (status,) = rows(url, "SELECT status FROM attempts WHERE id = :a", a=attempt["id"])[0]
        assert status in ("started", "unlocking", "trunk_open", "failed")
        assert len(rows(url, UNLOCKS, a=attempt["id"])) <= 1
        asked = driver.fresh_nonce(attempt["id"])
        if asked.status_code == 201:
            retry = httpx.post(
                f"{base}{path}",
                json=driver.access_body(attempt, asked.json()["nonce"]),
                headers=driver.auth,
                timeout=10,
            )
        else:
            retry = asked  # the attempt is past asking: the refusal comes at the challenge
        if retry.status_code != 202:
            assert retry.status_code in (409, 422), retry.text
            assert retry.headers["content-type"].startswith("application/problem+json")
            assert retry.json()["code"]
        assert len(rows(url, UNLOCKS, a=attempt["id"])) == 1
        verify = audit_verifies(pg_env)
        assert verify.returncode == 0, verify.stdout
    finally:
        stop_all(started)


def test_a_worker_killed_between_claim_and_send_is_recovered_by_another(
    pg_env: dict[str, str],
) -> None:
    """The worker is killed with SIGKILL while it holds an unlock claimed (`sending`) and not
    yet sent; a new worker claims it again after the claim timeout and the car opens its
    trunk exactly once (or the command expires with the trunk shut); the audit verifies."""
    deadline = time.monotonic() + LIMIT_S
    url = pg_env["TRUNKDROP_DATABASE_URL"]
    env = {**pg_env, "TRUNKDROP_COMMAND_CLAIM_TIMEOUT_S": "2"}
    seeded = seed_route(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stuck = start(
        {**env, "TRUNKDROP_FAULT_PAUSE_AFTER_CLAIM_S": "120"}, "worker", "--name", "stuck"
    )
    started = [start(env, "serve", "--port", str(port), "--no-workers"), stuck]
    try:
        assert until(serving(base), deadline)
        driver = Driver(base, seeded)
        attempt = driver.attempt()
        accepted = httpx.post(
            f"{base}/v1/attempts/{attempt['id']}/access",
            json=driver.access_body(attempt),
            headers=driver.auth,
            timeout=10,
        )
        assert accepted.status_code == 202, accepted.text

        def unlocks() -> list[str]:
            return [r[0] for r in rows(url, UNLOCKS, a=attempt["id"])]

        assert until(lambda: unlocks() == ["sending"], deadline)
        stuck.send_signal(signal.SIGKILL)
        stuck.wait(timeout=10)
        started.append(start(env, "worker", "--name", "fresh"))
        assert until(lambda: unlocks()[0] in ("executed", "expired", "rejected"), deadline)
        opened = rows(
            url,
            "SELECT count(*) FROM vehicle_events e JOIN attempts a ON a.vehicle_id = e.vehicle_id"
            " WHERE a.id = :a AND e.type = 'trunk_opened'",
            a=attempt["id"],
        )[0][0]
        if unlocks() == ["executed"]:
            assert opened == 1
            assert until(
                lambda: (
                    rows(url, "SELECT status FROM attempts WHERE id = :a", a=attempt["id"])
                    == [("trunk_open",)]
                ),
                deadline,
            )
        else:
            assert opened == 0
        verify = audit_verifies(pg_env)
        assert verify.returncode == 0, verify.stdout
    finally:
        stop_all(started)


def test_the_platforms_database_connections_cut_mid_delivery_are_recovered(
    pg_env: dict[str, str],
) -> None:
    """Right after an access request is accepted every PostgreSQL connection of the API
    process and the worker is terminated (pg_terminate_backend): the trunk still opens
    once, the deposit is accepted, and the audit chain verifies."""
    deadline = time.monotonic() + LIMIT_S
    url = pg_env["TRUNKDROP_DATABASE_URL"]
    seeded = seed_route(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = [
        start(pg_env, "serve", "--port", str(port), "--no-workers"),
        start(pg_env, "worker", "--name", "w1"),
    ]
    try:
        assert until(serving(base), deadline)
        driver = Driver(base, seeded)
        attempt = driver.attempt()
        path = f"/v1/attempts/{attempt['id']}"
        body = driver.access_body(attempt)
        accepted = httpx.post(f"{base}{path}/access", json=body, headers=driver.auth, timeout=10)
        assert accepted.status_code == 202, accepted.text
        cut = rows(
            url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        assert cut and all(r[0] for r in cut)

        def status() -> str:
            return str(
                rows(url, "SELECT status FROM attempts WHERE id = :a", a=attempt["id"])[0][0]
            )

        assert until(lambda: status() == "trunk_open", deadline)
        assert [r[0] for r in rows(url, UNLOCKS, a=attempt["id"])] == ["executed"]

        # The pool checks a connection before use: no request fails for the cut.
        deposit = httpx.post(f"{base}{path}/deposit", headers=driver.auth, timeout=10)
        assert deposit.status_code == 200, deposit.text
        assert status() == "deposited"
        verify = audit_verifies(pg_env)
        assert verify.returncode == 0, verify.stdout
    finally:
        stop_all(started)
