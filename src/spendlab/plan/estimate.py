"""Pooled per-campaign response curves: empirical-Bayes shrinkage of each campaign's elasticity.

Model (one campaign ``i`` of group ``g``, e.g. a platform; days ``t`` of the window)::

    y_it = beta_i * x_it / (h_i + x_it) + e_it,      e_it ~ N(0, sigma_i^2)      (Michaelis-Menten)
    h_i  = r_i * e_i / (1 - e_i)                     (e_i: elasticity at the reference spend r_i)
    eta_i = logit(e_i) ~ N(mu_g, tau_g^2)            (the pooled parameter)

``x`` is daily spend, ``y`` the daily outcome (revenue or conversions), ``r_i`` the campaign's
mean spend over the window. Given ``eta`` the model is linear in ``beta``, so ``beta`` and
``sigma`` are integrated out in closed form (flat prior on the level at the reference spend,
``beta * (1 - e)``, Jeffreys on ``sigma``)::

    p(y_i | eta) ∝ (S_gg(eta) / (1 - e)^2)^(-1/2) * SS(eta)^(-(T_i - 1) / 2)

with ``S_gg = sum g^2``, ``SS`` the residual sum of squares of the least-squares ``beta`` and
``g = x / (h + x)``. (The flat prior sits on the level, not on ``beta``, so that a campaign whose
spend never varied favours no elasticity.) The posterior of ``eta_i`` is exact on a grid (K
points); the group hyper-parameters ``(mu_g, tau_g)`` are the marginal-likelihood (type II)
estimates found by EM, with ``mu_g`` shrunk toward the all-campaign mean by ``prior_strength``
pseudo-campaigns. A campaign with little spend variation has a flat likelihood: its posterior is
its group's prior; one with rich data follows its own data. ``beta | eta`` is normal with the
least-squares mean and standard error (truncated at 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spendlab.errors import DataError
from spendlab.plan.curves import CurveFamily, ResponseCurves

GRID = np.linspace(-4.0, 4.0, 49)  # logit elasticity: e from 0.018 to 0.982


def _logistic(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


@dataclass
class PooledFit:
    """Posterior of every campaign's curve (see the module docstring).

    Arrays are in ``ids`` order; ``post`` is ``(n, K)`` over :data:`GRID`, ``beta_hat`` and
    ``beta_se`` are ``(n, K)`` (beta given each grid value).
    """

    ids: list[str]
    groups: np.ndarray  # group label per campaign
    ref: np.ndarray  # reference spend r_i (mean spend in the window)
    days: np.ndarray  # days of data per campaign
    post: np.ndarray
    beta_hat: np.ndarray
    beta_se: np.ndarray
    group_mu: dict[str, float]
    group_tau: dict[str, float]
    loglik: np.ndarray  # (n, K) marginal log-likelihood (for tests and diagnostics)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def eta_mean(self) -> np.ndarray:
        return self.post @ GRID

    @property
    def eta_sd(self) -> np.ndarray:
        m = self.eta_mean
        return np.sqrt(np.maximum(self.post @ GRID**2 - m**2, 0.0))

    @property
    def elasticity(self) -> np.ndarray:
        """Posterior mean elasticity at the reference spend."""
        return self.post @ _logistic(GRID)

    def half(self, eta: np.ndarray) -> np.ndarray:
        e = _logistic(eta)
        return np.maximum(self.ref, 1e-9) * e / (1.0 - e)

    def _beta_at(self, eta: np.ndarray) -> np.ndarray:
        """Least-squares beta at a continuous eta (linear interpolation on the grid)."""
        pos = np.clip((eta - GRID[0]) / (GRID[1] - GRID[0]), 0, len(GRID) - 1 - 1e-9)
        k = pos.astype(int)
        w = pos - k
        rows = np.arange(self.n)
        b = (1 - w) * self.beta_hat[rows, k] + w * self.beta_hat[rows, k + 1]
        return np.maximum(b, 0.0)

    def curves(self, eta: np.ndarray | None = None, beta: np.ndarray | None = None):
        """Michaelis-Menten curves at ``eta`` (default: posterior mean) as ResponseCurves."""
        eta = self.eta_mean if eta is None else eta
        beta = self._beta_at(eta) if beta is None else beta
        fam = CurveFamily(
            "michaelis_menten", {"beta": np.maximum(beta, 0.0), "half": self.half(eta)}
        )
        return ResponseCurves(list(self.ids), [(np.arange(self.n), fam)])

    def sample(self, rng: np.random.Generator, draws: int) -> tuple[np.ndarray, np.ndarray]:
        """``draws`` joint posterior draws ``(eta, beta)``, each ``(draws, n)``."""
        u = rng.random((draws, self.n))
        cdf = np.cumsum(self.post, axis=1)
        k = np.stack([(ud[:, None] > cdf).sum(axis=1) for ud in u])
        k = np.minimum(k, len(GRID) - 1)
        step = GRID[1] - GRID[0]
        eta = GRID[k] + (rng.random((draws, self.n)) - 0.5) * step
        rows = np.arange(self.n)[None, :]
        beta = (
            self._beta_at_draws(eta)
            + rng.standard_normal((draws, self.n)) * (self.beta_se[rows, k])
        )
        return eta, np.maximum(beta, 0.0)

    def _beta_at_draws(self, eta: np.ndarray) -> np.ndarray:
        return np.stack([self._beta_at(e) for e in eta])

    def summary(self) -> pd.DataFrame:
        """One row per campaign: id, group, days, ref_spend, elasticity (mean, sd, 90% interval
        of the elasticity at the reference spend), group prior mean elasticity."""
        cdf = np.cumsum(self.post, axis=1)
        e = _logistic(GRID)
        lo = e[np.minimum((cdf < 0.05).sum(axis=1), len(GRID) - 1)]
        hi = e[np.minimum((cdf < 0.95).sum(axis=1), len(GRID) - 1)]
        mean = self.elasticity
        sd = np.sqrt(np.maximum(self.post @ e**2 - mean**2, 0.0))
        return pd.DataFrame(
            {
                "id": self.ids,
                "group": self.groups,
                "days": self.days,
                "ref_spend": self.ref,
                "elasticity": mean,
                "elasticity_sd": sd,
                "elasticity_lo": lo,
                "elasticity_hi": hi,
                "group_elasticity": [float(_logistic(self.group_mu[g])) for g in self.groups],
            }
        )


def fit_pooled(
    frame: pd.DataFrame,
    *,
    id_col: str = "id",
    group_col: str = "group",
    spend_col: str = "spend",
    outcome_col: str = "outcome",
    prior_strength: float = 2.0,
    iterations: int = 40,
) -> PooledFit:
    """Fit the pooled model to a long frame (one row per campaign and day).

    Campaign order follows first appearance in ``frame``. Rows with negative or non-finite
    spend/outcome are an error (clean the data first); zero-spend days are kept (they anchor the
    curve at the origin).
    """
    need = [id_col, group_col, spend_col, outcome_col]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataError(f"campaign-day frame needs columns {need}; missing {missing}")
    if frame.empty:
        raise DataError("no campaign-day rows to estimate response curves from")
    x = frame[spend_col].to_numpy(dtype=float)
    y = frame[outcome_col].to_numpy(dtype=float)
    bad = ~np.isfinite(x) | ~np.isfinite(y) | (x < 0) | (y < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"campaign-day row {i + 1} (campaign {frame[id_col].iloc[i]!r}): spend and outcome "
            f"must be finite and >= 0, got {x[i]!r} and {y[i]!r}; fix or drop those rows"
        )
    codes, uniq = pd.factorize(frame[id_col].astype(str), sort=False)
    n = len(uniq)
    grp = frame.groupby(codes, sort=True)[group_col].first().astype(str).to_numpy()
    days = np.bincount(codes, minlength=n).astype(float)
    ref = np.bincount(codes, weights=x, minlength=n) / days
    syy = np.bincount(codes, weights=y * y, minlength=n)
    e = _logistic(GRID)
    h = np.maximum(ref, 1e-9)[:, None] * (e / (1 - e))[None, :]  # (n, K)
    sgg, syg = np.zeros((n, len(GRID))), np.zeros((n, len(GRID)))
    for k in range(len(GRID)):  # one grid point at a time: memory O(rows)
        gk = x / (h[codes, k] + x)
        sgg[:, k] = np.bincount(codes, weights=gk * gk, minlength=n)
        syg[:, k] = np.bincount(codes, weights=gk * y, minlength=n)
    sgg_safe = np.maximum(sgg, 1e-300)
    beta_hat = np.where(sgg > 0, syg / sgg_safe, 0.0)
    ss = np.maximum(syy[:, None] - beta_hat * syg, 1e-9 * (syy[:, None] + 1e-300))
    dof = np.maximum(days - 1, 1.0)[:, None]
    se = np.sqrt(ss / np.maximum(days - 2, 1.0)[:, None] / sgg_safe)
    # flat prior on the level at the reference spend, beta * (1 - e): its Jacobian keeps a
    # campaign without spend variation from favouring any elasticity
    loglik = -0.5 * np.log(sgg_safe / (1.0 - e[None, :]) ** 2) - 0.5 * dof * np.log(ss)
    # campaigns without spend variation or without outcome carry no curvature information
    flat = (sgg <= 0).any(axis=1) | (syy <= 0)
    loglik[flat] = 0.0
    loglik -= loglik.max(axis=1, keepdims=True)
    lik = np.exp(loglik)
    post, mu, tau = _em(lik, grp, prior_strength, iterations)
    return PooledFit(
        ids=[str(u) for u in uniq],
        groups=grp,
        ref=ref,
        days=days.astype(int),
        post=post,
        beta_hat=np.maximum(beta_hat, 0.0),
        beta_se=se,
        group_mu=mu,
        group_tau=tau,
        loglik=loglik,
    )


def _em(
    lik: np.ndarray, grp: np.ndarray, prior_strength: float, iterations: int
) -> tuple[np.ndarray, dict[str, float], dict[str, float]]:
    """Type-II maximum likelihood of each group's normal prior on the grid (EM)."""
    labels, gi = np.unique(grp, return_inverse=True)
    n_g = np.bincount(gi, minlength=len(labels)).astype(float)
    mu = np.zeros(len(labels))
    tau = np.full(len(labels), 1.5)
    tau_min = GRID[1] - GRID[0]
    post = lik / lik.sum(axis=1, keepdims=True)
    for _ in range(iterations):
        prior = np.exp(-0.5 * ((GRID[None, :] - mu[:, None]) / tau[:, None]) ** 2)
        prior /= prior.sum(axis=1, keepdims=True)
        post = prior[gi] * lik
        post /= post.sum(axis=1, keepdims=True)
        m = post @ GRID
        v = np.maximum(post @ GRID**2 - m**2, 0.0)
        overall = float(m.mean())
        new_mu = (np.bincount(gi, weights=m, minlength=len(labels)) + prior_strength * overall) / (
            n_g + prior_strength
        )
        dev = v + (m - new_mu[gi]) ** 2
        new_tau = np.sqrt(
            (np.bincount(gi, weights=dev, minlength=len(labels)) + prior_strength * 1.0)
            / (n_g + prior_strength)
        )
        new_tau = np.clip(new_tau, tau_min, 3.0)
        done = np.allclose(new_mu, mu, atol=1e-6) and np.allclose(new_tau, tau, atol=1e-6)
        mu, tau = new_mu, new_tau
        if done:
            break
    prior = np.exp(-0.5 * ((GRID[None, :] - mu[:, None]) / tau[:, None]) ** 2)
    prior /= prior.sum(axis=1, keepdims=True)
    post = prior[gi] * lik
    post /= post.sum(axis=1, keepdims=True)
    return (
        post,
        {str(k): float(v) for k, v in zip(labels, mu, strict=True)},
        {str(k): float(v) for k, v in zip(labels, tau, strict=True)},
    )
