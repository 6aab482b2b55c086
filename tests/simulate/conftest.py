"""Shared small markets (session-scoped: simulating is deterministic and read-only here)."""

from __future__ import annotations

import pytest

from spendlab.simulate import SimConfig, simulate

SMALL = SimConfig(seed=11, days=120, campaigns=16, users=3000, customers=400)
GEO = SimConfig(
    seed=5, days=112, campaigns=24, geos=4, users=1000, customers=200, devices=("desktop", "mobile")
)


@pytest.fixture(scope="session")
def market():
    return simulate(SMALL)


@pytest.fixture(scope="session")
def geo_market():
    return simulate(GEO)
