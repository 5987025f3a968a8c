"""docs/quickstart.md works as written: its shell and Python blocks, run in order in a
fresh directory, take one parcel into a trunk and stop the server again."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIP = "<!-- not run by the test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def script(markdown: str, port: int) -> str:
    """The page's blocks as one bash script: shell as written, Python through a here-doc
    (so that exported keys reach it), port 8000 moved to a free one."""
    parts = ["set -euo pipefail"]
    for before, lang, body in re.findall(r"(.{0,80})```(sh|python)\n(.*?)```", markdown, re.S):
        if SKIP in before:
            continue
        parts.append(body if lang == "sh" else f"python - <<'PYTHON'\n{body}PYTHON\n")
    return "\n".join(parts).replace("8000", str(port))


def test_quickstart_delivers_one_parcel(tmp_path: Path) -> None:
    """Every block of the quickstart succeeds and the Python block ends with the parcel
    delivered into the trunk and the audit chain intact."""
    markdown = (REPO / "docs" / "quickstart.md").read_text()
    body = script(markdown, _free_port())
    assert "trunkdrop serve" in body and "request_access" in body
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKDROP_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    proc = subprocess.Popen(
        [shutil.which("bash") or "/bin/bash", "-c", body],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=240)
    finally:
        # The server the page starts is stopped by its last block; if a block failed
        # before that, stop it here.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        pid_file = tmp_path / "trunkdrop.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
    assert proc.returncode == 0, output + (tmp_path / "server.log").read_text(errors="replace")
    assert re.search(r"delivery dlv_\w+ is delivered", output), output
    assert "audit chain intact: True" in output
    log = (tmp_path / "server.log").read_text()
    assert "database: sqlite:///" in log and "development passphrase" in log
