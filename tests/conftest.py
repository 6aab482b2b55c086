"""Shared fixtures: a fresh workspace per test, and a DuckDB in-memory connection for readers."""

from __future__ import annotations

import os
from pathlib import Path

import ibis
import pytest
from hypothesis import Phase, settings

from spendlab.data.warehouse import Warehouse

# Bounded property tests: no shrink phase (a failing example is reported as found), so a
# failure can never stall CI for minutes; the explicit seed in the report reproduces it.
# Derandomized by default, so CI is reproducible; SPENDLAB_FUZZ=N (any value) explores random
# examples instead -- run it locally or nightly: it is how the XLSX '=' bug was found.
settings.register_profile(
    "spendlab",
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    derandomize="SPENDLAB_FUZZ" not in os.environ,
)
settings.load_profile("spendlab")

FIXTURES = Path(__file__).parent / "data" / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def workspace(tmp_path: Path):
    wh = Warehouse.init(tmp_path / "ws", currency="USD")
    yield wh
    wh.close()


@pytest.fixture(autouse=True)
def _close_shared_stores():
    """Workspace stores are shared per process and URL; each test starts with none open."""
    yield
    from spendlab.store import close_shared_stores

    close_shared_stores()


def forget_workspace_id(folder: Path) -> Path:
    """Drop the stable id from a workspace folder's spendlab.toml, so each copy of a template
    gets its own id on first open (as a workspace made before ids existed does)."""
    from spendlab.config import WORKSPACE_FILE, WorkspaceConfig

    cfg = WorkspaceConfig.load(folder).model_copy(update={"id": None})
    cfg.save_to(folder / WORKSPACE_FILE)
    return folder


@pytest.fixture
def con():
    c = ibis.duckdb.connect()
    yield c
    c.disconnect()
