"""Campaign-level batches: thousands of small per-campaign MMMs fit at once with ``jax.vmap``.

Per campaign (internal scale: outcome / its mean, spend / its mean over days with spend):

    y_t = b0 + beta * hill(geometric_adstock(x)_t; half, s) + eps_t,   eps_t ~ N(0, sigma)

with weakly-informative priors (log b0 ~ N(log 0.5, 1), log beta ~ N(log 0.5, 1),
logit alpha ~ N(-0.5, 1.5), log half ~ N(0, 0.7), log s ~ N(0.3, 0.4), log sigma ~ N(log 0.2, 1)),
fit by MAP (Adam on the unconstrained parameters, all campaigns in one compiled loop). With
several JAX CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>`` set before
JAX starts) the campaigns are split across them with ``jax.pmap``, one core each.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from spendlab.errors import ConfigError, DataError
from spendlab.measure.mmm import transforms as tf
from spendlab.measure.mmm.inference import compilation_cache

_PRIOR = {  # name: (mean, sd) of the unconstrained parameter
    "log_b0": (np.log(0.5), 1.0),
    "log_beta": (np.log(0.5), 1.0),
    "logit_alpha": (-0.5, 1.5),
    "log_half": (0.0, 0.7),
    "log_s": (0.3, 0.4),
    "log_sigma": (np.log(0.2), 1.0),
}


def _unpack(z: jax.Array) -> dict[str, jax.Array]:
    return {
        "b0": jnp.exp(z[0]),
        "beta": jnp.exp(z[1]),
        "alpha": jax.nn.sigmoid(z[2]),
        "half": jnp.exp(z[3]),
        "s": jnp.exp(z[4]),
        "sigma": jnp.exp(z[5]),
    }


def _saturated(p: dict, x: jax.Array, max_lag: int) -> jax.Array:
    w = tf.geometric_weights(p["alpha"], max_lag)
    return tf.hill(tf.apply_adstock(x, w), p["half"], p["s"])


def _neg_log_post(z: jax.Array, x: jax.Array, y: jax.Array, max_lag: int) -> jax.Array:
    p = _unpack(z)
    mu = p["b0"] + p["beta"] * _saturated(p, x, max_lag)
    r = (y - mu) / p["sigma"]
    nll = 0.5 * jnp.sum(r * r) + y.shape[0] * jnp.log(p["sigma"])
    means = jnp.asarray([m for m, _ in _PRIOR.values()])
    sds = jnp.asarray([s for _, s in _PRIOR.values()])
    return nll + 0.5 * jnp.sum(((z - means) / sds) ** 2)


def _fit_all(x: jax.Array, y: jax.Array, max_lag: int, steps: int, lr: float) -> jax.Array:
    n = x.shape[0]
    z0 = jnp.tile(jnp.asarray([m for m, _ in _PRIOR.values()], dtype=jnp.float32), (n, 1))
    grad = jax.vmap(jax.grad(_neg_log_post), in_axes=(0, 0, 0, None))

    def step(carry, i):
        z, m, v = carry
        g = grad(z, x, y, max_lag)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        mh, vh = m / (1 - 0.9 ** (i + 1)), v / (1 - 0.999 ** (i + 1))
        return (z - lr * mh / (jnp.sqrt(vh) + 1e-8), m, v), None

    zeros = jnp.zeros_like(z0)
    (z, _, _), _ = jax.lax.scan(step, (z0, zeros, zeros), jnp.arange(steps, dtype=jnp.float32))
    return z


_fit_all_jit = jax.jit(_fit_all, static_argnums=(2, 3, 4))
_fit_all_pmap = jax.pmap(_fit_all, static_broadcasted_argnums=(2, 3, 4))


def _fit_sharded(x: jax.Array, y: jax.Array, max_lag: int, steps: int, lr: float) -> jax.Array:
    """All campaigns' MAP; split over the local CPU devices when there are several."""
    n, devs = x.shape[0], jax.local_device_count()
    if devs < 2 or n < 2 * devs:
        return _fit_all_jit(x, y, max_lag, steps, lr)
    per = -(-n // devs)
    pad = per * devs - n
    xp = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]).reshape(devs, per, -1)
    yp = jnp.concatenate([y, jnp.repeat(y[-1:], pad, axis=0)]).reshape(devs, per, -1)
    z = _fit_all_pmap(xp, yp, max_lag, steps, lr)
    return z.reshape(devs * per, -1)[:n]


def fit_campaigns(
    df: pd.DataFrame,
    *,
    date: str = "date",
    campaign: str = "campaign_id",
    spend: str = "spend",
    target: str = "revenue",
    max_lag: int = 14,
    steps: int = 300,
    lr: float = 0.08,
) -> pd.DataFrame:
    """Fit one small MMM per campaign (long data: one row per campaign and period; missing
    campaign-periods count as zero spend and zero outcome). Returns one row per campaign:
    ``campaign``, ``type`` ('hill'), ``beta``, ``half``, ``s`` (the planner's parameterization:
    response per period = ``beta * x^s / (x^s + half^s)`` at steady spend ``x`` per period),
    ``alpha`` (geometric carry-over), ``intercept``, ``sigma`` (target units), ``spend``,
    ``contribution`` and ``iroas`` over the data, and ``seconds`` (whole batch)."""
    for col in (date, campaign, spend, target):
        if col not in df.columns:
            raise ConfigError(f"column {col!r} not in the data; available: {list(df.columns)}")
    compilation_cache()
    t0 = time.perf_counter()
    xs = df.pivot_table(index=campaign, columns=date, values=spend, aggfunc="sum", fill_value=0.0)
    ys = df.pivot_table(index=campaign, columns=date, values=target, aggfunc="sum", fill_value=0.0)
    ys = ys.reindex(index=xs.index, columns=xs.columns, fill_value=0.0)
    x, y = xs.to_numpy(dtype=float), ys.to_numpy(dtype=float)
    if (x < 0).any():
        raise DataError("negative spend in the campaign data; spend must be >= 0")
    active = (x > 0).sum(axis=1)
    bad = active == 0
    x_scale = x.sum(axis=1) / np.maximum(active, 1)
    if bad.any():
        raise DataError(
            f"campaign(s) {list(xs.index[bad])[:5]} have no spend; drop them before fitting"
        )
    y_scale = np.abs(y).mean(axis=1)
    y_scale = np.where(y_scale > 0, y_scale, 1.0)
    xn = jnp.asarray(x / x_scale[:, None], dtype=jnp.float32)
    yn = jnp.asarray(y / y_scale[:, None], dtype=jnp.float32)
    z = _fit_sharded(xn, yn, max_lag, steps, float(lr))
    p = jax.vmap(_unpack)(z)
    sat = jax.vmap(lambda pp, xx: _saturated(pp, xx, max_lag))(p, xn)
    p = {k: np.asarray(v, dtype=float) for k, v in p.items()}
    contrib = p["beta"] * y_scale * np.asarray(sat, dtype=float).sum(axis=1)
    total = x.sum(axis=1)
    return pd.DataFrame({
        "campaign": xs.index.to_numpy(), "type": "hill",
        "beta": p["beta"] * y_scale, "half": p["half"] * x_scale, "s": p["s"],
        "alpha": p["alpha"], "intercept": p["b0"] * y_scale, "sigma": p["sigma"] * y_scale,
        "spend": total, "contribution": contrib,
        "iroas": np.where(total > 0, contrib / np.where(total > 0, total, 1.0), np.nan),
        "seconds": time.perf_counter() - t0,
    })  # fmt: skip
