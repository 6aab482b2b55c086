"""Markov removal effects against hand-solved chains and a Monte-Carlo walk of an independently
estimated chain."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest

from spendlab.errors import ConfigError
from spendlab.measure.attribution import MarkovAttribution, from_frame


def paths(rows):
    return from_frame(pd.DataFrame(rows, columns=["path", "conversions", "nulls", "value"]))


def test_hand_solved_two_channel_chain():
    # start -> a (1/2) | b (1/2); a -> b; b -> conv 1/2 | null 1/2.  P(conv) = 1/2.
    # without a: start -> a is lost: P = 1/4, RE_a = 1/2; without b: P = 0, RE_b = 1.
    m = MarkovAttribution().fit(paths([("a > b", 1, 0, 30.0), ("b", 0, 1, 0.0)]))
    assert m.conversion_probability_ == pytest.approx(0.5, rel=1e-12)
    assert m.removal_effects_ == pytest.approx({"a": 0.5, "b": 1.0}, rel=1e-12)
    c = m.credits_.set_index("channel")
    assert c["conversions"].to_dict() == pytest.approx({"a": 1 / 3, "b": 2 / 3}, rel=1e-12)
    assert c["value"].to_dict() == pytest.approx({"a": 10.0, "b": 20.0}, rel=1e-12)


def test_hand_solved_loop():
    # a <-> b loop: a -> b (1), b -> a 1/3 | conv 1/3 | null 1/3 (paths a>b>a>b conv, a>b null,
    # a>b conv ... built so counts give these probabilities). P(conv from a) = p solves
    # p = 1/3 p + 1/3  ->  p = 1/2.
    m = MarkovAttribution().fit(paths([("a > b > a > b", 1, 0, 0.0), ("a > b", 0, 1, 0.0)]))
    assert m.conversion_probability_ == pytest.approx(0.5, rel=1e-12)
    assert m.removal_effects_ == pytest.approx({"a": 1.0, "b": 1.0}, rel=1e-12)


def test_overall_probability_is_the_observed_conversion_rate():
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(300):
        k = rng.integers(1, 6)
        rows.append(
            (" > ".join(rng.choice(list("abcde"), k)), rng.integers(0, 5), rng.integers(0, 9), 0.0)
        )
    p = paths(rows)
    for order in (1, 2, 3, 4):
        m = MarkovAttribution(order).fit(p)
        rate = p.total_conversions / (p.total_conversions + p.nulls.sum())
        assert m.conversion_probability_ == pytest.approx(rate, rel=1e-10)


def test_high_order_chain_reproduces_paths_exactly():
    # with order >= path length every path is its own chain of states: removing c kills exactly
    # the conversions of paths that contain c
    p = paths([("a > b", 10, 20, 0), ("b", 5, 30, 0), ("a > c > b", 3, 10, 0), ("c", 1, 40, 0)])
    m = MarkovAttribution(order=3).fit(p)
    total = 19
    assert m.removal_effects_ == pytest.approx(
        {"a": 13 / total, "b": 18 / total, "c": 4 / total}, rel=1e-12
    )


def _independent_chain(rows):
    counts = defaultdict(Counter)
    for path, conv, null, _ in rows:
        states = ["(start)", *path.split(" > ")]
        for s, t in zip(states[:-1], states[1:], strict=True):
            counts[s][t] += conv + null
        counts[states[-1]]["(conversion)"] += conv
        counts[states[-1]]["(null)"] += null
    return counts


def _walk(counts, removed, n, rng):
    names = sorted(set(counts) | {t for c in counts.values() for t in c})
    idx = {s: i for i, s in enumerate(names)}
    cum = np.zeros((len(names), len(names)))
    for s, c in counts.items():
        tot = sum(c.values())
        for t, k in c.items():
            cum[idx[s], idx[t]] = k / tot
    cum = np.cumsum(cum, axis=1)
    state = np.full(n, idx["(start)"])
    done = np.zeros(n, dtype=bool)
    conv = np.zeros(n, dtype=bool)
    for _ in range(200):
        live = np.flatnonzero(~done)
        if live.size == 0:
            break
        u = rng.random(live.size)
        nxt = (u[:, None] > cum[state[live]]).sum(axis=1)
        state[live] = nxt
        name = np.asarray(names, dtype=object)[nxt]
        hit_conv = name == "(conversion)"
        stop = hit_conv | (name == "(null)") | (name == removed)
        conv[live[hit_conv]] = True
        done[live[stop]] = True
    return conv.mean()


def test_removal_effects_match_a_monte_carlo_walk():
    rng = np.random.default_rng(11)
    rows = []
    for _ in range(60):
        k = rng.integers(1, 5)
        rows.append(
            (
                " > ".join(rng.choice(list("abcd"), k)),
                int(rng.integers(0, 6)),
                int(rng.integers(0, 6)),
                0.0,
            )
        )
    rows.append(("a", 1, 0, 0.0))
    m = MarkovAttribution().fit(paths(rows))
    counts = _independent_chain(rows)
    n = 400_000
    base = _walk(counts, None, n, rng)
    assert base == pytest.approx(m.conversion_probability_, abs=4 * np.sqrt(0.25 / n))
    for ch, re in m.removal_effects_.items():
        p = _walk(counts, ch, n, rng)
        assert 1 - p / base == pytest.approx(re, abs=0.01)


def test_order_is_validated():
    with pytest.raises(ConfigError, match="orders 1 to 4"):
        MarkovAttribution(order=5)


def test_transition_frame_rows_sum_to_one():
    p = paths([("a > b", 1, 3, 0), ("b > a > c", 2, 1, 0)])
    t = MarkovAttribution().fit(p).chain_.transition_frame()
    assert t.groupby("from")["probability"].sum().to_numpy() == pytest.approx(1.0)


def test_block_by_block_parse_and_chain_equal_one_block(monkeypatch):
    """Parsing and the chain run in blocks of BLOCK steps, states compacted by a lookup table or
    by sorting, transitions counted densely or sparsely: every combination gives the same."""
    import spendlab.measure.attribution.markov as markov_mod
    import spendlab.measure.attribution.paths as paths_mod

    rng = np.random.default_rng(11)
    names = [f"ch{i}" for i in range(9)]
    rows = [
        (" > ".join(rng.choice(names, rng.integers(1, 7))), float(rng.integers(0, 4)), 2.0)
        for _ in range(300)
    ]
    rows.append(("ch0", 1.0, 0.0))
    frame = pd.DataFrame(rows, columns=["path", "conversions", "nulls"])
    one = from_frame(frame)
    expected = {k: MarkovAttribution(order=k).fit(one).removal_effects_ for k in (1, 2, 3)}
    monkeypatch.setattr(paths_mod, "BLOCK", 7)
    monkeypatch.setattr(markov_mod, "DENSE_CODES", 0)
    monkeypatch.setattr(markov_mod, "DENSE_PAIRS", 0)
    many = from_frame(frame)
    assert len(paths_mod.blocks(many.offsets)) > 100
    assert many.channels == one.channels
    assert np.array_equal(many.steps, one.steps) and np.array_equal(many.offsets, one.offsets)
    for k in (1, 2, 3):
        got = MarkovAttribution(order=k).fit(many).removal_effects_
        assert got == pytest.approx(expected[k], rel=1e-12)
