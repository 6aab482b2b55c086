"""The geo-level hierarchical model as a hand-written log density (same conventions as
``model.py``: internal scale, unconstrained vector ``u`` with log-Jacobians added).

For geo ``g``, channel ``c``, period ``t`` (``y`` and ``x`` scaled per geo, see ``geo_data.py``):

    y_gt = baseline_gt + sum_k gamma_k z_gkt + sum_c beta_gc sat_c(adstock_c(x_gc))_t + eps_gt
    baseline_gt = b_g + delta_g t + s_g sum_j f_j F_jt + sum_e eta_e E_get   (floored at 0; or
                  b_g * exp(delta_g t + ...) with baseline="multiplicative"; model.baseline_of)
    eps_gt ~ N(0, sigma_g)
    lift_i ~ N(sum over the window and the tested geo(s) (all by default) of channel c's media
               contribution in target units, se_i)                       (calibration)

    log iroas_gc = mu_c + tau_c * z_gc,   z_gc ~ N(0, 1)          (non-centred partial pooling)
    mu_c ~ N(m_c, v_c)   (m_c, v_c: the log-normal of the national iROAS prior, see MMMConfig)
    tau_c ~ HalfNormal(0.5)
    beta_gc = iroas_gc * sum_t spend_gct / (y_scale_g * sum_t sat_gct)

Adstock and saturation shapes (alpha/theta/shape/scale, half/slope/lam) are shared by all geos;
since ``x`` is scaled per geo, a shared ``half_c`` is a half-saturation at the same multiple of
each geo's spend level. Shared yearly seasonality ``f`` with a geo scale ``s_g`` (log s_g ~
N(0, 0.3)); per geo intercept ``b_g`` (N(0.6, 0.5); LogNormal(log 0.6, 0.6) when multiplicative),
trend ``delta_g`` (N(0, 0.5)),
noise ``sigma_g`` (HalfNormal(0.2)). Other priors as in ``model.py``. ``pooling=False`` drops the
hierarchy: ``log iroas_gc ~ N(m_c, v_c)`` independently per geo (each geo on its own).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from spendlab.measure.mmm import transforms as tf
from spendlab.measure.mmm.config import MMMConfig
from spendlab.measure.mmm.geo_data import GeoPrepared
from spendlab.measure.mmm.model import (
    _LOGNORMAL,
    _normal,
    baseline_of,
    log_intercept,
    lognormal_from_moments,
    media_blocks,
    media_params,
    prior_start,
    transform_block,
    with_offsets,
)
from spendlab.measure.mmm.model import draws_from_unconstrained as national_draws


class GeoSpec(NamedTuple):
    adstock: str
    saturation: str
    max_lag: int
    trend: bool
    nonneg_baseline: bool
    n_train: int
    n_geos: int
    n_channels: int
    n_fourier: int
    n_events: int
    n_controls: int
    pooling: bool
    tau_fixed: bool = False  # fast mode: tau_c given (empirical Bayes, see geo_estimator.py)
    multiplicative: bool = False  # the baseline's form (see model.baseline_of)


def geo_spec_of(cfg: MMMConfig, prep: GeoPrepared) -> GeoSpec:
    g, _, c = prep.x.shape
    return GeoSpec(cfg.adstock, cfg.saturation, prep.max_lag, cfg.trend, cfg.nonneg_baseline,
                   prep.n_train, g, c, prep.fourier.shape[1], prep.events.shape[2],
                   prep.controls.shape[2], cfg.pooling,
                   multiplicative=cfg.baseline == "multiplicative")  # fmt: skip


def geo_arrays(cfg: MMMConfig, prep: GeoPrepared) -> dict[str, jax.Array]:
    n = prep.n_train
    scaled = 0.2 * prep.y[:, :n].sum() / max(prep.spend[:, :n].sum(), 1e-12)
    default = cfg.default_iroas_prior or (scaled, scaled)
    mus, sigmas = zip(*(lognormal_from_moments(*cfg.iroas_prior.get(ch, default))
                        for ch in cfg.channels), strict=True)  # fmt: skip
    arrays = {
        "x": prep.x,
        "y": prep.y / prep.y_scale[:, None],
        "z": prep.controls,
        "events": prep.events,
        "fourier": prep.fourier,
        "t": prep.t,
        "spend_sum": prep.spend[:, :n].sum(axis=1) / prep.y_scale[:, None],  # (G, C)
        "iroas_mu": np.array(mus),
        "iroas_sigma": np.array(sigmas),
        "lift_idx": prep.lift_idx,
        "lift_geo": prep.lift_geo,
        "lift_value": prep.lift_value,
        "lift_se": prep.lift_se,
    }
    out = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in arrays.items()}
    out["lift_channel"] = jnp.asarray(prep.lift_channel, dtype=jnp.int32)
    return out


def layout(spec: GeoSpec) -> tuple[tuple[str, int, int], ...]:
    c, g = spec.n_channels, spec.n_geos
    names = media_blocks(spec)
    if spec.pooling:
        names += [("iroas_mu", c)] + ([] if spec.tau_fixed else [("iroas_tau", c)])
    names += [("iroas_z", g * c), ("intercept", g)]
    if spec.trend:
        names.append(("trend", g))
    if spec.n_fourier:
        names += [("fourier", spec.n_fourier), ("seas_scale", g)]
    names += [(k, n) for k, n in (("events", spec.n_events), ("gamma", spec.n_controls)) if n]
    names.append(("sigma", g))
    return with_offsets(names)


def n_unconstrained(spec: GeoSpec) -> int:
    _, off, size = layout(spec)[-1]
    return off + size


_IDENTITY = ("fourier", "events", "gamma", "trend", "iroas_mu", "iroas_z")


def constrain(spec: GeoSpec, u: jax.Array, a: dict) -> tuple[dict[str, jax.Array], jax.Array]:
    p, logjac = {}, jnp.zeros(())
    for name, off, size in layout(spec):
        p[name], lj = transform_block(spec, name, u[off : off + size], _IDENTITY)
        logjac = logjac + lj
    z = p["iroas_z"].reshape(spec.n_geos, spec.n_channels)
    p["iroas_z"] = z
    if spec.pooling:
        tau = a["iroas_tau"] if spec.tau_fixed else p["iroas_tau"]
        log_iroas = p["iroas_mu"] + tau * z
    else:
        log_iroas = z
    p["iroas"] = jnp.exp(log_iroas)
    return p, logjac


def log_prior(spec: GeoSpec, p: dict[str, jax.Array], a: dict[str, jax.Array]) -> jax.Array:
    lp = jnp.zeros(())
    for name, x in p.items():
        if name == "alpha":
            lp = lp + jnp.sum(0.5 * jnp.log(x) + 2.0 * jnp.log1p(-x))
        elif name in _LOGNORMAL or name == "scale":
            m, s = (float(np.log(spec.max_lag / 4)), 0.5) if name == "scale" else _LOGNORMAL[name]
            lx = jnp.log(x)
            lp = lp + _normal(lx, m, s) - jnp.sum(lx)
        elif name == "iroas_mu":
            lp = lp + _normal(x, a["iroas_mu"], a["iroas_sigma"])
        elif name == "iroas_tau":
            lp = lp - 0.5 * jnp.sum((x / 0.5) ** 2)
        elif name == "iroas_z":
            if spec.pooling:
                lp = lp + _normal(x, 0.0, 1.0)
            else:
                lp = lp + _normal(x, a["iroas_mu"], a["iroas_sigma"])
        elif name == "intercept":
            if log_intercept(spec):
                lx = jnp.log(x)
                lp = lp + _normal(lx, float(np.log(0.6)), 0.6) - jnp.sum(lx)
            else:
                lp = lp + _normal(x, 0.6, 0.5)
        elif name == "seas_scale":
            lx = jnp.log(x)
            lp = lp + _normal(lx, 0.0, 0.3) - jnp.sum(lx)
        elif name in ("trend", "fourier", "events", "gamma"):
            lp = lp + _normal(x, 0.0, {"trend": 0.5, "fourier": 0.3, "events": 0.5,
                                       "gamma": 0.3}[name])  # fmt: skip
        elif name == "sigma":
            lp = lp - 0.5 * jnp.sum((x / 0.2) ** 2)
    return lp


def saturated(spec: GeoSpec, p: dict, x: jax.Array) -> jax.Array:
    """``sat_c(adstock_c(x_gc))``, ``(G, T, C)``."""
    ad, sat = media_params(p)
    w = tf.adstock_weights(spec.adstock, ad, spec.max_lag)
    xs = jax.vmap(lambda xg: tf.apply_adstock(xg, w))(x)
    return tf.saturate(spec.saturation, xs, sat)


def with_beta(spec: GeoSpec, p: dict, a: dict) -> tuple[dict, jax.Array]:
    sat = saturated(spec, p, a["x"])
    n = spec.n_train
    beta = p["iroas"] * a["spend_sum"] / jnp.maximum(sat[:, :n].sum(axis=1), 1e-9)
    return {**p, "beta": beta}, sat


def components(spec: GeoSpec, p: dict, a: dict, s: jax.Array | None = None) -> dict:
    """Per geo baseline (G, T), controls (G, T), media (G, T, C), mu (G, T) (internal scale)."""
    s = saturated(spec, p, a["x"]) if s is None else s
    media = s * p["beta"][:, None, :]
    lin = jnp.zeros(a["y"].shape[:1] + a["t"].shape)
    if spec.trend:
        lin = lin + p["trend"][:, None] * a["t"][None, :]
    if spec.n_fourier:
        lin = lin + p["seas_scale"][:, None] * (a["fourier"] @ p["fourier"])[None, :]
    if spec.n_events:
        lin = lin + a["events"] @ p["events"]
    b0 = p["intercept"][:, None]
    baseline = baseline_of(spec, b0, lin)
    controls = a["z"] @ p["gamma"] if spec.n_controls else jnp.zeros_like(baseline)
    return {"baseline": baseline, "controls": controls, "media": media,
            "mu": baseline + controls + media.sum(axis=2)}  # fmt: skip


def log_density(spec: GeoSpec, u: jax.Array, a: dict[str, jax.Array]) -> jax.Array:
    p, logjac = constrain(spec, u, a)
    p, sat = with_beta(spec, p, a)
    comp = components(spec, p, a, sat)
    n = spec.n_train
    sigma = p["sigma"][:, None]
    r = (a["y"][:, :n] - comp["mu"][:, :n]) / sigma
    ll = -0.5 * jnp.sum(r * r) - n * jnp.sum(jnp.log(p["sigma"]))
    if a["lift_value"].shape[0]:  # lift tests: window sums of the channel in the tested geo(s)
        media_c = comp["media"][:, :, a["lift_channel"]]  # (G, T, N)
        pred = jnp.einsum("gtn,nt,ng->n", media_c, a["lift_idx"], a["lift_geo"])
        ll = ll + _normal(a["lift_value"], pred, a["lift_se"])
    lp = ll + log_prior(spec, p, a) + logjac
    return jnp.where(jnp.isfinite(lp), lp, -jnp.inf)


def initial_point(spec: GeoSpec, a: dict[str, jax.Array]) -> jax.Array:
    mu = np.asarray(a["iroas_mu"])
    own = {"iroas_mu": mu, "iroas_tau": np.log(0.2),
           "iroas_z": 0.0 if spec.pooling else np.tile(mu, spec.n_geos)}  # fmt: skip
    return prior_start(spec, layout(spec), n_unconstrained(spec), own)


@partial(jax.jit, static_argnums=0)
def _params_of(spec: GeoSpec, flat: jax.Array, a: dict) -> dict[str, jax.Array]:
    return jax.vmap(lambda v: with_beta(spec, constrain(spec, v, a)[0], a)[0])(flat)


def draws_from_unconstrained(spec: GeoSpec, u: jax.Array, a: dict) -> dict[str, np.ndarray]:
    return national_draws(spec, u, a, _params_of)
