"""Fixtures for the dispatch unit tests: where the published VRPRDL instances live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def vrprdl_dir() -> Path:
    """The VRPRDL data directory (as the benchmark finds it); skip when it is absent."""
    from_env = os.environ.get("TRUNKDROP_VRPRDL_DIR")
    directory = Path(from_env) if from_env else REPO.parent / "shared" / "data" / "vrprdl"
    if not directory.is_dir():
        pytest.skip(f"VRPRDL instances not found in {directory}")
    return directory
