"""The model as a hand-written log density. All quantities are on the internal scale (target /
its mean; spend / its mean over non-zero periods; controls standardised).

    y_t = baseline_t + sum_k gamma_k z_kt + sum_c beta_c sat_c(adstock_c(x_c))_t + eps_t

    baseline_t = floor(b0 + delta * t + sum_j f_j F_jt + sum_e eta_e E_et)  (default, additive)
               = b0 * exp(delta * t + sum_j f_j F_jt + sum_e eta_e E_et)  ("multiplicative")
    floor(v)   = 0.01 softplus(v / 0.01)  (nonneg_baseline=True, default; else floor(v) = v)

Media effects are positive: each channel's ``beta_c`` is derived from its iROAS over the fitting
period, which carries the prior (``iroas_c ~ LogNormal``), so the prior a marketer sets is the prior
the model uses: ``beta_c = iroas_c * sum_t spend_ct / (y_scale * sum_t sat_ct)``.

Priors (on the constrained parameters; the density is written on the unconstrained vector ``u``
with the log-Jacobian of each transform added, which is what NUTS and the Laplace step need):

    alpha_c ~ Beta(1.5, 3) [logit]        theta_c ~ Uniform(0, L/2) [scaled logit]
    shape_c ~ LogNormal(log 1.5, 0.5)     scale_c ~ LogNormal(log L/4, 0.5)          [log]
    half_c ~ LogNormal(0, 0.6)            slope_c ~ LogNormal(0.3, 0.4)   lam_c ~ LogNormal(0, 0.7)
    iroas_c ~ LogNormal(mu_c, s_c)
    intercept ~ Normal(0.6, 0.5) (multiplicative: LogNormal(log 0.6, 0.6) [log])
    trend ~ N(0, 0.5)   fourier ~ N(0, 0.3)   events ~ N(0, 0.5)   gamma ~ N(0, 0.3)
    sigma ~ HalfNormal(0.2) [log]
    lift_i ~ N(sum over the window of channel c's media contribution, se_i)  (calibration)

Writing the density by hand (instead of tracing a NumPyro model) keeps the compiled graph small:
the data enter as arguments, so one compilation serves every data set of the same shape.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

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
    n_channels: int = 1
    n_fourier: int = 0
    n_events: int = 0
    n_controls: int = 0
    multiplicative: bool = False


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
                prep.n_train, prep.x.shape[1], prep.fourier.shape[1], prep.events.shape[1],
                prep.controls.shape[1], cfg.baseline == "multiplicative")  # fmt: skip


def media_params(p: dict[str, jax.Array]) -> tuple[dict, dict]:
    ad = {k: p[k] for k in ("alpha", "theta", "shape", "scale") if k in p}
    sat = {k: p[k] for k in ("half", "slope", "lam") if k in p}
    return ad, sat


def saturated(spec: Spec, p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """``sat_c(adstock_c(x_c))`` for all channels, ``(T, C)``."""
    ad, sat = media_params(p)
    w = tf.adstock_weights(spec.adstock, ad, spec.max_lag)
    return tf.saturate(spec.saturation, tf.apply_adstock(x, w), sat)


def components(
    spec: Spec, p: dict[str, jax.Array], a: dict[str, jax.Array], s: jax.Array | None = None
) -> dict:
    """Baseline, controls and media contributions (internal scale) for one parameter draw
    (``s``: the saturated media, when already computed)."""
    s = saturated(spec, p, a["x"]) if s is None else s
    media = s * p["beta"]
    lin = jnp.zeros_like(a["t"])
    if spec.trend:
        lin = lin + p["trend"] * a["t"]
    if a["fourier"].shape[1]:
        lin = lin + a["fourier"] @ p["fourier"]
    if a["events"].shape[1]:
        lin = lin + a["events"] @ p["events"]
    baseline = baseline_of(spec, p["intercept"], lin)
    controls = a["z"] @ p["gamma"] if a["z"].shape[1] else jnp.zeros_like(baseline)
    return {"baseline": baseline, "controls": controls, "media": media,
            "mu": baseline + controls + media.sum(axis=1)}  # fmt: skip


FLOOR = 0.01  # smooth floor of the additive baseline, internal scale (target / its mean)


def baseline_of(spec: Any, b0: jax.Array, lin: jax.Array) -> jax.Array:
    """The baseline from its level ``b0`` and linear part ``lin`` (trend, seasonality, events):
    ``b0 * exp(lin)`` (multiplicative) or ``b0 + lin`` (additive), the latter kept non-negative
    by a smooth floor ``FLOOR * softplus((b0 + lin) / FLOOR)`` when ``nonneg_baseline`` (equal to
    ``b0 + lin`` within 1e-4 of the target's mean wherever that is above 0.1)."""
    if spec.multiplicative:
        return b0 * jnp.exp(lin) if spec.nonneg_baseline else b0 + lin
    add = b0 + lin
    return FLOOR * jax.nn.softplus(add / FLOOR) if spec.nonneg_baseline else add


def log_intercept(spec: Any) -> bool:
    """Whether the intercept lives on the log scale (positive; the multiplicative baseline)."""
    return bool(spec.multiplicative and spec.nonneg_baseline)


# ------------------------------------------------------------------------------ parameter vector
_LOGNORMAL = {"shape": (float(np.log(1.5)), 0.5), "half": (0.0, 0.6), "slope": (0.3, 0.4),
              "lam": (0.0, 0.7)}  # fmt: skip
_NORMAL_SD = {"trend": 0.5, "fourier": 0.3, "events": 0.5, "gamma": 0.3}


def media_blocks(spec: Any) -> list[tuple[str, int]]:
    """``(name, size)`` of the adstock and saturation parameter blocks (one per channel; shared
    by the national and the geo model)."""
    c = spec.n_channels
    names: list[tuple[str, int]] = []
    if spec.adstock in ("geometric", "delayed"):
        names.append(("alpha", c))
    if spec.adstock == "delayed":
        names.append(("theta", c))
    if spec.adstock == "weibull":
        names += [("shape", c), ("scale", c)]
    if spec.saturation in ("hill", "michaelis_menten"):
        names.append(("half", c))
    if spec.saturation == "hill":
        names.append(("slope", c))
    if spec.saturation == "logistic":
        names.append(("lam", c))
    return names


def with_offsets(names: list[tuple[str, int]]) -> tuple[tuple[str, int, int], ...]:
    """``(name, offset, size)`` of consecutive blocks ``(name, size)``."""
    out, off = [], 0
    for name, size in names:
        out.append((name, off, size))
        off += size
    return tuple(out)


def layout(spec: Spec) -> tuple[tuple[str, int, int], ...]:
    """``(name, offset, size)`` of every parameter block in the unconstrained vector ``u``."""
    c = spec.n_channels
    names = media_blocks(spec)
    names += [("iroas", c), ("intercept", 1)]
    if spec.trend:
        names.append(("trend", 1))
    names += [(k, n) for k, n in (("fourier", spec.n_fourier), ("events", spec.n_events),
                                  ("gamma", spec.n_controls)) if n]  # fmt: skip
    names.append(("sigma", 1))
    return with_offsets(names)


def n_unconstrained(spec: Spec) -> int:
    name, off, size = layout(spec)[-1]
    return off + size


_SCALAR = ("intercept", "trend", "sigma")


def transform_block(
    spec: Any, name: str, v: jax.Array, identity: tuple[str, ...]
) -> tuple[jax.Array, jax.Array]:
    """One block of ``u`` to its constrained value, with its log-Jacobian: logit for adstock
    decays, scaled logit (0, max_lag / 2) for the delay, identity for ``identity`` blocks and the
    intercept of an additive baseline, log for the rest."""
    if name in ("alpha", "theta"):
        x = jax.nn.sigmoid(v)
        logjac = -jnp.sum(jax.nn.softplus(v) + jax.nn.softplus(-v))
        if name == "theta":
            x = x * (spec.max_lag / 2)
            logjac = logjac + v.size * np.log(spec.max_lag / 2)
        return x, logjac
    if name in identity or (name == "intercept" and not log_intercept(spec)):
        return v, jnp.zeros(())
    return jnp.exp(v), jnp.sum(v)


_IDENTITY = ("fourier", "events", "gamma", "trend")


def constrain(spec: Spec, u: jax.Array) -> tuple[dict[str, jax.Array], jax.Array]:
    """Constrained parameters from ``u`` and the log-Jacobian of the transform."""
    p, logjac = {}, jnp.zeros(())
    for name, off, size in layout(spec):
        x, lj = transform_block(spec, name, u[off : off + size], _IDENTITY)
        logjac = logjac + lj
        p[name] = x[0] if name in _SCALAR else x
    return p, logjac


def _normal(x: jax.Array, m, s) -> jax.Array:
    z = (x - m) / s
    return jnp.sum(-0.5 * z * z - jnp.log(s))


def log_prior(spec: Spec, p: dict[str, jax.Array], a: dict[str, jax.Array]) -> jax.Array:
    """Log prior density of the constrained parameters (up to a constant)."""
    lp = jnp.zeros(())
    for name, x in p.items():
        if name == "alpha":
            lp = lp + jnp.sum(0.5 * jnp.log(x) + 2.0 * jnp.log1p(-x))
        elif (
            name in _LOGNORMAL
            or name in ("scale", "iroas")
            or (name == "intercept" and log_intercept(spec))
        ):
            if name == "scale":
                m, s = float(np.log(spec.max_lag / 4)), 0.5
            elif name == "iroas":
                m, s = a["iroas_mu"], a["iroas_sigma"]
            elif name == "intercept":
                m, s = float(np.log(0.6)), 0.6
            else:
                m, s = _LOGNORMAL[name]
            lx = jnp.log(x)
            lp = lp + _normal(lx, m, s) - jnp.sum(lx)
        elif name == "intercept":
            lp = lp + _normal(x, 0.6, 0.5)
        elif name in _NORMAL_SD:
            lp = lp + _normal(x, 0.0, _NORMAL_SD[name])
        elif name == "sigma":
            lp = lp - 0.5 * (x / 0.2) ** 2
        # theta: uniform, constant density
    return lp


def with_beta(spec: Spec, p: dict, a: dict) -> tuple[dict, jax.Array]:
    """Add ``beta`` (from the iROAS) to ``p``; also return the saturated media ``(T, C)``."""
    sat = saturated(spec, p, a["x"])
    n = spec.n_train
    beta = p["iroas"] * a["spend_sum"] / jnp.maximum(sat[:n].sum(axis=0), 1e-9)
    return {**p, "beta": beta}, sat


def log_density(spec: Spec, u: jax.Array, a: dict[str, jax.Array]) -> jax.Array:
    """Log posterior density of the unconstrained vector ``u`` (up to a constant)."""
    p, logjac = constrain(spec, u)
    p, sat = with_beta(spec, p, a)
    comp = components(spec, p, a, sat)
    n = spec.n_train
    r = (a["y"][:n] - comp["mu"][:n]) / p["sigma"]
    ll = -0.5 * jnp.sum(r * r) - n * jnp.log(p["sigma"])
    if a["lift_value"].shape[0]:
        media_c = comp["media"][:, a["lift_channel"]]  # (T, N)
        pred = jnp.sum(a["lift_idx"].T * media_c, axis=0)
        ll = ll + _normal(a["lift_value"], pred, a["lift_se"])
    lp = ll + log_prior(spec, p, a) + logjac
    return jnp.where(jnp.isfinite(lp), lp, -jnp.inf)


def initial_point(spec: Spec, a: dict[str, jax.Array]) -> jax.Array:
    """The prior medians in the unconstrained space (a sensible start for MAP and NUTS)."""
    return prior_start(spec, layout(spec), n_unconstrained(spec), {"iroas": a["iroas_mu"]})


def prior_start(spec: Any, blocks: Any, size: int, own: dict[str, Any]) -> jax.Array:
    """The unconstrained start vector of ``size`` laid out as ``blocks`` (``(name, offset,
    size)``): the shared parameters' prior medians, and ``own`` for a model's own blocks (the
    national iROAS, the geo model's pooled ones)."""
    u = np.zeros(size, dtype=np.float32)
    for name, off, n in blocks:
        if name in own:
            v = np.asarray(own[name])
        elif name == "alpha":
            v = np.log(0.3 / 0.7)
        elif name == "scale":
            v = np.log(spec.max_lag / 4)
        elif name in _LOGNORMAL:
            v = _LOGNORMAL[name][0]
        elif name == "intercept":
            v = np.log(0.6) if log_intercept(spec) else 0.6
        elif name == "sigma":
            v = np.log(0.1)
        else:
            v = 0.0
        u[off : off + n] = v
    return jnp.asarray(u)


@partial(jax.jit, static_argnums=0)
def _params_of(spec: Spec, flat: jax.Array, a: dict) -> dict[str, jax.Array]:
    return jax.vmap(lambda v: with_beta(spec, constrain(spec, v)[0], a)[0])(flat)


def draws_from_unconstrained(
    spec: Any, u: jax.Array, a: dict, params_of: Any = None
) -> dict[str, np.ndarray]:
    """Constrained parameters (with ``beta``) for draws ``u`` shaped ``(..., D)``;
    ``params_of`` maps a flat batch of them (default: this model's)."""
    u = jnp.asarray(u, dtype=jnp.float32)
    out = (params_of or _params_of)(spec, u.reshape((-1, u.shape[-1])), a)
    return {k: np.asarray(v).reshape(u.shape[:-1] + v.shape[1:]) for k, v in out.items()}
