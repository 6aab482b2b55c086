"""Data-driven attribution recovers planted effects (recency, frequency, exposure) better than
the rule-based models, and better than the exposure-only classifier."""

from __future__ import annotations

from math import factorial

import numpy as np
import pandas as pd
import pytest

from spendlab.measure.attribution import DataDrivenAttribution, from_frame, make_model
from spendlab.measure.attribution.data_driven import path_features

CH = ["search", "social", "email", "display"]


def true_p(path: tuple[str, ...]) -> float:
    """Planted conversion probability: search works on exposure, email by recency (full effect
    as the last touch, half one step earlier...), display by frequency, social not at all."""
    eta = -3.0 + 1.2 * ("search" in path) + 0.6 * np.log1p(path.count("display"))
    if "email" in path:
        back = path[::-1].index("email")  # touches after email's last touch
        eta += 1.5 / (1 + back)
    return 1 / (1 + np.exp(-eta))


def true_credits(table: pd.DataFrame) -> pd.Series:
    """Shapley credit of the planted function, each converting path's conversions split by the
    positive parts of the exact Shapley values over its distinct channels (subsets enumerated
    here, independently of the implementation)."""
    out = dict.fromkeys(CH, 0.0)
    for path_str, conv in zip(table["path"], table["conversions"], strict=True):
        if conv <= 0:
            continue
        path = tuple(path_str.split(" > "))
        members = sorted(set(path))
        m = len(members)
        phi = dict.fromkeys(members, 0.0)
        for mask in range(1 << m):
            s = {members[i] for i in range(m) if mask >> i & 1}
            v_s = true_p(tuple(t for t in path if t in s))
            for ch in members:
                if ch in s:
                    continue
                v_si = true_p(tuple(t for t in path if t in s | {ch}))
                w = factorial(len(s)) * factorial(m - len(s) - 1) / factorial(m)
                phi[ch] += w * (v_si - v_s)
        pos = {ch: max(v, 0.0) for ch, v in phi.items()}
        total = sum(pos.values())
        for ch in members:
            out[ch] += conv * (pos[ch] / total if total > 0 else 1 / m)
    return pd.Series(out)


@pytest.fixture(scope="module")
def journeys():
    rng = np.random.default_rng(7)
    n = 40_000
    lengths = np.minimum(rng.geometric(0.4, n), 6)
    rows = []
    for length in lengths:
        path = tuple(rng.choice(CH, length, p=[0.25, 0.3, 0.2, 0.25]))
        rows.append(" > ".join(path))
    frame = pd.DataFrame({"path": rows})
    p = np.array([true_p(tuple(x.split(" > "))) for x in frame["path"]])
    frame["conversions"] = (rng.random(n) < p).astype(float)
    frame["nulls"] = 1 - frame["conversions"]
    return frame.groupby("path", as_index=False)[["conversions", "nulls"]].sum()


def test_path_features_by_hand():
    # paths: a > b > a, b, (empty)
    x = path_features(np.array([0, 1, 0, 1]), np.array([0, 3, 4, 4]), 2)
    # exposure(2), log1p count(2), first(2), last(2), recency(2), log1p length
    assert x[0].tolist() == pytest.approx(
        [1, 1, np.log(3), np.log(2), 1, 0, 1, 0, 1, 1 / 2, np.log(4)]
    )
    # first/last only on paths of 2+ touches (else they would duplicate the intercept)
    assert x[1].tolist() == pytest.approx([0, 1, 0, np.log(2), 0, 0, 0, 0, 0, 1, np.log(2)])
    assert not x[2].any()


def test_data_driven_recovers_the_planted_effects_better_than_heuristics(journeys):
    truth = true_credits(journeys)
    paths = from_frame(journeys)

    def error(credits: pd.DataFrame) -> float:
        got = credits.set_index("channel")["conversions"].reindex(CH)
        return float((got - truth).abs().sum() / truth.sum())

    dda = DataDrivenAttribution().fit(paths)
    errors = {"data_driven": error(dda.credits_)}
    errors["exposure_only"] = error(DataDrivenAttribution(features="exposure").fit(paths).credits_)
    for name in ("last_touch", "first_touch", "linear", "position", "time_decay", "shapley"):
        errors[name] = error(make_model(name).fit(paths).credits_)
    assert errors["data_driven"] < 0.03, errors
    assert errors["data_driven"] < 0.5 * min(v for k, v in errors.items() if k != "data_driven")
    got = dda.credits_.set_index("channel")["conversions"]
    assert ((got.reindex(CH) - truth).abs() / truth).max() < 0.05, (got, truth)
