"""The `trunkdrop` command line: keys, database, audit, demo."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trunkdrop.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("TRUNKDROP_DATABASE_URL", f"sqlite:///{db}")
    return db


def test_keys_create_prints_the_key_alone_on_the_last_line_and_stores_only_its_hash(
    env: Path,
) -> None:
    """The printed key is the last line, and the database holds its SHA-256, never the key."""
    result = runner.invoke(
        app, ["keys", "create", "--role", "retailer", "--name", "Isar Outfitters"]
    )
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("td_reta_") and " " not in key
    rows = sqlite3.connect(env).execute("select key_hash from api_keys").fetchall()
    assert len(rows) == 1 and key not in rows[0][0]


def test_keys_create_with_unknown_role_names_the_option(env: Path) -> None:
    """A bad --role exits 2 with a message naming the option, no traceback."""
    result = runner.invoke(app, ["keys", "create", "--role", "king", "--name", "x"])
    assert result.exit_code == 2
    assert "--role" in result.output and "Traceback" not in result.output


def test_driver_key_needs_a_carrier(env: Path) -> None:
    """A driver without --carrier is refused with a message naming --carrier."""
    result = runner.invoke(app, ["keys", "create", "--role", "driver", "--name", "Jonas"])
    assert result.exit_code == 2
    assert "--carrier" in result.output


def test_car_maker_key_for_an_unknown_brand_is_refused(env: Path) -> None:
    """`--brand no-such-brand` exits 2 with one line naming --brand and the known brands."""
    args = ["keys", "create", "--role", "carmaker", "--name", "Nobody", "--brand"]
    result = runner.invoke(app, [*args, "no-such-brand"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "--brand" in result.output and "sim-aurora" in result.output
    assert sqlite3.connect(env).execute("select count(*) from parties").fetchone()[0] == 0
    assert runner.invoke(app, [*args, "sim-aurora"]).exit_code == 0


def test_db_upgrade_creates_the_schema(env: Path) -> None:
    """`db upgrade` on a fresh file creates every table."""
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    tables = {
        r[0]
        for r in sqlite3.connect(env).execute("select name from sqlite_master where type='table'")
    }
    assert {"deliveries", "grants", "grant_redemptions", "audit_entries", "vehicles"} <= tables


def test_audit_verify_exits_nonzero_on_a_tampered_trail(env: Path) -> None:
    """`audit verify` passes on an intact trail printing its head, and fails naming the altered
    entry."""
    assert runner.invoke(app, ["keys", "rotate"]).exit_code == 0
    assert runner.invoke(app, ["keys", "rotate"]).exit_code == 0
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact" in ok.output
    conn = sqlite3.connect(env)
    (head,) = conn.execute("select hash from audit_head").fetchone()
    assert f"head sha256 {head}" in ok.output  # to keep outside the database
    conn.execute("update audit_entries set actor = 'mallory' where seq = 1")
    conn.commit()
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "entry 1 was altered" in broken.output


def test_keys_rotate_never_prints_key_material(env: Path) -> None:
    """Rotation prints the new key id only; private keys are stored encrypted."""
    result = runner.invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0
    assert "PRIVATE" not in result.output
    blob = (
        sqlite3.connect(env).execute("select private_key_encrypted from signing_keys").fetchone()[0]
    )
    assert b"ENCRYPTED PRIVATE KEY" in blob


def test_demo_delivers_falls_back_and_relocks(tmp_path: Path) -> None:
    """The demo ends with one JSON line: deliveries delivered, one fallback, one relock incident."""
    result = runner.invoke(app, ["demo", "--database", str(tmp_path / "demo.db")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["deliveries"] >= 4
    assert summary["delivered"] == summary["deliveries"]
    assert summary["failed"] >= 1
    assert summary["incidents"] >= 1
    assert "delivered, trunk locked at" in result.output
    assert "attempt failed: vehicle moved" in result.output
    assert "lock sent by trunkdrop" in result.output


def test_keys_revoke_kills_every_key_of_the_party(env: Path) -> None:
    """`keys revoke --party` marks the party's keys revoked; an unknown party exits 2 with
    a message naming the option, no traceback."""
    created = runner.invoke(app, ["keys", "create", "--role", "retailer", "--name", "Shop"])
    party_id = created.output.split(" with id ", 1)[1].split()[0]
    result = runner.invoke(app, ["keys", "revoke", "--party", party_id])
    assert result.exit_code == 0, result.output
    assert "revoked 1 API key(s)" in result.output
    rows = sqlite3.connect(env).execute("select revoked_at from api_keys").fetchall()
    assert len(rows) == 1 and rows[0][0] is not None
    unknown = runner.invoke(app, ["keys", "revoke", "--party", "ret_nobody"])
    assert unknown.exit_code == 2 and "--party" in unknown.output
    assert "Traceback" not in unknown.output
