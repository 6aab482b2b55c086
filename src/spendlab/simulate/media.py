"""Media transforms with known parameters: adstock (carry-over), saturation (diminishing returns).

A campaign's true daily contribution is ``beta * saturation(adstock(spend))``. Both adstocks are
*normalised* (their weights sum to 1), so in steady state (constant daily spend ``s``) the
adstocked spend is ``s`` and the daily contribution is ``beta * saturation(s)``: the steady-state
response curve the optimal allocation uses.

- geometric: ``a_t = (1 - alpha) * sum_{k>=0} alpha^k x_{t-k}`` (infinite, computed exactly by a
  log2(T)-step doubling scan of the recursion ``y_t = x_t + alpha y_{t-1}``).
- delayed (PyMC-Marketing's ``delayed_adstock``): weights ``w_k = alpha^((k - theta)^2)`` for
  ``k = 0..max_lag-1``, normalised to sum 1; the peak is ``theta`` days after the spend.
- Hill: ``x^S / (x^S + K^S)`` (half saturation ``K``; S-shaped when ``S > 1``).
- logistic (PyMC-Marketing's ``logistic_saturation``): ``(1 - e^{-lam x}) / (1 + e^{-lam x})``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GEOMETRIC, DELAYED = 0, 1
HILL, LOGISTIC = 0, 1
ADSTOCK_NAMES = ("geometric", "delayed")
SATURATION_NAMES = ("hill", "logistic")


def geometric_adstock(x: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """Normalised geometric adstock along the last axis; ``alpha`` broadcasts over the rows."""
    y = np.array(x, dtype=float, copy=True)
    a = np.asarray(alpha, dtype=float)
    if y.ndim > 1 and a.ndim == 1:
        a = a[:, None]
    power = np.array(a, copy=True)
    shift = 1
    n = y.shape[-1]
    while shift < n:
        y[..., shift:] += power * y[..., :-shift]
        power = power * power
        shift *= 2
    return (1.0 - a) * y


def delayed_weights(alpha: np.ndarray, theta: np.ndarray, max_lag: int) -> np.ndarray:
    """Normalised delayed-adstock kernels, shape ``(campaigns, max_lag)``."""
    k = np.arange(max_lag, dtype=float)
    a = np.atleast_1d(np.asarray(alpha, dtype=float))[:, None]
    th = np.atleast_1d(np.asarray(theta, dtype=float))[:, None]
    w = a ** ((k[None, :] - th) ** 2)
    return w / w.sum(axis=1, keepdims=True)


def convolve_kernels(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``y[c, t] = sum_k weights[c, k] * x[c, t - k]`` (one loop over the few lags)."""
    x2 = np.atleast_2d(np.asarray(x, dtype=float))
    y = np.zeros_like(x2)
    n = x2.shape[1]
    for k in range(min(weights.shape[1], n)):
        y[:, k:] += weights[:, k : k + 1] * x2[:, : n - k]
    return y.reshape(np.shape(x))


def delayed_adstock(x: np.ndarray, alpha, theta, max_lag: int) -> np.ndarray:
    """Normalised delayed adstock along the last axis."""
    return convolve_kernels(x, delayed_weights(alpha, theta, max_lag))


