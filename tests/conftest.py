"""Shared fixtures: a migrated database per test (SQLite, and PostgreSQL when its URL is set),
a platform on a manual clock, an HTTP client, and a small world of parties."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.support import World
from trunkdrop.api.app import create_app
from trunkdrop.bootstrap import Platform, bootstrap
from trunkdrop.clock import ManualClock
from trunkdrop.config import Settings
from trunkdrop.migrate import upgrade
from trunkdrop.tables import metadata

PG_URL = os.environ.get("TRUNKDROP_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
BERLIN = ZoneInfo("Europe/Berlin")
DAY_START = datetime(2026, 12, 1, 7, 0, tzinfo=BERLIN)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    assert PG_URL is not None
    engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(PG_URL)
    return PG_URL


def _reset_postgres(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64}
        )
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "trunkdrop.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_migrated")
    _reset_postgres(url)
    return url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DAY_START)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, environment="test", workers_inline=False)


@pytest.fixture
def platform(settings: Settings, clock: ManualClock) -> Iterator[Platform]:
    platform = bootstrap(settings, clock=clock, migrate=False)
    yield platform
    platform.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_workers=False), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def world(platform: Platform, client: TestClient, clock: ManualClock) -> World:
    return World(platform, client, clock)
