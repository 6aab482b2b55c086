"""The NumPyro model. All quantities are on the internal scale (target / its mean; spend / its
mean over non-zero periods; controls standardised).

    y_t = baseline_t + sum_k gamma_k z_kt + sum_c beta_c sat_c(adstock_c(x_c))_t + eps_t

    baseline_t = b0 * exp(delta * t + sum_j f_j F_jt + sum_e eta_e E_et)  (non-negative, default)
               = b0 + delta * t + sum_j f_j F_jt + sum_e eta_e E_et       (nonneg_baseline=False)

Media effects are positive: each channel's ``beta_c`` is derived from its iROAS over the fitting
period, which carries the prior (``iroas_c ~ LogNormal``), so the prior a marketer sets is the prior
the model uses: ``beta_c = iroas_c * sum_t spend_ct / (y_scale * sum_t sat_ct)``.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from spendlab.measure.mmm import transforms as tf
from spendlab.measure.mmm.config import MMMConfig
from spendlab.measure.mmm.data import Prepared


class Spec(NamedTuple):
    """Static (hashable) model structure."""

    adstock: str
    saturation: str
    max_lag: int
    trend: bool
    nonneg_baseline: bool
    n_train: int


def lognormal_from_moments(mean: float, sd: float) -> tuple[float, float]:
    """``(mu, sigma)`` of the log-normal with this mean and standard deviation."""
    s2 = float(np.log1p((sd / mean) ** 2))
    return float(np.log(mean) - s2 / 2), float(np.sqrt(s2))


def iroas_prior_params(cfg: MMMConfig, prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Per channel ``(mu, sigma)`` of the log-normal iROAS prior (see MMMConfig)."""
    n = prep.n_train
    scaled = 0.2 * prep.y[:n].sum() / max(prep.spend[:n].sum(), 1e-12)
    default = cfg.default_iroas_prior or (scaled, scaled)
    mus, sigmas = [], []
    for ch in cfg.channels:
        mu, sigma = lognormal_from_moments(*cfg.iroas_prior.get(ch, default))
        mus.append(mu)
        sigmas.append(sigma)
    return np.array(mus), np.array(sigmas)


def model_arrays(cfg: MMMConfig, prep: Prepared) -> dict[str, jax.Array]:
    mu, sigma = iroas_prior_params(cfg, prep)
    n = prep.n_train
    arrays = {
        "x": prep.x,
        "y": prep.y / prep.y_scale,
        "z": prep.controls,
        "events": prep.events,
        "fourier": prep.fourier,
        "t": prep.t,
        "spend_sum": prep.x[:n].sum(axis=0) * prep.x_scale / prep.y_scale,
        "iroas_mu": mu,
        "iroas_sigma": sigma,
        "lift_idx": prep.lift_idx,
        "lift_channel": prep.lift_channel,
        "lift_value": prep.lift_value,
        "lift_se": prep.lift_se,
    }
    return {k: jnp.asarray(v) for k, v in arrays.items()}


def spec_of(cfg: MMMConfig, prep: Prepared) -> Spec:
    return Spec(cfg.adstock, cfg.saturation, prep.max_lag, cfg.trend, cfg.nonneg_baseline,
                prep.n_train)  # fmt: skip


def media_params(p: dict[str, jax.Array]) -> tuple[dict, dict]:
    ad = {k: p[k] for k in ("alpha", "theta", "shape", "scale") if k in p}
    sat = {k: p[k] for k in ("half", "slope", "lam") if k in p}
    return ad, sat