def hill(x: np.ndarray, K, S) -> np.ndarray:
    """Hill saturation ``x^S / (x^S + K^S)``, 0 at 0."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", over="ignore"):
        r = np.where(x > 0, (np.maximum(x, 1e-300) / K) ** S, 0.0)
        return r / (1.0 + r)


def hill_derivative(x: np.ndarray, K, S) -> np.ndarray:
    """d/dx of :func:`hill`: ``S/x * h * (1 - h)`` (limit at 0: 1/K when S = 1, 0 when S > 1)."""
    x = np.asarray(x, dtype=float)
    h = hill(x, K, S)
    xs = np.maximum(x, 1e-300)
    d = S / xs * h * (1.0 - h)
    at0 = np.where(
        np.asarray(S) > 1, 0.0, np.where(np.asarray(S) == 1, 1.0 / np.asarray(K), np.inf)
    )
    return np.where(x > 0, d, at0)


def logistic(x: np.ndarray, lam) -> np.ndarray:
    """Logistic saturation ``(1 - e^{-lam x}) / (1 + e^{-lam x}) = tanh(lam x / 2)``."""
    return np.tanh(np.asarray(lam) * np.asarray(x, dtype=float) / 2.0)


def logistic_derivative(x: np.ndarray, lam) -> np.ndarray:
    t = logistic(x, lam)
    return np.asarray(lam) / 2.0 * (1.0 - t * t)


@dataclass
class MediaParams:
    """Per-campaign transform parameters (arrays of length ``campaigns``)."""

    adstock: np.ndarray  # GEOMETRIC or DELAYED
    alpha: np.ndarray
    theta: np.ndarray  # peak delay (delayed adstock; 0 for geometric)
    saturation: np.ndarray  # HILL or LOGISTIC
    K: np.ndarray  # Hill half saturation (nan for logistic)
    S: np.ndarray  # Hill shape (nan for logistic)
    lam: np.ndarray  # logistic lambda (nan for Hill)
    beta: np.ndarray  # maximum daily contribution (currency)
    max_lag: int

    def subset(self, mask: np.ndarray) -> MediaParams:
        """The parameters of the campaigns selected by ``mask`` (bool or index array)."""
        return MediaParams(
            self.adstock[mask], self.alpha[mask], self.theta[mask], self.saturation[mask],
            self.K[mask], self.S[mask], self.lam[mask], self.beta[mask], self.max_lag,
        )  # fmt: skip

    def adstocked(self, spend: np.ndarray) -> np.ndarray:
        """Adstock of ``spend`` (campaigns x days), each row with its own kernel."""
        out = np.empty_like(spend, dtype=float)
        geo = self.adstock == GEOMETRIC
        if geo.any():
            out[geo] = geometric_adstock(spend[geo], self.alpha[geo])
        if (~geo).any():
            out[~geo] = delayed_adstock(
                spend[~geo], self.alpha[~geo], self.theta[~geo], self.max_lag
            )
        return out

    def saturated(self, x: np.ndarray) -> np.ndarray:
        """Saturation of ``x`` (campaigns x days, or campaigns) with each campaign's curve."""
        col = (slice(None),) + (None,) * (np.ndim(x) - 1)
        h = self.saturation[col] == HILL
        K = np.where(np.isnan(self.K), 1.0, self.K)[col]
        S = np.where(np.isnan(self.S), 1.0, self.S)[col]
        lam = np.where(np.isnan(self.lam), 1.0, self.lam)[col]
        return np.where(h, hill(x, K, S), logistic(x, lam))

    def contribution(self, spend: np.ndarray) -> np.ndarray:
        """True daily contribution ``beta * saturation(adstock(spend))``."""
        return self.beta[:, None] * self.saturated(self.adstocked(spend))

    # -- steady-state response curves (used by the optimal allocation) -------------------------
    def response(self, s: np.ndarray) -> np.ndarray:
        """Steady-state daily contribution at constant daily spend ``s`` (one per campaign)."""
        return self.beta * self.saturated(np.asarray(s, dtype=float))

    def marginal(self, s: np.ndarray) -> np.ndarray:
        """Derivative of :meth:`response` (marginal iROAS at spend ``s``)."""
        s = np.asarray(s, dtype=float)
        K = np.where(np.isnan(self.K), 1.0, self.K)
        S = np.where(np.isnan(self.S), 1.0, self.S)
        lam = np.where(np.isnan(self.lam), 1.0, self.lam)
        d = np.where(self.saturation == HILL, hill_derivative(s, K, S), logistic_derivative(s, lam))
        with np.errstate(invalid="ignore"):
            return np.where(self.beta > 0, self.beta * d, 0.0)

    def inverse_marginal(self, mu: float) -> np.ndarray:
        """Per campaign, the spend on the decreasing-marginal part of its curve where the
        marginal return equals ``mu`` (``inf`` when ``mu <= 0``; 0 when even the best point of
        that part returns less, or ``beta = 0``).

        Logistic: closed form. Hill: with ``u = S log(s/K)`` the log marginal is
        ``log(beta S/K) + (1 - 1/S) u - 2 log(1 + e^u)``, concave in ``u``; Newton's method
        started right of the root decreases monotonically onto it.
        """
        n = self.beta.size
        if mu <= 0:
            return np.where(self.beta > 0, np.inf, 0.0)
        out = np.zeros(n)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lg = (self.saturation == LOGISTIC) & (self.beta > 0)
            if lg.any():
                lam, b = self.lam[lg], self.beta[lg]
                q = 1.0 - 2.0 * mu / (b * lam)
                out[lg] = np.where(q > 0, 2.0 / lam * np.arctanh(np.sqrt(np.clip(q, 0, 1))), 0.0)
            hl = (self.saturation == HILL) & (self.beta > 0)
            if hl.any():
                K, S, b = self.K[hl], self.S[hl], self.beta[hl]
                c = np.log(mu * K / (b * S))
                a = 1.0 - 1.0 / S
                peak_u = np.where(S > 1, np.log(np.maximum(S - 1, 1e-300) / (S + 1)), -np.inf)
                peak = np.where(S > 1, a * peak_u - 2 * np.logaddexp(0.0, peak_u),
                                np.where(S == 1, 0.0, np.inf))  # fmt: skip
                ok = c < peak
                u = np.maximum(np.maximum(np.where(np.isfinite(peak_u), peak_u, 0.0), 0.0),
                               -c / (1.0 + 1.0 / S)) + 1.0  # fmt: skip
                for _ in range(60):
                    phi = a * u - 2.0 * np.logaddexp(0.0, u) - c
                    step = phi / (a - 2.0 / (1.0 + np.exp(-u)))
                    u = np.where(ok, u - step, u)
                    if np.all(np.abs(step[ok]) <= 1e-12 * np.maximum(1.0, np.abs(u[ok]))):
                        break
                out[hl] = np.where(ok, K * np.exp(u / S), 0.0)
        return out

    def tangent_spend(self) -> np.ndarray:
        """Where the line from the origin touches the curve: ``K (S-1)^(1/S)`` for S-shaped Hill
        curves, 0 for concave ones (their concave envelope is the curve itself)."""
        S = np.where(np.isnan(self.S), 1.0, self.S)
        s_shaped = (self.saturation == HILL) & (S > 1)
        K = np.where(np.isnan(self.K), 0.0, self.K)
        return np.where(s_shaped, K * np.maximum(S - 1, 0.0) ** (1 / S), 0.0)

    def inflection_spend(self) -> np.ndarray:
        """Where an S-shaped Hill curve turns concave, ``K ((S-1)/(S+1))^(1/S)``; 0 otherwise."""
        S = np.where(np.isnan(self.S), 1.0, self.S)
        s_shaped = (self.saturation == HILL) & (S > 1)
        K = np.where(np.isnan(self.K), 0.0, self.K)
        return np.where(s_shaped, K * (np.maximum(S - 1, 0.0) / (S + 1)) ** (1 / S), 0.0)

    def describe(self, i: int) -> tuple[dict, dict]:
        """(adstock, saturation) parameter dicts of campaign ``i`` for truth.json."""
        if self.adstock[i] == GEOMETRIC:
            ad = {"type": "geometric", "alpha": float(self.alpha[i]), "normalized": True}
        else:
            ad = {
                "type": "delayed",
                "alpha": float(self.alpha[i]),
                "theta": float(self.theta[i]),
                "max_lag": self.max_lag,
                "normalized": True,
            }
        if self.saturation[i] == HILL:
            sat = {"type": "hill", "K": float(self.K[i]), "S": float(self.S[i])}
        else:
            sat = {"type": "logistic", "lam": float(self.lam[i])}
        return ad, sat


