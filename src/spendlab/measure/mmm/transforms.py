"""Media transforms as pure ``jax.numpy`` functions: adstock (carry-over) and saturation.

Adstock weights are normalised to sum to 1, so a constant spend ``s`` per period has adstock ``s``
in steady state: the response curve at steady state is then ``beta * saturation(s)``.

Shapes: ``x`` is ``(T,)`` or ``(T, C)`` (periods x channels); adstock weights are ``(L,)`` or
``(L, C)`` with lag 0 first. Spend before the first period counts as zero.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

ADSTOCKS = ("geometric", "delayed", "weibull")
SATURATIONS = ("hill", "logistic", "michaelis_menten")
_EPS = 1e-12


def _lags(max_lag: int) -> jax.Array:
    return jnp.arange(max_lag, dtype=jnp.float32)


def _normalise(w: jax.Array) -> jax.Array:
    return w / jnp.maximum(jnp.sum(w, axis=0, keepdims=True), _EPS)


def geometric_weights(alpha: jax.Array, max_lag: int) -> jax.Array:
    """``w_k ∝ alpha^k`` for ``k < max_lag`` (normalised). ``alpha`` scalar or ``(C,)``."""
    k = _lags(max_lag).reshape((max_lag,) + (1,) * jnp.ndim(alpha))
    return _normalise(jnp.power(alpha, k))


def delayed_weights(alpha: jax.Array, theta: jax.Array, max_lag: int) -> jax.Array:
    """Delayed geometric: ``w_k ∝ alpha^((k - theta)^2)``, peak at lag ``theta`` (normalised)."""
    k = _lags(max_lag).reshape((max_lag,) + (1,) * jnp.ndim(alpha))
    return _normalise(jnp.power(alpha, (k - theta) ** 2))


def weibull_weights(shape: jax.Array, scale: jax.Array, max_lag: int) -> jax.Array:
    """Weibull-PDF adstock: ``w_k ∝ pdf_Weibull(k + 1; shape, scale)`` (scale in periods)."""
    k = _lags(max_lag).reshape((max_lag,) + (1,) * jnp.ndim(shape)) + 1.0
    z = k / scale
    logpdf = jnp.log(shape / scale) + (shape - 1.0) * jnp.log(z) - z**shape
    return _normalise(jnp.exp(logpdf))


def apply_adstock(x: jax.Array, weights: jax.Array) -> jax.Array:
    """``a_t = sum_k w_k x_{t-k}`` (spend before the first period is zero)."""
    max_lag = weights.shape[0]
    out = weights[0] * x
    for k in range(1, max_lag):
        shifted = jnp.concatenate([jnp.zeros_like(x[:k]), x[:-k]], axis=0)
        out = out + weights[k] * shifted
    return out


def hill(x: jax.Array, half: jax.Array, slope: jax.Array) -> jax.Array:
    """Hill: ``x^s / (x^s + half^s)``; 0.5 at ``x = half``, S-shaped when ``slope > 1``."""
    logx = jnp.log(jnp.maximum(x, _EPS))
    return jnp.where(x > 0, jax.nn.sigmoid(slope * (logx - jnp.log(half))), 0.0)


def logistic(x: jax.Array, lam: jax.Array) -> jax.Array:
    """Logistic: ``(1 - e^{-lam x}) / (1 + e^{-lam x})`` (= ``tanh(lam x / 2)``), concave."""
    return jnp.tanh(0.5 * lam * x)


def michaelis_menten(x: jax.Array, half: jax.Array) -> jax.Array:
    """Michaelis-Menten: ``x / (x + half)`` (Hill with slope 1)."""
    return x / (x + half)


def adstock_weights(kind: str, params: dict[str, jax.Array], max_lag: int) -> jax.Array:
    """Weights of adstock ``kind`` (params ``alpha``; ``theta``; ``shape``, ``scale``)."""
    if kind == "geometric":
        return geometric_weights(params["alpha"], max_lag)
    if kind == "delayed":
        return delayed_weights(params["alpha"], params["theta"], max_lag)
    if kind == "weibull":
        return weibull_weights(params["shape"], params["scale"], max_lag)
    raise ValueError(f"unknown adstock {kind!r}; use one of {ADSTOCKS}")


def saturate(kind: str, x: jax.Array, params: dict[str, jax.Array]) -> jax.Array:
    """Saturation ``kind`` applied to ``x`` (``half``, ``slope``; ``lam``; ``half``)."""
    if kind == "hill":
        return hill(x, params["half"], params["slope"])
    if kind == "logistic":
        return logistic(x, params["lam"])
    if kind == "michaelis_menten":
        return michaelis_menten(x, params["half"])
    raise ValueError(f"unknown saturation {kind!r}; use one of {SATURATIONS}")