def saturated(spec: Spec, p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """``sat_c(adstock_c(x_c))`` for all channels, ``(T, C)``."""
    ad, sat = media_params(p)
    w = tf.adstock_weights(spec.adstock, ad, spec.max_lag)
    return tf.saturate(spec.saturation, tf.apply_adstock(x, w), sat)


def components(spec: Spec, p: dict[str, jax.Array], a: dict[str, jax.Array]) -> dict:
    """Baseline, controls and media contributions (internal scale) for one parameter draw."""
    s = saturated(spec, p, a["x"])
    media = s * p["beta"]
    lin = jnp.zeros_like(a["t"])
    if spec.trend:
        lin = lin + p["trend"] * a["t"]
    if a["fourier"].shape[1]:
        lin = lin + a["fourier"] @ p["fourier"]
    if a["events"].shape[1]:
        lin = lin + a["events"] @ p["events"]
    baseline = p["intercept"] * jnp.exp(lin) if spec.nonneg_baseline else p["intercept"] + lin
    controls = a["z"] @ p["gamma"] if a["z"].shape[1] else jnp.zeros_like(baseline)
    return {"baseline": baseline, "controls": controls, "media": media,
            "mu": baseline + controls + media.sum(axis=1)}  # fmt: skip


def _media_priors(spec: Spec, n_ch: int) -> dict[str, jax.Array]:
    p = {}
    with numpyro.plate("channel", n_ch):
        if spec.adstock in ("geometric", "delayed"):
            p["alpha"] = numpyro.sample("alpha", dist.Beta(1.5, 3.0))
        if spec.adstock == "delayed":
            p["theta"] = numpyro.sample("theta", dist.Uniform(0.0, spec.max_lag / 2))
        if spec.adstock == "weibull":
            p["shape"] = numpyro.sample("shape", dist.LogNormal(jnp.log(1.5), 0.5))
            p["scale"] = numpyro.sample("scale", dist.LogNormal(jnp.log(spec.max_lag / 4), 0.5))
        if spec.saturation in ("hill", "michaelis_menten"):
            p["half"] = numpyro.sample("half", dist.LogNormal(0.0, 0.6))
        if spec.saturation == "hill":
            p["slope"] = numpyro.sample("slope", dist.LogNormal(0.3, 0.4))
        if spec.saturation == "logistic":
            p["lam"] = numpyro.sample("lam", dist.LogNormal(0.0, 0.7))
    return p


@partial(jax.jit, static_argnums=0)
def forward(spec: Spec, p: dict, a: dict) -> tuple[jax.Array, dict]:
    """``beta`` from the iROAS draw, then the components: one compiled call, so the model stays
    cheap to trace eagerly (NumPyro's initialisation) as well as inside NUTS."""
    p = dict(p)
    p["beta"] = jnp.ones(a["x"].shape[1])
    sat = saturated(spec, p, a["x"])
    n = spec.n_train
    p["beta"] = p["iroas"] * a["spend_sum"] / jnp.maximum(sat[:n].sum(axis=0), 1e-9)
    return p["beta"], components(spec, p, a)


def mmm_model(spec: Spec, a: dict[str, jax.Array]) -> None:
    n_ch = a["x"].shape[1]
    n = spec.n_train
    p = _media_priors(spec, n_ch)
    with numpyro.plate("channel_iroas", n_ch):
        p["iroas"] = numpyro.sample("iroas", dist.LogNormal(a["iroas_mu"], a["iroas_sigma"]))
    if spec.nonneg_baseline:
        p["intercept"] = numpyro.sample("intercept", dist.LogNormal(jnp.log(0.6), 0.6))
    else:
        p["intercept"] = numpyro.sample("intercept", dist.Normal(0.6, 0.5))
    if spec.trend:
        p["trend"] = numpyro.sample("trend", dist.Normal(0.0, 0.5))
    for name, key, sd in (("fourier", "fourier", 0.3), ("events", "events", 0.5),
                          ("gamma", "z", 0.3)):  # fmt: skip
        if a[key].shape[1]:
            p[name] = numpyro.sample(
                name, dist.Normal(0.0, sd).expand([a[key].shape[1]]).to_event(1)
            )
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.2))
    beta, comp = forward(spec, p, a)
    numpyro.deterministic("beta", beta)
    numpyro.sample("y", dist.Normal(comp["mu"][:n], sigma), obs=a["y"][:n])
    if a["lift_value"].shape[0]:
        media_c = comp["media"][:, a["lift_channel"]]  # (T, N)
        pred = jnp.sum(a["lift_idx"].T * media_c, axis=0)
        numpyro.sample("lift", dist.Normal(pred, a["lift_se"]), obs=a["lift_value"])
