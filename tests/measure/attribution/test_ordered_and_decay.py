"""Ordered Shapley (Zhao et al. 2018) by hand and against the coalition formula; time decay with
a half-life in days on journeys with touch times; the subnormal-count guard."""

from __future__ import annotations

from itertools import chain, combinations

import ibis
import numpy as np
import pandas as pd
import pytest

from spendlab.errors import ConfigError, DataError
from spendlab.measure.attribution import (
    JourneyConfig,
    OrderedShapley,
    ShapleyAttribution,
    TimeDecay,
    build_journeys,
    from_frame,
    make_model,
)


def paths(rows):
    return from_frame(pd.DataFrame(rows, columns=["path", "conversions", "nulls", "value"]))


def test_ordered_shapley_by_hand():
    # a > b > a (6 conv, 60): m = 2 -> a due 3 (1.5 at positions 1 and 3), b 3 at position 2
    # b > c (2 conv, 0): b 1 at position 1, c 1 at position 2; nulls carry no weight
    m = OrderedShapley().fit(paths([("a > b > a", 6, 1, 60.0), ("b > c", 2, 9, 0.0)]))
    pos = m.position_credits_.set_index(["channel", "position"])
    assert pos["conversions"].to_dict() == pytest.approx(
        {("a", 1): 1.5, ("a", 3): 1.5, ("b", 1): 1.0, ("b", 2): 3.0, ("c", 2): 1.0}
    )
    assert pos.loc[("a", 3), "value"] == pytest.approx(15.0)
    credits = m.credits_.set_index("channel")["conversions"].to_dict()
    assert credits == pytest.approx({"a": 3.0, "b": 4.0, "c": 1.0})
    assert m.to_dict()["positions"][0].keys() >= {"channel", "position", "conversions"}


def _zhao_ordered(journeys):
    """The paper's formula enumerated literally: phi_j^i = sum over coalitions S containing j of
    r(S, j, i) / |S|, r = conversions of journeys with channel set S whose touch i is j, each
    divided by the count of j in the journey."""
    channels = sorted(set(chain(*(j for j, _ in journeys))))
    longest = max(len(j) for j, _ in journeys)
    out = {}
    for ch in channels:
        for i in range(longest):
            total = 0.0
            for size in range(1, len(channels) + 1):
                for s in combinations(channels, size):
                    if ch not in s:
                        continue
                    r = sum(
                        c / j.count(ch)
                        for j, c in journeys
                        if set(j) == set(s) and i < len(j) and j[i] == ch
                    )
                    total += r / len(s)
            if total:
                out[(ch, i + 1)] = total
    return out


def test_ordered_shapley_matches_the_coalition_formula_and_sums_to_totals():
    rng = np.random.default_rng(3)
    journeys = []
    for _ in range(30):
        j = list(rng.choice(list("abcd"), rng.integers(1, 6)))
        journeys.append((j, float(rng.integers(0, 5))))
    journeys.append((["a"], 1.0))
    p = paths([(" > ".join(j), c, 2, 10.0 * c) for j, c in journeys])
    m = OrderedShapley().fit(p)
    got = m.position_credits_.set_index(["channel", "position"])["conversions"]
    got = {k: v for k, v in got.items() if v > 0}
    expected = _zhao_ordered(journeys)
    assert got.keys() == expected.keys()
    assert [got[k] for k in expected] == pytest.approx(list(expected.values()), rel=1e-12)
    assert m.credits_["conversions"].sum() == pytest.approx(p.total_conversions, rel=1e-12)
    assert m.credits_["value"].sum() == pytest.approx(p.total_value, rel=1e-12)
    # channel totals equal the count game's Shapley value (the documented pitfall)
    count = ShapleyAttribution(game="count").fit(p).credits_["conversions"]
    assert m.credits_["conversions"].to_numpy() == pytest.approx(count.to_numpy(), rel=1e-10)
    # linear in the counts: the bootstrap runs and keeps every draw's total
    m.bootstrap(50, seed=0)
    assert (m.credits_["conversions_lo"] <= m.credits_["conversions"] + 1e-9).all()


@pytest.fixture
def touch_tables():
    t = pd.Timestamp("2024-03-01 12:00")
    d = pd.Timedelta(days=1)
    tp = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u3"],
            "timestamp": [t, t + 6 * d, t + 7 * d, t, t],
            "channel": ["a", "b", "a", "b", "c"],
            "campaign": "",
            "interaction_type": "click",
        }
    )
    cv = pd.DataFrame(
        {"user_id": ["u1", "u2"], "timestamp": [t + 8 * d, t + 2 * d], "value": [50.0, 20.0]}
    )
    return ibis.memtable(tp), ibis.memtable(cv)


def test_time_decay_half_life_in_days_on_journeys(touch_tables):
    j = build_journeys(touch_tables, JourneyConfig(collapse_repeats=False))
    assert j.n_paths == 3  # one entry per journey, u3's is a null journey
    # u1: a 8 days, b 2 days, a 1 day before the conversion
    by_path = {j.path(i): np.sort(j.ages[j.offsets[i] : j.offsets[i + 1]]) for i in range(3)}
    assert by_path[("a", "b", "a")].tolist() == [1.0, 2.0, 8.0]
    c = TimeDecay(7.0, unit="days").fit(j).credits_.set_index("channel")
    w = 2.0 ** (-np.array([7.0, 1.0, 0.0]) / 7.0)  # ages relative to the youngest touch
    assert c.loc["b", "conversions"] == pytest.approx(1 + w[1] / w.sum(), rel=1e-12)
    assert c.loc["a", "value"] == pytest.approx(50 * (w[0] + w[2]) / w.sum(), rel=1e-12)
    assert c["conversions"].sum() == pytest.approx(2.0)
    # the touch-based variant still works on the same journeys, and differs
    t = make_model("time_decay", half_life=1.0).fit(j).credits_.set_index("channel")
    assert t.loc["b", "conversions"] != pytest.approx(c.loc["b", "conversions"])


def test_days_on_a_path_table_is_a_clear_error():
    with pytest.raises(ConfigError, match="path table has none"):
        make_model("time_decay", half_life_days=7).fit(paths([("a > b", 1, 0, 0.0)]))
    with pytest.raises(ConfigError, match="unit"):
        TimeDecay(7, unit="hours")


def test_subnormal_counts_are_zero_and_cannot_carry_value():
    p = paths([("a > b", 1e-300, 1e-12, 0.0), ("b", 2, 1, 5.0)])
    assert p.conversions[0] == 0 and p.nulls[0] == 0
    with pytest.raises(DataError, match=r"row 2: .* value but no conversions .*below 1e-09"):
        paths([("a > b", 5e-324, 0, 500.0), ("b", 2, 1, 5.0)])


def test_names_equal_up_to_spaces_merge_into_one_path():
    p = from_frame(pd.DataFrame({"path": ["a > b", " a > b ", "a  >  b", "b"],
                                 "conversions": [1, 2, 3, 4], "nulls": 0}))  # fmt: skip
    f = p.to_frame().set_index("path")
    assert p.channels == ("a", "b") and p.n_paths == 2
    assert f.loc["a > b", "conversions"] == 6 and f.loc["b", "conversions"] == 4
