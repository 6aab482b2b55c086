"""MMM benchmark: SpendLab's campaign batch (1,000 campaigns x 730 days, fast mode) and a
national weekly fit on the simulator (NUTS and fast), with iROAS error against the truth.

    .venv/bin/python bench/mmm.py [--campaigns 1000] [--days 730] [--skip-nuts]

PyMC-Marketing side by side is NOT implemented yet (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "measure" / "mmm"))


def batch(n: int, days: int) -> dict:
    from test_batch import make_campaigns

    from spendlab.measure.mmm.batch import fit_campaigns

    df, truth = make_campaigns(n=n, days=days, seed=1)
    t0 = time.perf_counter()
    out = fit_campaigns(df).set_index("campaign")
    secs = time.perf_counter() - t0
    err = np.array([abs(out.loc[c, "iroas"] / t - 1) for c, t in truth.items()])
    return {"campaigns": n, "days": days, "seconds": secs, "median_iroas_error": np.median(err)}


def national(fast: bool, chains: int, draws: int) -> dict:
    from conftest import make_weekly
    from spendlab.measure.mmm import MMM, MMMConfig

    df, truth = make_weekly(3)
    cfg = MMMConfig(
        date="date", target="sales", channels=tuple(truth), controls=("price",), fast=fast,
        chains=chains, draws=draws, warmup=draws, progress_bar=False,
    )  # fmt: skip
    t0 = time.perf_counter()
    m = MMM(cfg).fit(df)
    secs = time.perf_counter() - t0
    s = m.summary().set_index("channel")
    err = [abs(s.loc[c, "iroas_mean"] / t - 1) for c, t in truth.items()]
    d = m.diagnostics_
    return {"mode": m.method_, "seconds": secs, "median_iroas_error": float(np.median(err)),
            "rhat_max": d["rhat_max"], "divergences": d["divergences"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--campaigns", type=int, default=1000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--skip-nuts", action="store_true")
    args = ap.parse_args()
    print(pd.DataFrame([batch(args.campaigns, args.days)]).to_string(index=False))
    rows = [national(True, 1, 500)]
    if not args.skip_nuts:
        rows.append(national(False, 2, 500))
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
