"""Transforms against plain numpy references (independent loops / closed forms)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendlab.measure.mmm import transforms as tf

jax.config.update("jax_enable_x64", False)


def np_adstock(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    for t in range(len(x)):
        for k in range(len(w)):
            if t - k >= 0:
                out[t] += w[k] * x[t - k]
    return out


def test_geometric_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, 1.0, 40).astype(np.float32)
    alpha, lag = 0.6, 8
    w_ref = alpha ** np.arange(lag)
    w_ref /= w_ref.sum()
    w = np.asarray(tf.geometric_weights(jnp.float32(alpha), lag))
    np.testing.assert_allclose(w, w_ref, rtol=1e-5)
    np.testing.assert_allclose(tf.apply_adstock(jnp.asarray(x), jnp.asarray(w)),
                               np_adstock(x, w_ref), rtol=1e-5)  # fmt: skip


def test_delayed_and_weibull_match_numpy():
    lag = 10
    k = np.arange(lag)
    w_ref = 0.7 ** ((k - 2.5) ** 2)
    w_ref /= w_ref.sum()
    np.testing.assert_allclose(tf.delayed_weights(jnp.float32(0.7), 2.5, lag), w_ref, rtol=1e-5)
    from scipy.stats import weibull_min

    w_ref = weibull_min.pdf(k + 1, 1.8, scale=3.0)
    w_ref /= w_ref.sum()
    np.testing.assert_allclose(tf.weibull_weights(jnp.float32(1.8), 3.0, lag), w_ref, rtol=1e-4)


def test_per_channel_weights_apply_columnwise():
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, 1.0, (30, 3)).astype(np.float32)
    alpha = jnp.asarray([0.1, 0.5, 0.9], dtype=jnp.float32)
    w = tf.geometric_weights(alpha, 6)
    assert w.shape == (6, 3)
    out = np.asarray(tf.apply_adstock(jnp.asarray(x), w))
    for c in range(3):
        np.testing.assert_allclose(out[:, c], np_adstock(x[:, c], np.asarray(w[:, c])), rtol=1e-5)


def test_saturations_match_closed_forms():
    x = np.linspace(0.0, 5.0, 51).astype(np.float32)
    np.testing.assert_allclose(tf.hill(x, 1.5, 2.2), x**2.2 / (x**2.2 + 1.5**2.2), atol=1e-6)
    np.testing.assert_allclose(
        tf.logistic(x, 0.8), (1 - np.exp(-0.8 * x)) / (1 + np.exp(-0.8 * x)), atol=1e-6
    )
    np.testing.assert_allclose(tf.michaelis_menten(x, 2.0), x / (x + 2.0), atol=1e-6)


def test_hill_gradient_finite_at_zero_spend():
    g = jax.grad(lambda s, h: jnp.sum(tf.hill(jnp.asarray([0.0, 1.0]), h, s)), argnums=(0, 1))
    gs, gh = g(1.5, 1.0)
    assert np.isfinite(gs) and np.isfinite(gh)


@settings(max_examples=10, deadline=None)
@given(
    alpha=st.floats(0.0, 0.95),
    lag=st.integers(1, 12),
    level=st.floats(0.1, 100.0),
)
def test_adstock_preserves_constant_spend_in_steady_state(alpha, lag, level):
    x = jnp.full((lag + 5,), level, dtype=jnp.float32)
    out = tf.apply_adstock(x, tf.geometric_weights(jnp.float32(alpha), lag))
    np.testing.assert_allclose(out[lag:], level, rtol=1e-4)


def test_unknown_kinds_raise():
    with pytest.raises(ValueError, match="unknown adstock"):
        tf.adstock_weights("nope", {}, 3)
    with pytest.raises(ValueError, match="unknown saturation"):
        tf.saturate("nope", jnp.ones(2), {})
