"""Journeys built in the warehouse (Ibis on DuckDB) against hand-written expectations."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from spendlab.errors import ConfigError
from spendlab.measure.attribution import JourneyConfig, build_paths, journey_summary, journey_table

T = pd.Timestamp("2024-03-01")
D = pd.Timedelta(days=1)


@pytest.fixture
def source():
    tp = pd.DataFrame(
        [
            ("u1", T, "paid_search", "brand"),
            ("u1", T + 1 * D, "paid_search", "generic"),
            ("u1", T + 2 * D, "direct", ""),
            ("u1", T + 3 * D, "email", "news"),  # conversion 1 at T+4
            ("u1", T + 5 * D, "display", "retarget"),  # conversion 2 at T+6
            ("u1", T + 7 * D, "email", "news"),  # after the last conversion: null journey
            ("u2", T - 60 * D, "paid_social", "lal"),  # outside the 30-day lookback
            ("u2", T, "paid_social", "lal"),  # conversion at T+1
            ("u3", T, "paid_search", "generic"),  # never converts
            ("u3", T + D, "paid_social", "lal"),
        ],
        columns=["user_id", "timestamp", "channel", "campaign"],
    )
    cv = pd.DataFrame(
        [("u1", T + 4 * D, 10.0), ("u1", T + 6 * D, 20.0), ("u2", T + D, 5.0), ("u9", T, 7.0)],
        columns=["user_id", "timestamp", "value"],
    )
    return ibis.memtable(tp), ibis.memtable(cv)


def counts(source, **kw):
    f = build_paths(source, JourneyConfig(**kw)).to_frame().set_index("path")
    return {p: (r.conversions, r.nulls, r.value) for p, r in f.iterrows()}


def test_per_conversion_paths_with_lookback_and_collapse(source):
    assert counts(source) == {
        "paid_search > direct > email": (1, 0, 10.0),
        "display": (1, 0, 20.0),
        "paid_social": (1, 0, 5.0),
        "email": (0, 1, 0.0),
        "paid_search > paid_social": (0, 1, 0.0),
    }


def test_transforms(source):
    got = counts(source, drop_channels=("Direct",), collapse_repeats=False, include_nulls=False)
    assert got == {
        "paid_search > paid_search > email": (1, 0, 10.0),
        "display": (1, 0, 20.0),
        "paid_social": (1, 0, 5.0),
    }
    assert "paid_search" in counts(source, first_n=1)
    assert counts(source, last_n=1)["email"] == (1, 1, 10.0)
    assert counts(source, lookback_days=100)["paid_social"] == (1, 0, 5.0)  # repeats collapsed
    camp = counts(source, granularity="campaign", include_nulls=False)
    assert "paid_search: brand > paid_search: generic > direct > email: news" in camp


def test_per_user_paths(source):
    got = counts(source, mode="user", include_nulls=False)
    assert got["paid_search > direct > email > display"] == (2, 0, 30.0)


def test_summary_counts_conversions_without_touch(source):
    s = journey_summary(source)
    assert s["conversions"] == 3 and s["conversions_total"] == 4
    assert s["conversions_without_touch"] == 1 and s["nulls"] == 2


def test_journey_table_has_timing(source):
    jt = journey_table(source).to_pandas().set_index("journey")
    row = jt.loc["u1#0"]
    assert row["touches"] == 3 and (row["end"] - row["first_touch"]) == 4 * D


def test_config_is_validated():
    with pytest.raises(ConfigError, match="mode"):
        JourneyConfig(mode="session")
    with pytest.raises(ConfigError, match="first_n or last_n"):
        JourneyConfig(first_n=2, last_n=2)
