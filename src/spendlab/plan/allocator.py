"""The daily allocator: tomorrow's budgets across thousands of campaigns, from data up to yesterday.

Each day: (1) fit the pooled per-campaign curves (:mod:`spendlab.plan.estimate`) on the last
``window`` days; (2) draw one curve per campaign from its posterior (Thompson sampling; ``explore=
"mean"`` uses the posterior mean instead); (3) allocate the budget with the exact optimizer
(:func:`spendlab.plan.optimizer.optimize`) within ``max_change`` of each current budget; (4) hold
campaigns whose change would be below the ``dead_band`` at their current budget and re-solve the
rest; (5) round to cents (the budget is met exactly) and report the expected outcome with an
interval across posterior draws.

Exploration is limited three ways: a campaign's sampled curve differs from its mean curve only
as much as its posterior is uncertain (rich data -> no exploration; a flat likelihood -> its group's
prior, itself estimated from the group's data); every move, exploratory or not, is capped by the
change limit; and moves smaller than the dead band are not made.

:func:`budget_actions` turns the result into :class:`spendlab.core.actions.Action` budget changes
(``source="allocator"``, ``rule_id="allocator"``) for the rules engine's action log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import pandas as pd

from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.errors import ConfigError, DataError
from spendlab.plan.constraints import Constraints, InfeasibleError
from spendlab.plan.estimate import PooledFit, fit_pooled
from spendlab.plan.optimizer import optimize

EXPLORE = ("targeted", "thompson", "mean")
RULE_ID = "allocator"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class AllocatorConfig:
    """Settings of the daily allocator.

    ``max_change``: largest change of a campaign's budget per day, as a fraction of its current
    budget. ``explore``: "targeted" (the default: a posterior draw only for campaigns whose move
    is in doubt, see ``doubt``; the posterior mean elsewhere), "thompson" (a posterior draw for
    every campaign) or "mean" (no exploration). ``doubt``: a campaign's move is in doubt when the
    posterior probability that its marginal return at the current budget beats the portfolio's
    lies in ``(doubt, 1 - doubt)``. ``temper``: exploratory draws are pulled toward the posterior
    mean by this factor (1 = a full posterior draw). ``window``: days of history the curves are
    fitted on. ``dead_band``: changes smaller than this fraction of the current budget are not
    made. ``draws``: posterior draws for the interval. ``prior_strength``: pseudo-campaigns
    pulling each group's mean toward the all-campaign mean.
    """

    max_change: float = 0.2
    explore: str = "targeted"
    window: int = 56
    dead_band: float = 0.01
    draws: int = 200
    interval: float = 0.9
    prior_strength: float = 2.0
    doubt: float = 0.2
    temper: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.max_change <= 10:
            raise ConfigError(f"max_change must be in (0, 10], got {self.max_change}")
        if self.explore not in EXPLORE:
            raise ConfigError(f"explore must be one of {', '.join(EXPLORE)}, got {self.explore!r}")
        if self.window < 2:
            raise ConfigError(f"window must be at least 2 days, got {self.window}")
        if not 0 <= self.dead_band < self.max_change:
            raise ConfigError("dead_band must be >= 0 and below max_change")
        if not 0 < self.interval < 1:
            raise ConfigError(f"interval must be in (0, 1), got {self.interval}")


@dataclass
class DailyAllocation:
    """What :func:`allocate_day` returns.

    ``frame`` columns: ``id``, ``group``, ``current``, ``new`` (rounded to cents), ``change``,
    ``change_rel``, ``mroas`` (marginal return at the current budget on the curve the decision
    used), ``mroas_mean`` (the same on the posterior-mean curve), ``elasticity``,
    ``elasticity_sd`` (posterior, at the reference spend), ``days`` (of data), ``held`` (no data
    or inside the dead band), ``binding`` (constraint holding the campaign at a bound),
    ``reason``. ``expected`` and ``expected_current``: total outcome at the new and the current
    budgets, posterior mean and central interval; ``uplift`` the paired difference.
    """

    budget: float
    frame: pd.DataFrame
    expected: dict[str, float]
    expected_current: dict[str, float]
    uplift: dict[str, float]
    kkt_gap: float
    portfolio_mroas: float
    config: AllocatorConfig
    fit: PooledFit | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def allocation(self) -> dict[str, float]:
        return dict(zip(self.frame["id"], self.frame["new"].astype(float), strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": round(self.budget, 2),
            "expected": self.expected,
            "expected_current": self.expected_current,
            "uplift": self.uplift,
            "kkt_gap": self.kkt_gap,
            "portfolio_mroas": self.portfolio_mroas,
            "max_change": self.config.max_change,
            "explore": self.config.explore,
            "campaigns": len(self.frame),
            "changed": int((self.frame["change"] != 0).sum()),
            "notes": self.notes,
        }


def allocate_day(
    history: pd.DataFrame,
    current: pd.Series,
    budget: float | None = None,
    *,
    config: AllocatorConfig | None = None,
    seed: int = 0,
) -> DailyAllocation:
    """Allocate ``budget`` across the campaigns of ``current`` (their budgets, indexed by id).

    ``history``: one row per campaign and day up to yesterday with columns ``id``, ``group``,
    ``date``, ``spend``, ``outcome`` (only the last ``config.window`` days are used). Campaigns
    in ``current`` without history keep their budget. ``budget`` defaults to the sum of
    ``current``. Deterministic given ``seed``.
    """
    cfg = config or AllocatorConfig()
    cur_s = pd.Series(current, dtype=float)
    cur_s.index = cur_s.index.astype(str)
    if cur_s.empty:
        raise DataError("no campaigns to allocate (no current budgets)")
    if cur_s.index.duplicated().any():
        raise DataError(f"campaign {cur_s.index[cur_s.index.duplicated()][0]!r} appears twice")
    if not np.isfinite(cur_s.to_numpy()).all() or (cur_s < 0).any():
        bad = cur_s[~np.isfinite(cur_s) | (cur_s < 0)].index[0]
        raise DataError(f"campaign {bad!r}: current budget must be a number >= 0")
    total = float(cur_s.sum()) if budget is None else float(budget)
    if not np.isfinite(total) or total <= 0:
        raise ConfigError(f"budget must be > 0, got {budget!r}")
    hist = _window(history, cfg.window)
    fit = fit_pooled(hist, prior_strength=cfg.prior_strength)
    pos = {k: i for i, k in enumerate(fit.ids)}
    ids = list(cur_s.index)
    known = np.array([k in pos for k in ids])
    if not known.any():
        raise DataError(
            f"none of the {len(ids)} campaigns has data in the last {cfg.window} days; load "
            "recent ad_performance rows or check the date"
        )
    cur = cur_s.to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    take = np.array([pos[k] for k in np.array(ids)[known]], dtype=int)
    sub = _subset(fit, take)
    # campaigns without history are held at their current budget
    fixed = float(cur[~known].sum())
    kid = [ids[i] for i in np.flatnonzero(known)]
    kcur = cur[known]
    lo_sum, hi_sum = kcur.sum() * (1 - cfg.max_change), kcur.sum() * (1 + cfg.max_change)
    rest = total - fixed
    if not lo_sum - 1e-6 <= rest <= hi_sum + 1e-6:
        raise InfeasibleError(
            f"budget {total:.2f} is out of reach in one day: with max change "
            f"{cfg.max_change:.0%} per campaign the campaigns with data can spend "
            f"{lo_sum:.2f} to {hi_sum:.2f} (plus {fixed:.2f} held); move the budget in steps "
            "or raise --max-change"
        )
    mean_curves = sub.curves()
    decision = mean_curves
    explored = np.zeros(len(take), dtype=bool)
    if cfg.explore != "mean":
        eta, beta = sub.sample(rng, 1)
        explored[:] = True
        if cfg.explore == "targeted":
            explored = _in_doubt(sub, mean_curves, rng, cfg, kcur, rest)
        eta_m, beta_m = sub.eta_mean, sub._beta_at(sub.eta_mean)
        k = cfg.temper
        eta_d, beta_d = eta_m + k * (eta[0] - eta_m), beta_m + k * (beta[0] - beta_m)
        decision = sub.curves(
            np.where(explored, eta_d, eta_m), np.where(explored, np.maximum(beta_d, 0), beta_m)
        )
    cons = Constraints(max_change_rel=cfg.max_change)
    res = optimize(decision, rest, constraints=cons, current=kcur)
    x = res.frame["spend"].to_numpy(dtype=float)
    held = np.zeros(len(kid), dtype=bool)
    if cfg.dead_band > 0:
        small = np.abs(x - kcur) < cfg.dead_band * kcur
        if small.any() and not small.all():
            locked = [kid[i] for i in np.flatnonzero(small)]
            try:
                res2 = optimize(
                    decision,
                    rest,
                    constraints=Constraints(max_change_rel=cfg.max_change, locked=locked),
                    current=kcur,
                )
            except InfeasibleError:
                res2 = None
            if res2 is not None:
                res, x, held = res2, res2.frame["spend"].to_numpy(dtype=float), small
        elif small.all() and abs(rest - kcur.sum()) < 0.005:  # nothing worth moving
            x, held = kcur.copy(), small
    new_k = _round_to(x, rest)
    new = cur.copy()
    new[known] = new_k
    lam = float(res.multiplier)
    m_dec = np.full(len(ids), np.nan)
    m_mean = np.full(len(ids), np.nan)
    m_dec[known] = decision.marginal(kcur)
    m_mean[known] = mean_curves.marginal(kcur)
    exp_new, exp_cur, uplift = _expected(sub, rng, cfg, new_k, kcur, fixed_outcome=0.0)
    summ = sub.summary()
    frame = pd.DataFrame(
        {
            "id": ids,
            "group": _fill(known, summ["group"].to_numpy(), ""),
            "current": cur,
            "new": new,
            "change": new - cur,
            "change_rel": np.where(cur > 0, (new - cur) / np.where(cur > 0, cur, 1.0), 0.0),
            "mroas": m_dec,
            "mroas_mean": m_mean,
            "elasticity": _fill(known, summ["elasticity"].to_numpy(), np.nan),
            "elasticity_sd": _fill(known, summ["elasticity_sd"].to_numpy(), np.nan),
            "days": _fill(known, summ["days"].to_numpy(), 0),
            "held": _fill(known, held, True),
            "explored": _fill(known, explored, False),
            "binding": _fill(
                known,
                np.where(held, "dead band", res.frame["binding"].to_numpy().astype(str)),
                "no data",
            ),
        }
    )
    frame["reason"] = [_reason(r, lam, cfg.max_change) for r in frame.itertuples()]
    notes = []
    if (~known).any():
        notes.append(
            f"{int((~known).sum())} campaign(s) have no data in the last {cfg.window} days and "
            "keep their budgets"
        )
    return DailyAllocation(
        budget=total,
        frame=frame,
        expected=exp_new,
        expected_current=exp_cur,
        uplift=uplift,
        kkt_gap=float(res.kkt_gap),
        portfolio_mroas=lam,
        config=cfg,
        fit=fit,
        notes=notes,
    )


def _in_doubt(sub: PooledFit, mean_curves, rng, cfg: AllocatorConfig, cur, rest) -> np.ndarray:
    """Campaigns whose move is in doubt: the posterior probability that their marginal return
    at the current budget beats the portfolio's (greedy solution) is between ``doubt`` and
    ``1 - doubt``. Only these explore; elsewhere more data would not change the decision."""
    lam = optimize(
        mean_curves, rest, constraints=Constraints(max_change_rel=cfg.max_change), current=cur
    ).multiplier
    eta, beta = sub.sample(rng, 64)
    h = sub.half(eta)
    m = beta * h / (h + cur) ** 2
    p_up = (m > lam).mean(axis=0)
    return (p_up > cfg.doubt) & (p_up < 1 - cfg.doubt)


def _window(history: pd.DataFrame, window: int) -> pd.DataFrame:
    need = ["id", "group", "date", "spend", "outcome"]
    missing = [c for c in need if c not in history.columns]
    if missing:
        raise DataError(f"history needs columns {need}; missing {missing}")
    if history.empty:
        raise DataError("no history: the allocator needs campaign-day rows before the date")
    d = pd.to_datetime(history["date"])
    return history.loc[d > d.max() - pd.Timedelta(days=window)]


def _subset(fit: PooledFit, take: np.ndarray) -> PooledFit:
    return PooledFit(
        ids=[fit.ids[i] for i in take],
        groups=fit.groups[take],
        ref=fit.ref[take],
        days=fit.days[take],
        post=fit.post[take],
        beta_hat=fit.beta_hat[take],
        beta_se=fit.beta_se[take],
        group_mu=fit.group_mu,
        group_tau=fit.group_tau,
        loglik=fit.loglik[take],
    )


def _fill(mask: np.ndarray, values: np.ndarray, default: Any) -> np.ndarray:
    out = np.full(len(mask), default, dtype=object if isinstance(default, str) else None)
    if not isinstance(default, str):
        out = np.full(len(mask), default, dtype=np.asarray(values).dtype)
    out[mask] = values
    return out


def _round_to(x: np.ndarray, total: float) -> np.ndarray:
    """Round to cents keeping the exact total (largest remainders get the leftover cents)."""
    cents = np.asarray(x, dtype=float) * 100.0
    base = np.floor(cents + 1e-9)
    left = int(round(total * 100.0 - base.sum()))
    order = np.argsort(-(cents - base), kind="stable")
    if left > 0:
        base[order[:left]] += 1
    elif left < 0:
        base[order[::-1][:-left]] -= 1
    return base / 100.0


def _expected(sub: PooledFit, rng, cfg: AllocatorConfig, x_new, x_cur, fixed_outcome: float):
    eta, beta = sub.sample(rng, cfg.draws)
    h = sub.half(eta)

    def tot(x: np.ndarray) -> np.ndarray:
        return (beta * x / (h + x)).sum(axis=1) + fixed_outcome

    a, b = tot(x_new), tot(x_cur)
    q = (1 - cfg.interval) / 2

    def summ(v: np.ndarray) -> dict[str, float]:
        return {
            "mean": float(v.mean()),
            "lo": float(np.quantile(v, q)),
            "hi": float(np.quantile(v, 1 - q)),
            "interval": cfg.interval,
        }

    return summ(a), summ(b), summ(a - b)


def _reason(r: Any, lam: float, cap: float) -> str:
    if r.binding == "no data":
        return "no data in the window: budget kept"
    pct = f"{r.change_rel:+.0%}"
    head = f"marginal return {r.mroas:.3g} vs portfolio {lam:.3g}"
    if r.held:
        return f"{head}; change below the dead band: kept"
    explore = ""
    if r.explored and (r.mroas - lam) * (r.mroas_mean - lam) < 0:
        explore = f"; exploring (posterior-mean marginal return {r.mroas_mean:.3g})"
    return f"{head}; {pct} (cap {cap:.0%}){explore}"


def budget_actions(
    alloc: DailyAllocation,
    refs: Mapping[str, EntityRef],
    as_of: date,
    *,
    run_id: str | None = None,
) -> list[Action]:
    """One ``set_budget`` action per campaign whose budget changes (absolute old and new values
    in cents, ``source`` and ``rule_id`` "allocator"), in the allocation's order."""
    out = []
    for r in alloc.frame.itertuples():
        old = Decimal(repr(float(r.current))).quantize(CENT, ROUND_HALF_EVEN)
        new = Decimal(repr(float(r.new))).quantize(CENT, ROUND_HALF_EVEN)
        if old == new:
            continue
        if r.id not in refs:
            raise DataError(f"campaign {r.id!r} has no entity reference; cannot make its action")
        out.append(
            Action(
                entity=refs[r.id],
                kind=ActionKind.SET_BUDGET,
                old_value=old,
                new_value=new,
                reason=r.reason,
                as_of=as_of,
                source="allocator",
                rule_id=RULE_ID,
                run_id=run_id,
                features={
                    "mroas": round(float(r.mroas), 6),
                    "portfolio_mroas": round(alloc.portfolio_mroas, 6),
                    "elasticity": round(float(r.elasticity), 6),
                    "elasticity_sd": round(float(r.elasticity_sd), 6),
                    "change_rel": round(float(r.change_rel), 6),
                },
            )
        )
    return out
