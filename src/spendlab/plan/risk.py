"""Uncertainty-aware objectives: a per-entity statistic of the response across posterior draws.

``mode``:

- ``"mean"``: posterior-mean response ``E_d f_d(x)`` (concave when every draw is concave, so the
  optimizer stays exact);
- ``"quantile"``: the ``q`` lower quantile of each entity's response across draws (pessimistic);
- ``"mean_sd"``: ``E_d f_d(x) - k * sd_d f_d(x)`` (risk-adjusted).

The risk modes apply the statistic per entity (a conservative, separable stand-in for the risk of
the portfolio total). Inverse marginals are found by vectorised bisection; the optimizer treats
these objectives like any other curve (its gap certificate assumes the statistic is concave past
the tangent point, which holds for ``mean`` and is checked numerically for the others only through
the reported gap).
"""

from __future__ import annotations

import numpy as np

from spendlab.errors import ConfigError
from spendlab.plan.curves import ResponseCurves

MODES = ("mean", "quantile", "mean_sd")


class DrawObjective:
    """A draw-free curve interface (response, marginal, inverse_marginal, tangent_point) over
    curves with posterior draws."""

    def __init__(
        self, curves: ResponseCurves, mode: str = "mean", *, k: float = 1.0, q: float = 0.1
    ):
        if curves.draws is None:
            raise ConfigError("risk modes need curves with posterior draws")
        if mode not in MODES:
            raise ConfigError(f"unknown risk mode {mode!r}; use one of {', '.join(MODES)}")
        if not 0 < q < 1:
            raise ConfigError(f"quantile must be in (0, 1), got {q}")
        self.curves, self.mode, self.k, self.q = curves, mode, float(k), float(q)
        self.ids, self.n, self.draws = curves.ids, curves.n, None
        self._tau: np.ndarray | None = None

    def response(self, x: np.ndarray) -> np.ndarray:
        r = self.curves.response(np.broadcast_to(x, (self.n,)))
        if self.mode == "mean":
            return r.mean(axis=0)
        if self.mode == "mean_sd":
            return r.mean(axis=0) - self.k * r.std(axis=0)
        return np.take_along_axis(r, self._qidx(r), axis=0)[0]

    def marginal(self, x: np.ndarray) -> np.ndarray:
        x = np.broadcast_to(np.asarray(x, dtype=float), (self.n,))
        m = self.curves.marginal(x)
        if self.mode == "mean":
            return m.mean(axis=0)
        r = self.curves.response(x)
        if self.mode == "mean_sd":
            sd = r.std(axis=0)
            cov = ((r - r.mean(axis=0)) * (m - m.mean(axis=0))).mean(axis=0)
            return m.mean(axis=0) - self.k * np.where(sd > 0, cov / np.maximum(sd, 1e-300), 0.0)
        return np.take_along_axis(m, self._qidx(r), axis=0)[0]

    def _qidx(self, r: np.ndarray) -> np.ndarray:
        j = int(round(self.q * (r.shape[0] - 1)))
        return np.argsort(r, axis=0)[j : j + 1]

    def inflection(self) -> np.ndarray:
        """Where the statistic's curve turns concave: the largest inflection across draws (every
        draw is concave past it, so their mean is too; exact when the draws share one shape).
        Without it the solver would treat spend below the tangent point as the chord from 0,
        which is wrong once a lower bound (a trust region) keeps the entity above 0."""
        infl = np.zeros(self.n)
        for idx, fam in self.curves.blocks:
            infl[idx] = fam.inflection().max(axis=0)
        return np.minimum(infl, self.tangent_point())

    def tangent_point(self) -> np.ndarray:
        """Where the line from the origin touches the statistic's curve (0 when concave)."""
        if self._tau is not None:
            return self._tau
        tau = np.zeros(self.n)
        infl = np.zeros(self.n)
        for idx, fam in self.curves.blocks:
            infl[idx] = fam.inflection().max(axis=0)
        s_shaped = infl > 0
        if s_shaped.any():
            lo = np.where(s_shaped, infl, 0.0)
            hi = np.where(s_shaped, 2 * infl + 1.0, 0.0)
            for _ in range(200):
                psi = self.response(hi) - hi * self.marginal(hi)
                grow = s_shaped & (psi <= 0)
                if not grow.any():
                    break
                hi = np.where(grow, hi * 2, hi)
            for _ in range(80):
                mid = 0.5 * (lo + hi)
                psi = self.response(mid) - mid * self.marginal(mid)
                lo, hi = np.where(psi <= 0, mid, lo), np.where(psi <= 0, hi, mid)
            tau = np.where(s_shaped, hi, 0.0)
        self._tau = tau
        return tau

    def inverse_marginal(self, m: np.ndarray) -> np.ndarray:
        """Spend on the concave branch (past the inflection, like
        :meth:`spendlab.plan.curves.CurveFamily.inverse_marginal`) where the marginal equals
        ``m``; the inflection when ``m`` exceeds the largest marginal there."""
        m = np.broadcast_to(np.asarray(m, dtype=float), (self.n,))
        start = self.inflection()
        lo = start.copy()
        hi = np.maximum(2 * lo, 1.0)
        for _ in range(200):
            grow = self.marginal(hi) > m
            if not grow.any():
                break
            hi = np.where(grow, hi * 2, hi)
        at_lo = self.marginal(lo) <= m
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            above = self.marginal(mid) > m
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        return np.where(at_lo, start, 0.5 * (lo + hi))
