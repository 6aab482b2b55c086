"""Shared fixtures: a fresh workspace per test, and a DuckDB in-memory connection for readers."""

from __future__ import annotations

from pathlib import Path

import ibis
import pytest

from spendlab.data.warehouse import Warehouse

FIXTURES = Path(__file__).parent / "data" / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def workspace(tmp_path: Path):
    wh = Warehouse.init(tmp_path / "ws", currency="USD")
    yield wh
    wh.close()


@pytest.fixture
def con():
    c = ibis.duckdb.connect()
    yield c
    c.disconnect()
