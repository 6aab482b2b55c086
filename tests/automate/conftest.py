"""A small simulated market in a workspace, shared by the rules tests of a module."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from spendlab.data.ingest import ingest_frames
from spendlab.data.warehouse import Warehouse
from spendlab.simulate import SimConfig, simulate

AS_OF = date(2024, 2, 21)  # a Wednesday; data runs 2024-01-01 .. 2024-02-29


def market_frames(seed: int = 3):
    m = simulate(SimConfig(seed=seed, days=60, campaigns=8, users=300, customers=50))
    ap = m.frames["ad_performance"].copy()
    ents = m.frames["entities"].copy()
    # zero-denominator cases: one keyword never converts, another has no delivery lately
    kws = sorted(ap.loc[ap.level == "keyword", "keyword_id"].unique())
    ap.loc[ap.keyword_id == kws[0], ["conversions", "conversion_value"]] = 0
    late = (ap.keyword_id == kws[1]) & (ap.date >= np.datetime64("2024-02-10"))
    ap.loc[late, ["impressions", "clicks"]] = 0
    ap.loc[late, ["spend", "conversions", "conversion_value"]] = 0.0
    return ap, ents


@pytest.fixture(scope="module")
def market_ws(tmp_path_factory):
    ap, ents = market_frames()
    wh = Warehouse.init(tmp_path_factory.mktemp("rules") / "ws")
    ingest_frames(wh, {"ad_performance": ap, "entities": ents})
    yield wh
    wh.close()