def draw_params(
    rng: np.random.Generator,
    base_spend: np.ndarray,
    roas: np.ndarray,
    carry_lo: np.ndarray,
    carry_hi: np.ndarray,
    incremental: np.ndarray,
    geometric_share: float,
    hill_share: float,
    max_lag: int,
) -> MediaParams:
    """Draw every campaign's transforms; ``beta`` is set so the steady-state iROAS at the base
    spend is ``roas`` (0 for non-incremental campaigns)."""
    n = base_spend.size
    adstock = np.where(rng.random(n) < geometric_share, GEOMETRIC, DELAYED)
    alpha = carry_lo + (carry_hi - carry_lo) * rng.random(n)
    theta = np.where(adstock == DELAYED, rng.uniform(1.0, 5.0, n), 0.0)
    alpha = np.where(adstock == DELAYED, np.clip(alpha + 0.3, 0.3, 0.9), alpha)
    saturation = np.where(rng.random(n) < hill_share, HILL, LOGISTIC)
    K = np.where(saturation == HILL, base_spend * rng.uniform(0.6, 2.2, n), np.nan)
    S = np.where(saturation == HILL, rng.uniform(0.8, 2.6, n), np.nan)
    lam = np.where(saturation == LOGISTIC, rng.uniform(0.6, 3.0, n) / base_spend, np.nan)
    p = MediaParams(adstock, alpha, theta, saturation, K, S, lam, np.ones(n), max_lag)
    sat_at_base = p.saturated(base_spend)
    p.beta = np.where(incremental, roas * base_spend / sat_at_base, 0.0)
    return p
