"""The mean of daily values a rule reads is the same whatever order the warehouse adds them in
(the root of a flaky comparison between the vector and the Ibis evaluation paths)."""

from __future__ import annotations

import math
from decimal import Decimal
from functools import reduce
from operator import add

import duckdb
import ibis
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendlab.automate.rules.features import MEAN_DECIMALS, exact_mean

INF = float("inf")


def _mean(con, values: list[float | None], where: list[bool] | None = None) -> float | None:
    where = where if where is not None else [True] * len(values)
    df = pd.DataFrame({"g": 1, "x": pd.array(values, dtype="Float64"), "w": where})
    t = con.create_table("t", df, overwrite=True)
    out = t.group_by("g").aggregate(m=exact_mean(t.x, t.w)).to_pandas()
    v = out.m.iloc[0]
    return None if pd.isna(v) else float(v)


def _fixed_point(values: list[float]) -> float:
    q = Decimal(1).scaleb(-MEAN_DECIMALS)
    total = sum(Decimal(v).quantize(q) for v in values)
    return float(total) / len(values)


@pytest.fixture(scope="module")
def con():
    c = ibis.duckdb.from_connection(duckdb.connect())
    yield c
    c.disconnect()


def test_order_does_not_change_the_last_digit(con):
    vals = [0.1, 0.2, 0.3]
    assert reduce(add, vals) != reduce(add, reversed(vals))  # a float sum depends on the order
    a = _mean(con, vals)
    b = _mean(con, list(reversed(vals)))
    assert a == b == _fixed_point(vals)


def test_infinities_nulls_and_the_window(con):
    assert _mean(con, [1.0, INF, 3.0]) == INF
    assert _mean(con, [1.0, -INF]) == -INF
    assert _mean(con, [1.0, None, 3.0]) == 2.0  # undefined daily ratios are skipped
    assert _mean(con, [None, None]) is None
    assert _mean(con, [1.0, INF, 5.0], [True, False, True]) == 3.0  # outside the window
    assert _mean(con, [1.0, 2.0], [False, False]) is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_any_permutation_gives_the_same_mean(con, values, rnd):
    shuffled = list(values)
    rnd.shuffle(shuffled)
    a, b = _mean(con, values), _mean(con, shuffled)
    assert a == b
    assert math.isclose(a, sum(values) / len(values), rel_tol=1e-9, abs_tol=1e-11)
