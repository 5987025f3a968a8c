"""Real processes on PostgreSQL: API processes and workers apart, a worker killed with
SIGKILL and replaced; every wait bounded, ports picked at runtime."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tests.conftest import PG_URL, _reset_postgres
from trunkdrop.cli import app

TRUNKDROP = str(Path(sys.executable).with_name("trunkdrop"))
LIMIT_S = 45.0


def test_serve_refuses_several_processes_on_sqlite(tmp_path: Path) -> None:
    """`serve --processes 2` on SQLite stops with a message naming PostgreSQL."""
    result = CliRunner().invoke(
        app,
        ["serve", "--processes", "2"],
        env={"TRUNKDROP_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
    )
    assert result.exit_code == 2
    assert "PostgreSQL" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(check: Callable[[], bool], deadline: float) -> bool:
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)  # polling another process: there is no event to await
    return False


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
    }
    yield env
    _reset_postgres(postgres_migrated)


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [TRUNKDROP, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _beats(url: str) -> list[str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as c:
            return [r[0] for r in c.execute(text("SELECT worker_id FROM worker_heartbeats"))]
    finally:
        engine.dispose()


@pytest.mark.skipif(PG_URL is None, reason="TRUNKDROP_TEST_DATABASE_URL is not set")
def test_api_processes_are_ready_only_with_a_worker_and_survive_its_kill(
    pg_env: dict[str, str],
) -> None:
    """Two API processes without workers: /ready is 503 until a worker beats; the worker
    killed with SIGKILL is replaced under its name and beats again; the audit chain holds."""
    deadline = time.monotonic() + LIMIT_S
    port = _free_port()
    url = pg_env["TRUNKDROP_DATABASE_URL"]
    api = _start(pg_env, "serve", "--port", str(port), "--processes", "2", "--no-workers")
    started: list[subprocess.Popen[bytes]] = [api]
    try:

        def ready_status() -> int:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code
            except httpx.HTTPError:
                return 0

        assert _until(lambda: ready_status() == 503, deadline)  # up, but no worker yet
        worker = _start(pg_env, "worker", "--name", "f1")
        started.append(worker)
        assert _until(lambda: ready_status() == 200, deadline)
        first = _beats(url)
        assert len(first) == 1
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        again = _start(pg_env, "worker", "--name", "f1")
        started.append(again)
        assert _until(lambda: len(_beats(url)) == 2, deadline)
        assert ready_status() == 200
        verify = subprocess.run(
            [TRUNKDROP, "audit", "verify"], env=pg_env, capture_output=True, timeout=30
        )
        assert verify.returncode == 0, verify.stdout
    finally:
        for process in reversed(started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.skipif(PG_URL is None, reason="TRUNKDROP_TEST_DATABASE_URL is not set")
def test_a_revoked_key_is_refused_by_every_api_process_at_once(pg_env: dict[str, str]) -> None:
    """Two API processes have the operator's key cached; `keys revoke` in another process
    makes both refuse it on the next request (NOTIFY), not after the cache's 5 s."""
    deadline = time.monotonic() + LIMIT_S
    port = _free_port()
    created = subprocess.run(
        [TRUNKDROP, "keys", "create", "--role", "operator", "--name", "ops"],
        env=pg_env,
        capture_output=True,
        timeout=30,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    party_id = created.stdout.split("with id ")[1].split()[0]
    key = created.stdout.strip().splitlines()[-1]
    api = _start(pg_env, "serve", "--port", str(port), "--processes", "2", "--no-workers")
    try:
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {key}"}

        def answers() -> bool:
            try:
                return httpx.get(f"{base}/metrics", headers=auth, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert _until(answers, deadline)
        with httpx.Client(base_url=base, headers=auth) as client:
            # New connections, spread over both processes, each caching the key.
            assert all(
                httpx.get(f"{base}/metrics", headers=auth, timeout=5).status_code == 200
                for _ in range(10)
            )
            revoked = subprocess.run(
                [TRUNKDROP, "keys", "revoke", "--party", party_id],
                env=pg_env,
                capture_output=True,
                timeout=30,
            )
            assert revoked.returncode == 0
            statuses = [
                httpx.get(f"{base}/metrics", headers=auth, timeout=5).status_code for _ in range(10)
            ]
            assert client.get("/metrics").status_code == 401
        assert statuses == [401] * 10
    finally:
        api.send_signal(signal.SIGTERM)
        try:
            api.wait(timeout=10)
        except subprocess.TimeoutExpired:
            api.kill()
