"""Efficiency frontier benchmark: SpendLab (one water-filling solve per budget) vs a frontier of
scipy SLSQP solves (the peers' optimizer, each warm-started from the previous point's solution),
on the same concave curves.

Usage: python bench/frontier.py [--sizes 10 100] [--points 25] [--big 1000 10000]
Prints time and the largest relative outcome gap of each against the other, side by side
(SLSQP takes ~2 minutes per solve at 1,000 campaigns, so a 24-point frontier is left out there);
SpendLab alone at --big campaigns and with 200 posterior draws at 100 campaigns.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import minimize

from spendlab.plan.curves import from_arrays
from spendlab.plan.frontier import efficiency_frontier


def curves(n: int, seed: int = 0, draws: int | None = None):
    rng = np.random.default_rng(seed)
    shape = (draws, n) if draws else (n,)
    return from_arrays(
        [f"c{i}" for i in range(n)],
        "hill",
        beta=rng.uniform(1, 10, n) * (rng.lognormal(0, 0.1, shape) if draws else 1),
        half=np.broadcast_to(rng.uniform(1, 100, n), shape),
        s=np.broadcast_to(rng.uniform(0.5, 1.0, n), shape),
    )


def slsqp_frontier(c, budgets):
    n, out, x0 = c.n, [], None
    for b in budgets:
        start = np.full(n, b / n) if x0 is None or x0.sum() <= 0 else x0 * b / x0.sum()
        r = minimize(
            lambda v: -c.response(v).sum(),
            start,
            jac=lambda v: -c.marginal(v),
            bounds=[(0, None)] * n,
            constraints=[{"type": "eq", "fun": lambda v, b=b: v.sum() - b}],
            method="SLSQP",
            options={"maxiter": 500},
        )
        x0 = np.maximum(r.x, 0)
        out.append(float(c.response(x0).sum()))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[10, 100])
    ap.add_argument("--points", type=int, default=25)
    ap.add_argument("--big", type=int, nargs="*", default=[1000, 10_000])
    a = ap.parse_args()
    print("| campaigns | points | SLSQP s | SpendLab s | speed-up | SpendLab better by (max) "
          "| SLSQP better by (max) | SpendLab max kkt_gap |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for n in a.sizes:
        c = curves(n)
        budgets = np.linspace(0, 40.0 * n, a.points)[1:]
        t = time.perf_counter()
        f = efficiency_frontier(c, budgets)
        ts = time.perf_counter() - t
        t = time.perf_counter()
        ref = slsqp_frontier(c, budgets)
        tr = time.perf_counter() - t
        ours = f.frame["outcome"].to_numpy()
        print(f"| {n:,} | {len(budgets)} | {tr:.2f} | {ts:.3f} | {tr / ts:.1f}x | "
              f"{np.max((ours - ref) / ref):.2e} | {np.max((ref - ours) / ours):.2e} | "
              f"{f.frame['kkt_gap'].max():.1e} |")  # fmt: skip
    for n, draws in [*((b, None) for b in a.big), (100, 200)]:
        c = curves(n, draws=draws)
        budgets = np.linspace(0, 40.0 * n, a.points)[1:]
        t = time.perf_counter()
        f = efficiency_frontier(c, budgets)
        ts = time.perf_counter() - t
        label = f"{n:,}" + (f" x {draws} draws" if draws else "")
        print(f"| {label} | {len(budgets)} | – | {ts:.3f} | – | – | – | "
              f"{f.frame['kkt_gap'].max():.1e} |")  # fmt: skip


if __name__ == "__main__":
    main()
