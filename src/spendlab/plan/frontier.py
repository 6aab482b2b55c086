"""Efficiency frontier: the optimal outcome as a function of the total budget.

:func:`efficiency_frontier` runs the optimizer (:func:`spendlab.plan.optimizer.optimize`, goal
``response``) over a grid of budgets; water-filling makes each point cost milliseconds. Each point
is an exact optimum for concave curves (its ``kkt_gap`` says how close otherwise), so for concave
curves the frontier is non-decreasing and concave, and its slope is the marginal return ``mroas``
(the optimizer's multiplier).

From it, :meth:`Frontier.best_at` answers "best outcome at budget B" (an exact optimize(B), not an
interpolation) and :meth:`Frontier.max_budget` answers "largest budget that keeps the marginal
(``mroas``) or average (``iroas``) return at or above t" by bisection on the budget (both
decrease with the budget for concave curves).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from spendlab.errors import ConfigError
from spendlab.plan.constraints import Constraints, InfeasibleError
from spendlab.plan.curves import CurveFamily, ResponseCurves
from spendlab.plan.optimizer import OptimizationResult, optimize

METRICS = ("mroas", "iroas")


@dataclass
class Frontier:
    """``frame`` columns: ``budget``, ``outcome`` (expected optimal outcome; posterior mean with
    draws), ``lo``/``hi`` (its interval), ``mroas`` (marginal return at the optimum),
    ``iroas`` (outcome / budget), ``kkt_gap``."""

    curves: ResponseCurves
    frame: pd.DataFrame
    constraints: Constraints | None = None
    current: np.ndarray | None = None
    interval: float = 0.9
    notes: list[str] = field(default_factory=list)

    def best_at(self, budget: float) -> OptimizationResult:
        """The optimal allocation and outcome at ``budget``."""
        return optimize(
            self.curves,
            float(budget),
            constraints=self.constraints,
            current=self.current,
            interval=self.interval,
        )

    def _metric(self, budget: float, metric: str) -> float:
        res = self.best_at(budget)
        if metric == "mroas":
            return float(res.multiplier)
        return res.expected["mean"] / budget if budget > 0 else np.inf

    def max_budget(self, target: float, metric: str = "mroas", *, tol: float = 1e-6) -> dict:
        """Largest budget whose optimal allocation keeps ``metric`` (``mroas`` or ``iroas``)
        ``>= target``. Returns ``{"budget", "metric", "target", "value", "outcome"}``; raises
        :class:`InfeasibleError` when even the smallest feasible budget misses the target."""
        if metric not in METRICS:
            raise ConfigError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        if not np.isfinite(target) or target <= 0:
            raise ConfigError(f"target must be > 0, got {target}")
        # bracket from the frontier's own points, then bisect between two of them
        fr = self.frame[np.isfinite(self.frame[metric]) & (self.frame["budget"] > 0)]
        ok = (fr[metric] >= target).to_numpy()
        budgets = fr["budget"].to_numpy(dtype=float)
        if len(fr) and ok[0]:
            k = int(ok.cumprod().sum())  # the first point below target (if any) is budgets[k]
            lo, hi = budgets[k - 1], (budgets[k] if k < len(fr) else None)
        else:  # below target already at the first positive point: look below it
            first = budgets[0] if len(fr) else 1.0
            lo = max(float(self.frame["budget"].min()), 1e-9 * first)
            hi = first if len(fr) else None
        if self._metric(lo, metric) < target:
            raise InfeasibleError(
                f"{metric} is below {target:.6g} even at the budget {lo:.6g}: no budget "
                "reaches that target; lower it"
            )
        below = hi is not None
        hi = hi if hi is not None else max(lo * 2, 1e-9)
        for _ in range(60):
            if below or self._metric(hi, metric) < target:
                break
            lo, hi = hi, hi * 2
        else:
            raise InfeasibleError(
                f"{metric} stays above {target:.6g} at every budget up to {hi:.6g}; the "
                "curves do not saturate there (or the bounds cap spend): raise the target"
            )
        while hi - lo > tol * max(hi, 1.0):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self._metric(mid, metric) >= target else (lo, mid)
        res = self.best_at(lo)
        return {
            "budget": lo,
            "metric": metric,
            "target": target,
            "value": self._metric(lo, metric),
            "outcome": res.expected["mean"],
            "allocation": res.allocation,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "points": [
                {k: (float(v) if np.isfinite(v) else None) for k, v in r.items()}
                for r in self.frame.to_dict(orient="records")
            ],
            "interval": self.interval,
            "notes": self.notes,
        }


def efficiency_frontier(
    curves: ResponseCurves,
    budgets: Sequence[float] | np.ndarray | None = None,
    *,
    max_budget: float | None = None,
    points: int = 25,
    constraints: Constraints | None = None,
    current: Sequence[float] | np.ndarray | None = None,
    interval: float = 0.9,
    max_draws: int | None = None,
) -> Frontier:
    """Optimal outcome over a budget grid: ``budgets`` as given, or ``points`` evenly spaced from
    0 (or the sum of the minimum spends) to ``max_budget`` (default: twice the current total,
    else 1). Budgets the constraints cannot take (below the minimums, above the maximums) are
    left out and named in ``notes``. ``max_draws`` caps the posterior draws used (evenly spaced;
    each optimum over draws costs time in proportion to their number); the notes say so."""
    cur = None if current is None else np.asarray(current, dtype=float)
    notes = []
    if max_draws is not None and curves.draws and curves.draws > max_draws:
        keep = np.unique(np.linspace(0, curves.draws - 1, max_draws).round().astype(int))
        notes.append(f"computed on {len(keep)} of {curves.draws} posterior draws")
        curves = ResponseCurves(
            curves.ids,
            [(i, CurveFamily(f.family, {k: v[keep] for k, v in f.params.items()}))
             for i, f in curves.blocks],
            curves.meta,
        )  # fmt: skip
    if budgets is None:
        if points < 2 or points > 500:
            raise ConfigError(f"points must be 2-500, got {points}")
        top = max_budget
        if top is None:
            top = 2 * float(cur.sum()) if cur is not None and cur.sum() > 0 else 1.0
        if not np.isfinite(top) or top <= 0:
            raise ConfigError(f"max_budget must be > 0, got {top}")
        grid = np.linspace(0.0, float(top), points)
    else:
        grid = np.asarray(budgets, dtype=float)
        if grid.ndim != 1 or grid.size == 0 or grid.size > 500:
            raise ConfigError("budgets: give 1-500 budgets")
        if not np.all(np.isfinite(grid)) or np.any(grid < 0):
            raise ConfigError("budgets must be finite and >= 0")
        grid = np.unique(grid)
    rows, skipped = [], []
    for b in grid:
        try:
            res = optimize(
                curves, float(b), constraints=constraints, current=cur, interval=interval
            )
        except InfeasibleError:
            skipped.append(float(b))
            continue
        e = res.expected
        rows.append(
            {
                "budget": float(b),
                "outcome": e["mean"],
                "lo": e["lo"],
                "hi": e["hi"],
                "mroas": float(res.multiplier),
                "iroas": e["mean"] / b if b > 0 else float("nan"),
                "kkt_gap": res.kkt_gap,
            }
        )
    if skipped:
        notes.append(
            f"{len(skipped)} budget(s) left out because the constraints cannot take them "
            f"(e.g. {skipped[0]:.6g})"
        )
    if not rows:
        raise InfeasibleError("no budget on the grid satisfies the constraints; widen the grid")
    frame = pd.DataFrame(rows, columns=["budget", "outcome", "lo", "hi", "mroas", "iroas",
                                        "kkt_gap"])  # fmt: skip
    return Frontier(curves, frame, constraints, cur, interval, notes)
