"""What a newcomer meets first: local API docs, `/` leading somewhere, the command's
version, settings and one-line database errors, the shipped sample instance, the client."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.support import OFFICE, World
from trunkdrop import __version__
from trunkdrop.access.tokens import unb64u
from trunkdrop.cli import app
from trunkdrop.client import ApiError, Client, Handset

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def test_docs_and_redoc_load_every_asset_from_trunkdrop_itself(client: TestClient) -> None:
    """/docs and /redoc name no other host, and each script and stylesheet they name is served."""
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "http://" not in html and "https://" not in html and "//cdn" not in html
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
        assert assets, page
        for asset in assets:
            response = client.get(asset)
            assert response.status_code == 200, asset
            assert len(response.content) > 100, asset


def test_root_leads_to_the_pages(client: TestClient) -> None:
    """`/` is no longer a 404: it redirects to /app, which answers a page."""
    response = client.get("/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "/app")
    assert client.get("/app").headers["content-type"].startswith("text/html")


def test_version_answers_from_the_command_and_from_python_m() -> None:
    """`trunkdrop --version` and `python -m trunkdrop --version` print the package version."""
    assert runner.invoke(app, ["--version"]).output.strip() == f"trunkdrop {__version__}"
    done = subprocess.run(
        [sys.executable, "-m", "trunkdrop", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"trunkdrop {__version__}"


def test_help_names_the_settings() -> None:
    """`trunkdrop --help` names the environment settings a first run needs."""
    output = runner.invoke(app, ["--help"], terminal_width=200).output
    for name in ("TRUNKDROP_DATABASE_URL", "TRUNKDROP_DATA_DIR", "TRUNKDROP_KEY_PASSPHRASE"):
        assert name in output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgres://u@127.0.0.1/db", "postgresql://"),
        ("mysql://u@127.0.0.1/db", "sqlite:///PATH"),
        ("postgresql://postgres@127.0.0.1:1/none", "cannot open postgresql://***@127.0.0.1:1"),
    ],
)
def test_a_database_url_that_cannot_work_is_one_line(
    url: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt, foreign or unreachable database URL exits 2 with one line naming the
    setting, never a traceback (and never the password)."""
    monkeypatch.setenv("TRUNKDROP_DATABASE_URL", url)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "TRUNKDROP_DATABASE_URL" in lines[0] and says in lines[0]


def test_plan_without_a_file_solves_the_shipped_sample() -> None:
    """`trunkdrop plan` with no file plans the sample instance and checks the plan feasible."""
    result = runner.invoke(app, ["plan", "--seconds", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert '"instance": "instance_3-triangle"' in result.output
    assert '"feasible": true' in result.output


def test_readme_points_at_nothing_outside_the_repository() -> None:
    """Every path the README names in backquotes that looks like a file exists in the repo,
    and it names no outside design document."""
    readme = (REPO / "README.md").read_text()
    assert "shared/" not in readme and "DESIGN.md" not in readme
    for path in re.findall(r"`((?:docs|benchmarks|src|tests)/[^`\s]+\.\w+)`", readme):
        assert (REPO / path).exists(), path


def test_client_handset_signs_the_documented_message() -> None:
    """The client's Handset reproduces the signature example of docs/api.md byte for byte."""
    handset = Handset.from_seed(bytes(range(32)))
    assert handset.public_key == "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
    signature = handset.sign(
        nonce="IBTYGqQymaFNBsulQFsTdtAc8AgeteR0jl8hK-54vss", attempt_id="att_0123456789abcdef0123"
    )
    assert signature == (
        "UF7qMFptSz7h-DSjTYz392126mLfDSpXVpFNnv_Wz67yd3SIu4ZkWi70fc-kMXIcghD7l1FsbEgUv-L4uCNTAg"
    )
    assert len(unb64u(signature)) == 64


def test_client_opens_a_trunk_with_its_handset(world: World) -> None:
    """Through `trunkdrop.client` (over the test app): register a handset, have it approved,
    start the attempt and ask for access: the unlock is queued; a refusal is an ApiError
    carrying the problem's code."""
    _vehicle, _delivery, stop = world.at_the_stop()
    transport = world.client._transport  # the app in process
    driver = Client("http://testserver", world.keys["driver"], transport=transport)
    carrier = Client("http://testserver", world.keys["carrier"], transport=transport)
    handset = Handset.generate()
    driver.register_handset(handset)
    at = (OFFICE[0] + 0.0001, OFFICE[1])
    with pytest.raises(ApiError) as refused:
        driver.start_attempt(stop, at=at, handset=handset)
    assert refused.value.code == "device_not_approved"
    carrier.approve_device(str(handset.device_id))
    attempt = driver.start_attempt(stop, at=at, handset=handset)
    granted = driver.request_access(attempt["id"], at=at, handset=handset)
    assert granted["attempt"]["status"] == "unlocking"
