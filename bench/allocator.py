"""Daily allocator benchmark: cumulative regret versus the oracle over simulated days.

Usage: python bench/allocator.py [--campaigns 2000] [--days 90] [--seeds 0 1 2] [--groups 8]

Setup (the same for every policy, with common random numbers):

- ``campaigns`` campaigns in ``groups`` channels with KNOWN Hill curves
  ``f(x) = beta x^s / (x^s + half^s)``: size ``beta`` lognormal, efficiency ``beta / half``
  lognormal around a channel level, shape ``s`` around a channel level in [0.55, 1.1] (so the
  allocator's Michaelis-Menten model, ``s = 1``, is misspecified).
- The daily budget ``B`` is 60% of the sum of the half-saturation spends. The status quo is
  mis-allocated: the optimal split scrambled by lognormal noise (sd ``--scramble``) and rescaled
  to ``B``. Every policy starts there with ``--warmup`` days of status-quo history.
- Each day a policy sets budgets summing to ``B``, each within +-``--max-change`` of its own
  previous budget. Platforms deliver ``spend = budget * exp(N(0, 0.1))`` and the outcome is
  ``f(spend) * lognormal noise`` (sd ``--noise``). Policies see only spend and outcome per
  campaign and day (and the channel of each campaign).
- Score: the cumulative EXPECTED outcome ``sum_t sum_i f_i(spend_it)`` (true curves at the
  realized spend). Oracle: the true curves, same change limits, re-optimized daily.

Baselines (same data, same change limits; targets projected onto the limits and the budget):
equal split; proportional to the trailing 7-day ROAS; rules (+20% where the trailing 7-day ROAS
beats the portfolio's, -20% where below); hold the status quo.

Allocator variants: ``allocator`` (the default: Thompson draws only for campaigns whose move is
in doubt, tempered), ``allocator:thompson`` (a full posterior draw for every campaign),
``allocator:mean`` (posterior mean, no exploration); ``allocator:EXPLORE:DOUBT:TEMPER`` sets
those knobs of :class:`~spendlab.plan.allocator.AllocatorConfig`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spendlab.plan.allocator import AllocatorConfig, allocate_day
from spendlab.plan.constraints import Constraints
from spendlab.plan.curves import from_arrays
from spendlab.plan.optimizer import optimize


@dataclass
class Market:
    beta: np.ndarray
    half: np.ndarray
    s: np.ndarray
    group: np.ndarray
    budget: float
    start: np.ndarray  # status-quo budgets
    optimum: np.ndarray  # unconstrained optimum (for the report)

    @property
    def n(self) -> int:
        return len(self.beta)

    def f(self, x: np.ndarray) -> np.ndarray:
        t = (np.maximum(x, 0.0) / self.half) ** self.s
        return self.beta * t / (1 + t)

    def curves(self):
        ids = [f"c{i}" for i in range(self.n)]
        return from_arrays(ids, "hill", beta=self.beta, half=self.half, s=self.s)


def make_market(n: int, groups: int, seed: int, scramble: float) -> Market:
    rng = np.random.default_rng(10_000 + seed)
    g = rng.integers(0, groups, n)
    eff_g = np.exp(rng.normal(np.log(4.0), 0.35, groups))  # beta / half per channel
    s_g = rng.uniform(0.6, 1.0, groups)
    beta = np.exp(rng.normal(np.log(2000.0), 0.8, n))
    half = beta / (eff_g[g] * np.exp(rng.normal(0, 0.35, n)))
    s = np.clip(s_g[g] + rng.normal(0, 0.08, n), 0.55, 1.1)
    m = Market(beta, half, s, np.array([f"ch{k}" for k in g]), 0.0, np.zeros(n), np.zeros(n))
    m.budget = float(0.6 * half.sum())
    m.optimum = optimize(m.curves(), m.budget).frame["spend"].to_numpy()
    start = m.optimum * np.exp(rng.normal(0, scramble, n))
    m.start = start * m.budget / start.sum()
    return m


def project(target: np.ndarray, prev: np.ndarray, budget: float, cap: float) -> np.ndarray:
    """Scale ``target`` so that, clipped to +-cap around ``prev``, it sums to ``budget``."""
    lo, hi = prev * (1 - cap), prev * (1 + cap)
    t = np.maximum(target, 1e-12)
    a, b = 1e-12, 1e12
    for _ in range(200):
        c = np.sqrt(a * b)
        if np.clip(c * t, lo, hi).sum() > budget:
            b = c
        else:
            a = c
    x = np.clip(np.sqrt(a * b) * t, lo, hi)
    return x * budget / x.sum()


def allocator_config(policy: str, cap: float) -> AllocatorConfig:
    """``allocator[:explore[:doubt[:temper]]]`` -> its config (defaults: AllocatorConfig's)."""
    opts = policy.split(":")[1:]
    kw: dict = {"max_change": cap}
    names = ("explore", "doubt", "temper")
    for key, conv, v in zip(names, (str, float, float), opts, strict=False):
        kw[key] = conv(v)
    return AllocatorConfig(**kw)


def simulate(
    m: Market,
    policy: str,
    days: int,
    warmup: int,
    cap: float,
    noise: float,
    seed: int,
    delivery: float = 0.1,
):
    rng = np.random.default_rng(20_000 + seed)  # common random numbers across policies
    total = warmup + days
    deliver = np.exp(rng.normal(0, delivery, (total, m.n)))
    shock = np.exp(rng.normal(0, noise, (total, m.n)) - noise**2 / 2)
    spend = np.zeros((total, m.n))
    out = np.zeros((total, m.n))
    b = m.start.copy()
    truth = m.curves()
    ids = np.array([f"c{i}" for i in range(m.n)])
    daily = []

    cfg = allocator_config(policy, cap)
    for t in range(total):
        if t >= warmup:
            if policy == "oracle":
                res = optimize(
                    truth, m.budget, constraints=Constraints(max_change_rel=cap), current=b
                )
                b = res.frame["spend"].to_numpy()
            elif policy.startswith("allocator"):
                lo = max(0, t - cfg.window)
                hist = pd.DataFrame(
                    {
                        "id": np.tile(ids, t - lo),
                        "group": np.tile(m.group, t - lo),
                        "date": np.repeat(pd.date_range("2024-01-01", periods=t)[lo:t], m.n),
                        "spend": spend[lo:t].ravel(),
                        "outcome": out[lo:t].ravel(),
                    }
                )
                a = allocate_day(
                    hist, pd.Series(b, index=ids), m.budget, config=cfg, seed=seed * 1000 + t
                )
                b = a.frame["new"].to_numpy()
            elif policy != "status quo":
                w = slice(max(0, t - 7), t)
                roas = out[w].sum(0) / np.maximum(spend[w].sum(0), 1e-9)
                if policy == "equal split":
                    target = np.full(m.n, m.budget / m.n)
                elif policy == "proportional to ROAS":
                    target = roas
                else:  # rules: +-20% around the portfolio ROAS
                    port = out[w].sum() / spend[w].sum()
                    target = b * np.where(roas > port, 1.2, 0.8)
                b = project(target, b, m.budget, cap)
        spend[t] = b * deliver[t]
        exp_out = m.f(spend[t])
        out[t] = exp_out * shock[t]
        if t >= warmup:
            daily.append(exp_out.sum())
    return float(np.sum(daily)), float(np.sum(daily[-7:]))


POLICIES = [
    "oracle",
    "allocator",
    "allocator:thompson",
    "allocator:mean",
    "equal split",
    "proportional to ROAS",
    "rules",
    "status quo",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--campaigns", type=int, default=2000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=14)
    ap.add_argument("--max-change", type=float, default=0.2)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--scramble", type=float, default=0.8)
    ap.add_argument("--delivery", type=float, default=0.1)
    ap.add_argument("--policies", nargs="*", default=POLICIES)
    a = ap.parse_args()
    rows = []
    for seed in a.seeds:
        m = make_market(a.campaigns, a.groups, seed, a.scramble)
        for p in a.policies:
            t0 = time.perf_counter()
            sc, last = simulate(m, p, a.days, a.warmup, a.max_change, a.noise, seed, a.delivery)
            secs = time.perf_counter() - t0
            rows.append({"seed": seed, "policy": p, "score": sc, "last": last, "secs": secs})
    df = pd.DataFrame(rows)
    orc = df[df.policy == "oracle"].set_index("seed")["score"]
    df["vs_oracle"] = df.score / df.seed.map(orc)
    df["regret"] = df.seed.map(orc) - df.score
    orc_last = df[df.policy == "oracle"].set_index("seed")["last"]
    df["last_vs"] = df["last"] / df.seed.map(orc_last)
    tab = df.groupby("policy", sort=False).agg(
        vs_mean=("vs_oracle", "mean"),
        vs_min=("vs_oracle", "min"),
        vs_max=("vs_oracle", "max"),
        regret=("regret", "mean"),
        last7=("last_vs", "mean"),
        secs=("secs", "mean"),
    )
    print(
        f"{a.campaigns:,} campaigns x {a.days} days, seeds {a.seeds}, max change "
        f"{a.max_change:.0%}/day, outcome noise sd {a.noise}, delivery noise sd {a.delivery}, "
        f"status quo scramble sd {a.scramble}, {a.warmup} warm-up days"
    )
    print()
    labels = {
        "allocator": "SpendLab allocator (default: targeted exploration)",
        "allocator:thompson": "SpendLab allocator, Thompson sampling everywhere",
        "allocator:mean": "SpendLab allocator, posterior mean (no exploration)",
    }
    print(
        "| policy | cumulative outcome vs oracle (mean over seeds) | worst seed | best seed "
        "| mean cumulative regret | last 7 days vs oracle | s per run |"
    )
    print("|---|---|---|---|---|---|---|")
    for p, r in tab.iterrows():
        print(
            f"| {labels.get(p, p)} | {r.vs_mean:.2%} | {r.vs_min:.2%} | {r.vs_max:.2%} "
            f"| {r.regret:,.0f} | {r.last7:.2%} | {r.secs:.1f} |"
        )


if __name__ == "__main__":
    main()
