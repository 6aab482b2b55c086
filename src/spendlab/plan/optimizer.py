"""Budget optimizer: exact water-filling for concave curves, envelope-and-repair for S-curves.

:func:`optimize` is the one entry point. Goals (``goal=``):

- ``"response"`` (aliases ``"revenue"``, ``"conversions"``): maximise total response, spending
  exactly ``budget``.
- ``"profit"``: maximise ``margin * response - spend``, spending at most ``budget`` (or without a
  budget when None).
- ``"target"``: reach ``target`` total response at minimum spend (``budget``, if given, caps spend).
- ``"roas"``: maximise response while portfolio ``response / spend >= target`` (and spend <=
  ``budget``); ``"cpa"``: the same with ``spend / response <= target`` (conversion curves).

The algorithm and its optimality certificate are in :mod:`spendlab.plan.solver`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from spendlab.errors import ConfigError
from spendlab.plan.constraints import (
    TRUST_WHY,
    Constraints,
    InfeasibleError,
    build_bounds,
    per_entity,
)
from spendlab.plan.curves import ResponseCurves
from spendlab.plan.risk import DrawObjective
from spendlab.plan.solver import CurveLike, WaterFill

GOALS = ("response", "revenue", "conversions", "profit", "target", "roas", "cpa")


@dataclass
class OptimizationResult:
    """What :func:`optimize` returns.

    ``frame`` columns: ``id``, ``current``, ``spend`` (the recommendation), ``change``,
    ``response`` (expected at ``spend``; posterior mean with draws), ``marginal`` (d response /
    d spend at ``spend``: the ``mroas`` for revenue curves), ``lo``/``hi`` (effective bounds),
    ``binding`` (the constraint holding the entity at a bound, '' when free), ``binds`` (``lo`` |
    ``hi`` | '': which bound holds it), ``lo_why``/``hi_why`` (each bound's reason: ``observed
    range`` or ``max step`` of the trust region, ``user constraint (...)``, ``non-negative
    spend`` / ``no limit``),
    ``outside_observed`` (spend outside the historically observed range).
    ``expected``: total response, mean with a central ``interval`` across posterior draws
    (``lo == hi == mean`` without draws). ``kkt_gap``: relative duality gap (certificate).
    """

    goal: str
    frame: pd.DataFrame
    objective: float
    expected: dict[str, float]
    kkt_gap: float
    multiplier: float
    total_spend: float
    binding: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def allocation(self) -> dict[str, float]:
        return dict(zip(self.frame["id"], self.frame["spend"].astype(float), strict=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the shape of ``spendlab plan optimize --json``)."""
        fr = self.frame
        return {
            "goal": self.goal,
            "allocation": self.allocation,
            "expected": self.expected,
            "kkt_gap": self.kkt_gap,
            "objective": self.objective,
            "total_spend": self.total_spend,
            "multiplier": self.multiplier,
            "marginal": dict(zip(fr["id"], fr["marginal"].astype(float), strict=True)),
            "binding": self.binding,
            "outside_observed": fr.loc[fr["outside_observed"], "id"].tolist(),
            "notes": self.notes,
        }


