"""Migrations: handsets registered before approval existed stay usable, and the approval
columns come and go with rows (and their challenges) in place."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from trunkdrop.migrate import alembic_config, upgrade

AT = datetime(2026, 11, 1, 8, 0)


def test_device_approval_round_trip_keeps_existing_handsets(tmp_path: Path) -> None:
    """Upgrading to 0006 approves the handsets already in use (at their registration);
    downgrading and upgrading again works with challenges pointing at them."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url, "0005")
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO parties (id, role, name, created_at) VALUES ('drv', 'driver', 'd', :at)"
            ),
            {"at": AT},
        )
        c.execute(
            text(
                "INSERT INTO devices (id, driver_id, public_key, label, created_at) "
                "VALUES ('dev', 'drv', 'k', 'l', :at)"
            ),
            {"at": AT},
        )
        c.execute(
            text(
                "INSERT INTO device_nonces (nonce, device_id, attempt_id, action, issued_at, "
                "expires_at) VALUES ('n', 'dev', 'att', 'trunk:unlock', :at, :at)"
            ),
            {"at": AT},
        )
    upgrade(url, "0006")
    with engine.begin() as c:
        approved = c.execute(text("SELECT approved_at, created_at FROM devices")).one()
    assert approved[0] is not None and approved[0] == approved[1]
    command.downgrade(alembic_config(url), "0005")
    with engine.begin() as c:
        columns = [row[1] for row in c.execute(text("PRAGMA table_info(devices)"))]
        nonces = c.execute(text("SELECT count(*) FROM device_nonces")).scalar()
    assert "approved_at" not in columns and nonces == 1
    upgrade(url, "head")
    engine.dispose()
