"""The one ratio helper: each zero-denominator policy, the warehouse expression and its NumPy twin
agree value for value, and glossary ratios use their documented policy and scale."""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd
import pytest

from spendlab.core.metrics import METRICS, ZeroPolicy
from spendlab.data.metrics import metric_ratio, policy, ratio, ratio_array

NUM = [6.0, 0.0, 3.0, 0.0, None]
DEN = [3.0, 2.0, 0.0, 0.0, 1.0]
EXPECT = {
    ZeroPolicy.NULL: [2.0, 0.0, None, None, None],
    ZeroPolicy.ZERO: [2.0, 0.0, 0.0, 0.0, None],
    ZeroPolicy.INFINITE: [2.0, 0.0, math.inf, None, None],
}


def _same(got, want) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if w is None:
            assert g is None or (isinstance(g, float) and math.isnan(g)), (got, want)
        else:
            assert g == w, (got, want)


@pytest.mark.parametrize("zp", list(ZeroPolicy))
def test_each_policy_in_the_warehouse_and_in_numpy(con, zp):
    t = ibis.memtable(pd.DataFrame({"i": range(5), "n": NUM, "d": DEN}))
    got = con.execute(t.select("i", r=ratio(t.n, t.d, zp)).order_by("i"))["r"].tolist()
    _same(got, EXPECT[zp])
    arr = ratio_array(np.array(NUM, dtype=float), np.array(DEN), zp.value)
    _same(arr.tolist(), EXPECT[zp])


def test_glossary_ratios_use_their_policy_and_scale(con):
    sums = pd.DataFrame(
        {
            "impressions": [2000, 0],
            "clicks": [10, 0],
            "spend": [5.0, 5.0],
            "conversions": [0.0, 0.0],
            "revenue": [0.0, 0.0],
        }
    )
    t = ibis.memtable(sums)
    names = [m.name for m in METRICS.values() if m.is_ratio]
    assert names == ["ctr", "cpc", "cpm", "cvr", "cpa", "roas"]
    out = con.execute(t.select(**{n: metric_ratio(n, {c: t[c] for c in sums}) for n in names}))
    first, second = out.iloc[0], out.iloc[1]
    assert first["cpm"] == 2.5 and first["ctr"] == 0.005 and first["cpc"] == 0.5
    assert first["cpa"] == math.inf and first["roas"] == 0.0 and first["cvr"] == 0.0
    assert second[["ctr", "cpc", "cpm", "cvr"]].isna().all()  # no impressions, no clicks
    assert second["cpa"] == math.inf  # spend and no conversions
    assert policy("cpa") is ZeroPolicy.INFINITE and policy("roas") is ZeroPolicy.NULL
    with pytest.raises(KeyError, match="not a ratio"):
        policy("spend")