def optimize(
    curves: ResponseCurves,
    budget: float | None = None,
    *,
    goal: str = "response",
    target: float | None = None,
    margin: float | Sequence[float] | np.ndarray = 1.0,
    constraints: Constraints | None = None,
    current: Sequence[float] | np.ndarray | None = None,
    observed: tuple[np.ndarray, np.ndarray] | None = None,
    risk: str = "mean",
    risk_k: float = 1.0,
    risk_quantile: float = 0.1,
    interval: float = 0.9,
) -> OptimizationResult:
    """Allocate spend across ``curves.ids``.

    ``current``: today's spend per entity (for relative bounds, change limits, locks and the
    report). ``observed``: (min, max) spend per entity seen historically; recommendations outside
    it are flagged. With posterior draws, ``risk`` picks the objective (see
    :mod:`spendlab.plan.risk`) and ``expected`` carries the ``interval`` across draws.
    """
    if goal not in GOALS:
        raise ConfigError(f"unknown goal {goal!r}; use one of {', '.join(GOALS)}")
    cons = constraints or Constraints()
    ids = curves.ids
    cur = None if current is None else np.asarray(current, dtype=float)
    if cur is not None and cur.shape != (curves.n,):
        raise ConfigError(f"current: expected {curves.n} values, got {cur.shape}")
    w = per_entity(margin if not isinstance(margin, np.ndarray) else margin, ids, "margin", 1.0)
    if np.any(w <= 0):
        raise ConfigError("margin must be > 0 for every entity")
    f: CurveLike = (
        DrawObjective(curves, risk, k=risk_k, q=risk_quantile) if curves.draws else curves
    )
    roas_cap = _ratio_cap(f, per_entity(cons.min_roas, ids, "min_roas", 0.0))
    cpa = per_entity(cons.max_cpa, ids, "max_cpa", np.inf)
    cpa_cap = _ratio_cap(f, np.where(np.isfinite(cpa), 1.0 / np.maximum(cpa, 1e-300), 0.0))
    bounds = build_bounds(
        ids,
        cons,
        cur,
        None if cons.min_roas is None else roas_cap,
        None if cons.max_cpa is None else cpa_cap,
    )
    c = 1.0 if goal == "profit" else 0.0
    solver = WaterFill(f, w, c, bounds)
    notes: list[str] = []
    if goal in ("response", "revenue", "conversions"):
        if budget is None:
            raise ConfigError(f"goal {goal!r} needs a budget")
        sol = solver.solve(float(budget), equality=True)
        spent = float(budget)
    elif goal == "profit":
        sol = solver.solve(None if budget is None else float(budget), equality=False)
        spent = float(sol.x.sum())
        gap_budget = spent if sol.price > 0 else None
        sol.gap, sol.objective = solver.certificate(sol.x, sol.price, gap_budget)
    else:
        if target is None or target <= 0:
            raise ConfigError(f"goal {goal!r} needs target > 0")
        sol, spent = _solve_for_target(solver, goal, float(target), budget, bounds)
    x = sol.x
    if sol.repaired:
        notes.append(
            f"{sol.repaired} S-shaped curve(s) sat on their concave envelope's chord; they were "
            "moved to 0 or to the tangent point and the rest re-solved"
        )
    expected = _expected(curves, x, w, c, interval)
    frame = _frame(f, ids, x, cur, bounds, observed)
    binding = _explain(frame, bounds, sol.price, spent, goal, budget, x)
    if cur is not None and np.allclose(x, cur, rtol=1e-6, atol=1e-9):
        notes.append(
            "the optimum equals the current allocation: current spend is already optimal under "
            f"these constraints (certified gap {sol.gap:.2e})"
        )
    if frame["outside_observed"].any():
        k = int(frame["outside_observed"].sum())
        notes.append(
            f"{k} recommendation(s) fall outside the historically observed spend range; the "
            "curves are extrapolated there"
        )
    return OptimizationResult(
        goal=goal,
        frame=frame,
        objective=float(sol.objective),
        expected=expected,
        kkt_gap=float(sol.gap),
        multiplier=float(sol.price),
        total_spend=float(x.sum()),
        binding=binding,
        notes=notes,
    )


def _ratio_cap(f: CurveLike, r: np.ndarray) -> np.ndarray:
    """Largest spend with average return ``f(x)/x >= r`` (0 when even the best ratio is below)."""
    n = f.n
    if not np.any(r > 0):
        return np.full(n, np.inf)
    tau = np.asarray(f.tangent_point(), dtype=float)
    start = np.where(tau > 0, tau, 1e-9)
    best = f.response(start) / start
    lo, hi = start.copy(), np.maximum(start * 2, 1.0)
    for _ in range(200):
        grow = (f.response(hi) / hi >= r) & (r > 0)
        if not grow.any():
            break
        hi = np.where(grow, hi * 2, hi)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        ok = f.response(mid) / mid >= r
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return np.where(r <= 0, np.inf, np.where(best < r, 0.0, lo))


def _solve_for_target(solver: WaterFill, goal: str, target: float, budget, bounds):
    """Bisection on the total budget: response (goal 'target') or ratio ('roas'/'cpa')."""
    lo_b = float(bounds.lo.sum())
    spendable = float(np.minimum(bounds.hi, 1e300).sum())
    hi_b = min(float(budget), spendable) if budget is not None else spendable
    if not np.isfinite(hi_b) or hi_b >= 1e299:
        hi_b = max(lo_b, 1.0)
        while solver.solve(hi_b).objective < target and hi_b < 1e15 and goal == "target":
            hi_b *= 2
    if goal == "target":
        best = solver.solve(hi_b)
        if best.objective < target * (1 - 1e-9):
            raise InfeasibleError(
                f"target response {target:.6g} is out of reach: the best achievable within "
                f"spend {hi_b:.6g} (budget and per-entity maximums) is {best.objective:.6g}"
            )

        def ok(b: float) -> bool:
            return solver.solve(b).objective >= target
    else:
        ratio = target if goal == "roas" else 1.0 / target

        def ok(b: float) -> bool:
            return b <= 0 or solver.solve(b).objective / b >= ratio

        if ok(hi_b):
            return solver.solve(hi_b), hi_b
        start = max(lo_b, 1e-9 * max(hi_b, 1.0))
        if not ok(start):
            name = "ROAS" if goal == "roas" else "CPA"
            raise InfeasibleError(
                f"portfolio {name} target {target:.6g} is out of reach even at the smallest "
                f"feasible spend {start:.6g}; relax the target or the minimum spends"
            )
        lo_b = start
    a, b = lo_b, hi_b  # ok(b) for 'target'; ok(a) for ratios
    for _ in range(100):
        if b - a <= 1e-10 * max(b, 1.0):
            break
        m = 0.5 * (a + b)
        if goal == "target":
            a, b = (a, m) if ok(m) else (m, b)
        else:
            a, b = (m, b) if ok(m) else (a, m)
    spend = b if goal == "target" else a
    return solver.solve(spend), spend


