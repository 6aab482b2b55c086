"""Adstock and saturation against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from spendlab.simulate.media import (
    DELAYED,
    GEOMETRIC,
    HILL,
    LOGISTIC,
    MediaParams,
    delayed_adstock,
    delayed_weights,
    geometric_adstock,
    hill,
    hill_derivative,
    logistic,
    logistic_derivative,
)


def naive_geometric(x, alpha):
    y = np.zeros_like(x, dtype=float)
    acc = 0.0
    for t, v in enumerate(x):
        acc = v + alpha * acc
        y[t] = acc
    return (1 - alpha) * y


def test_geometric_hand_case():
    out = geometric_adstock(np.array([1.0, 0, 0, 0]), 0.5)
    np.testing.assert_allclose(out, [0.5, 0.25, 0.125, 0.0625], rtol=0, atol=1e-15)
    out = geometric_adstock(np.array([2.0, 2.0]), 0.25)
    np.testing.assert_allclose(out, [1.5, 1.5 * 0.25 + 1.5], atol=1e-15)


def test_geometric_matches_recursion_per_row():
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, 50.0, (5, 300))
    alpha = np.array([0.0, 0.1, 0.5, 0.8, 0.95])
    out = geometric_adstock(x, alpha)
    for i in range(5):
        np.testing.assert_allclose(out[i], naive_geometric(x[i], alpha[i]), rtol=1e-12)


def test_geometric_steady_state_is_spend():
    out = geometric_adstock(np.full(400, 100.0), 0.7)
    assert out[-1] == pytest.approx(100.0, rel=1e-12)


def test_delayed_hand_case():
    w = delayed_weights(np.array([0.5]), np.array([1.0]), 3)
    np.testing.assert_allclose(w, [[0.25, 0.5, 0.25]])
    out = delayed_adstock(np.array([[4.0, 0, 0, 0, 8.0]]), [0.5], [1.0], 3)
    np.testing.assert_allclose(out, [[1.0, 2.0, 1.0, 0.0, 2.0]])


def test_delayed_peak_and_steady_state():
    x = np.zeros(30)
    x[0] = 1.0
    out = delayed_adstock(x[None, :], [0.6], [4.0], 14)[0]
    assert out.argmax() == 4
    assert out.sum() == pytest.approx(1.0)
    steady = delayed_adstock(np.full((1, 40), 7.0), [0.6], [4.0], 14)[0]
    np.testing.assert_allclose(steady[14:], 7.0)


def test_hill_hand_cases():
    assert hill(np.array(3.0), 3.0, 2.5) == pytest.approx(0.5)
    assert hill(np.array(2.0), 1.0, 2.0) == pytest.approx(0.8)
    assert hill(np.array(0.0), 1.0, 2.0) == 0.0
    assert hill_derivative(np.array(0.0), 4.0, 1.0) == pytest.approx(0.25)
    assert hill_derivative(np.array(0.0), 4.0, 2.0) == 0.0
    # d/dx x^2/(x^2+1) at 1 = 2x/(x^2+1)^2 = 0.5
    assert hill_derivative(np.array(1.0), 1.0, 2.0) == pytest.approx(0.5)


def test_logistic_hand_cases():
    lam = np.log(3.0)
    assert logistic(np.array(1.0), lam) == pytest.approx((1 - 1 / 3) / (1 + 1 / 3))
    assert logistic_derivative(np.array(0.0), 0.4) == pytest.approx(0.2)


def _params(n=40, seed=1):
    rng = np.random.default_rng(seed)
    sat = rng.integers(0, 2, n)
    return MediaParams(
        adstock=rng.integers(0, 2, n),
        alpha=rng.uniform(0.1, 0.8, n),
        theta=rng.uniform(0, 4, n),
        saturation=sat,
        K=np.where(sat == HILL, rng.uniform(50, 500, n), np.nan),
        S=np.where(sat == HILL, rng.uniform(0.6, 3.5, n), np.nan),
        lam=np.where(sat == LOGISTIC, rng.uniform(0.001, 0.03, n), np.nan),
        beta=rng.uniform(100, 2000, n),
        max_lag=10,
    )


def test_marginal_is_derivative_of_response():
    p = _params()
    s = np.random.default_rng(2).uniform(20, 800, p.beta.size)
    h = 1e-4 * s
    fd = (p.response(s + h) - p.response(s - h)) / (2 * h)
    np.testing.assert_allclose(p.marginal(s), fd, rtol=1e-6, atol=1e-9)


def test_inverse_marginal_and_tangent():
    p = _params()
    for mu in (0.05, 0.5, 2.0):
        s = p.inverse_marginal(mu)
        pos = s > 0
        np.testing.assert_allclose(p.marginal(s)[pos], mu, rtol=1e-9)
        # on the decreasing part: at or beyond the inflection point
        assert np.all(s[pos] >= p.inflection_spend()[pos] * (1 - 1e-12))
    t = p.tangent_spend()
    sshape = t > 0
    assert np.array_equal(sshape, (p.saturation == HILL) & (np.nan_to_num(p.S) > 1))
    np.testing.assert_allclose(p.response(t)[sshape] / t[sshape], p.marginal(t)[sshape], rtol=1e-9)


def test_contribution_is_beta_saturation_adstock():
    p = _params(n=4)
    p.adstock = np.array([GEOMETRIC, DELAYED, GEOMETRIC, DELAYED])
    x = np.random.default_rng(3).gamma(2.0, 100.0, (4, 60))
    c = p.contribution(x)
    for i in range(4):
        if p.adstock[i] == GEOMETRIC:
            a = naive_geometric(x[i], p.alpha[i])
        else:
            a = delayed_adstock(x[i : i + 1], p.alpha[i : i + 1], p.theta[i : i + 1], 10)[0]
        if p.saturation[i] == HILL:
            expected = p.beta[i] * hill(a, p.K[i], p.S[i])
        else:
            expected = p.beta[i] * logistic(a, p.lam[i])
        np.testing.assert_allclose(c[i], expected, rtol=1e-12)
