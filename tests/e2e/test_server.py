"""`trunkdrop serve` over a real socket: migrates on start, serves OpenAPI, refuses without a key."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_upgrades_the_database_and_answers_over_http(tmp_path: Path) -> None:
    """A fresh database file is migrated on start; /health, /openapi.json and /docs answer; no key is 401 problem+json."""
    port = _free_port()
    env = {**os.environ, "TRUNKDROP_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trunkdrop.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        spec = httpx.get(f"{base}/openapi.json").json()
        assert "/v1/attempts/{attempt_id}/access" in spec["paths"]
        assert httpx.get(f"{base}/docs").status_code == 200
        refused = httpx.get(f"{base}/v1/vehicles")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