def _expected(
    curves: ResponseCurves, x: np.ndarray, w: np.ndarray, c: float, interval: float
) -> dict[str, float]:
    if not 0 < interval < 1:
        raise ConfigError(f"interval must be in (0, 1), got {interval}")
    r = curves.response(x)
    tot = (r * w).sum(axis=-1) - c * x.sum()
    if r.ndim == 1:
        v = float(tot)
        return {"mean": v, "lo": v, "hi": v, "interval": interval}
    a = (1 - interval) / 2
    return {
        "mean": float(tot.mean()),
        "lo": float(np.quantile(tot, a)),
        "hi": float(np.quantile(tot, 1 - a)),
        "interval": interval,
    }


def _frame(f: CurveLike, ids, x, cur, bounds, observed) -> pd.DataFrame:
    n = len(ids)
    curv = cur if cur is not None else np.full(n, np.nan)
    tol = 1e-9 * (1 + np.abs(x))
    hi_raw = (x >= bounds.hi - tol) & np.isfinite(bounds.hi)
    at_lo = (x <= bounds.lo + tol) & ~(hi_raw & (bounds.lo_src == "non-negative spend"))
    at_hi = hi_raw & ~at_lo  # lo == hi: the lower bound's reason, unless it is only "spend >= 0"
    binding = np.where(at_hi, bounds.hi_src, np.where(at_lo, bounds.lo_src, ""))
    binding = np.where(binding == "non-negative spend", "", binding)
    outside = np.zeros(n, dtype=bool)
    if observed is not None:
        omin, omax = (np.asarray(v, dtype=float) for v in observed)
        outside = (x > omax * (1 + 1e-9) + 1e-9) | (x < omin * (1 - 1e-9) - 1e-9)
    return pd.DataFrame(
        {
            "id": ids,
            "current": curv,
            "spend": x,
            "change": x - curv,
            "response": f.response(x),
            "marginal": f.marginal(x),
            "lo": bounds.lo,
            "hi": bounds.hi,
            "binding": binding.astype(str),
            "binds": np.where(at_hi, "hi", np.where(at_lo, "lo", "")),
            "lo_why": [_why(v, "lo") for v in bounds.lo_src],
            "hi_why": [_why(v, "hi") for v in bounds.hi_src],
            "outside_observed": outside,
        }
    )


def _why(src: Any, side: str) -> str:
    """A bound's reason in words: the trust region's (observed range / max step), none, or the
    user's constraint that set it."""
    src = str(src or "")
    if src in TRUST_WHY:
        return src
    if src in ("", "non-negative spend"):
        return "no limit" if side == "hi" else "non-negative spend"
    return f"user constraint ({src})"


def _explain(fr: pd.DataFrame, bounds, lam, spent, goal, budget, x) -> list[str]:
    out: list[str] = []
    if goal in ("response", "revenue", "conversions"):
        out.append(
            f"total budget {spent:.6g} is fully spent; every entity strictly inside its bounds "
            f"earns the same marginal return {lam:.6g} per unit of spend"
        )
    elif goal == "profit":
        if lam > 0:
            out.append(
                f"budget {budget:.6g} binds: each free entity's marginal return is "
                f"1 + {lam:.6g} (profit would grow with more budget)"
            )
        else:
            out.append(
                "budget does not bind: each free entity is spent to where one more unit of "
                "spend returns exactly one unit of margin"
            )
    else:
        out.append(f"spend {spent:.6g} is the least that meets the {goal} target")
    b = fr[fr["binding"] != ""]
    if len(b) <= 10:
        for _, r in b.iterrows():
            side = "upper" if r["binds"] == "hi" else "lower"
            out.append(
                f"{r['id']}: held at its {side} bound {r['spend']:.6g} by {r['binding']} "
                f"(marginal return there {r['marginal']:.4g})"
            )
    else:
        for name, k in b["binding"].value_counts().items():
            out.append(f"{k} entities held at a bound by {name}")
    for g, m in zip(bounds.groups, bounds.members, strict=True):
        if x[m].sum() >= g.cap * (1 - 1e-9):
            out.append(
                f"group {g.name!r} is at its cap {g.cap:.6g}: its members would earn more than "
                "the rest of the portfolio with more spend"
            )
    zero = fr[(fr["spend"] <= 1e-12) & (fr["binding"] == "")]
    if len(zero):
        out.append(
            f"{len(zero)} entities get no spend: their best marginal return is below the "
            "portfolio's (for S-curves: spending less than the tangent point does not pay)"
        )
    return out
