"""Budget optimizer benchmark: SpendLab water-filling vs scipy SLSQP on the same concave curves.

Usage: python bench/optimizer.py [--sizes 10 100 1000] [--big 100000]
Prints time, objective and kkt_gap side by side (SLSQP starts from the equal split, as the MMM
peers do). SpendLab alone at --big entities.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import minimize

from spendlab.plan.curves import from_arrays
from spendlab.plan.optimizer import optimize


def curves(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return from_arrays(
        [f"c{i}" for i in range(n)],
        "hill",
        beta=rng.uniform(1, 10, n),
        half=rng.uniform(1, 100, n),
        s=rng.uniform(0.5, 1.0, n),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 1000])
    ap.add_argument("--big", type=int, default=100_000)
    a = ap.parse_args()
    print(
        "| campaigns | SLSQP s | SpendLab s | speed-up | SLSQP objective | SpendLab objective "
        "| SpendLab kkt_gap |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in a.sizes:
        c = curves(n)
        budget = 20.0 * n
        t = time.perf_counter()
        res = optimize(c, budget)
        ts = time.perf_counter() - t
        t = time.perf_counter()
        ref = minimize(
            lambda v, c=c: -c.response(v).sum(),
            np.full(n, budget / n),
            jac=lambda v, c=c: -c.marginal(v),
            bounds=[(0, None)] * n,
            constraints=[{"type": "eq", "fun": lambda v, b=budget: v.sum() - b}],
            method="SLSQP",
            options={"maxiter": 500},
        )
        tr = time.perf_counter() - t
        print(
            f"| {n:,} | {tr:.3f} | {ts:.4f} | {tr / ts:.0f}x | {-ref.fun:.6f} | "
            f"{res.objective:.6f} | {res.kkt_gap:.1e} |"
        )
    if a.big:
        c = curves(a.big)
        t = time.perf_counter()
        res = optimize(c, 20.0 * a.big)
        ts = time.perf_counter() - t
        print(f"| {a.big:,} | - | {ts:.3f} | - | - | {res.objective:.4f} | {res.kkt_gap:.1e} |")


if __name__ == "__main__":
    main()
