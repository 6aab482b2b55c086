"""Recommendations scored on the simulator's truth: does the trust region keep a recommendation
from lowering the true outcome, even when the model behind it is wrong?

Builds (or reuses) the demo workspace, takes the recommendation through the planning service
(:func:`spendlab.plan.service.optimize`, the code behind ``get_recommendations``) and scores each
allocation on the TRUE channel curves of ``raw/truth.json`` (the simulator's campaign curves,
campaigns in proportion to their mean spend). Three active curve sets in turn:

- ``truth``: the simulator's true channel curves (what ``spendlab demo`` installs);
- ``wrong x4``: the truth with one channel's ``beta`` scaled x4 (a model that overstates it);
- ``wrong x4, draws``: the same with 200 posterior-like draws (every channel's ``beta`` times a
  lognormal(0, 0.3) factor), so the uplift has an interval and ``P(uplift > 0)``.

Rows per curve set: status quo, the recommendation with the trust region (the default), without
it (the old behaviour), and budget shares proportional to the platform-reported ROAS (last 28
days). Columns: true outcome per day, change vs the status quo, the share of the gain reachable
on the true curves within the same bounds (the oracle inside the row's bounds) and of the full
oracle gain of truth.json (campaign level, its ``allocation``).

    PYTHONPATH=src python bench/recommend.py [--workspace /tmp/trustdemo] [--scaled paid_social]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from spendlab.data.spend import count_once
from spendlab.plan import curvesets, service
from spendlab.plan.constraints import Constraints
from spendlab.plan.optimizer import optimize as run_optimizer
from spendlab.workspace import Workspace


def build_demo(path: Path) -> None:
    if (path / "raw" / "truth.json").exists():
        return
    cmd = ["spendlab", "demo", "--no-serve", "--no-browser", "-w", str(path)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def platform_roas(ws: Workspace, cs, days: int = 28) -> dict[str, float]:
    """Platform-reported ROAS (conversion value / spend) per entity over the last ``days``."""
    members = cs.members()
    owner = {c: i for i, m in members.items() for c in m}
    with ws.warehouse() as wh:
        ap = wh.table("ad_performance")
        last = ap.aggregate(hi=ap.date.max()).to_pandas().iloc[0]["hi"]
        start = pd.Timestamp(last) - pd.Timedelta(days=days - 1)
        t = ap.filter((ap.date >= start.date()) & ap.campaign_id.isin(sorted(owner)))
        t = count_once(t, "campaign")
        g = t.group_by("campaign_id").aggregate(s=t.spend.sum(), v=t.conversion_value.sum())
        df = g.to_pandas()
    df["id"] = df["campaign_id"].astype(str).map(owner)
    per = df.groupby("id")[["s", "v"]].sum()
    return {i: float(per.loc[i, "v"] / per.loc[i, "s"]) for i in cs.ids}


def oracle_gain(true_curves, cur: np.ndarray, budget: float, lo, hi) -> float:
    """The best true gain over the status quo with the same budget inside ``[lo, hi]``."""
    cons = Constraints(min=np.asarray(lo, dtype=float), max=np.asarray(hi, dtype=float))
    res = run_optimizer(true_curves, budget, constraints=cons, current=cur)
    x = res.frame["spend"].to_numpy(dtype=float)
    return float(true_curves.response(x).sum() - true_curves.response(cur).sum())


def run(path: Path, scaled: str, factor: float, draws: int, seed: int) -> pd.DataFrame:
    build_demo(path)
    truth = json.loads((path / "raw" / "truth.json").read_text())
    frame, meta = curvesets.truth_frames(truth)["channels"]
    true_curves = curvesets.curves_from_frame(frame, id_column="id")
    full_gain = float(truth["allocation"]["gain"])
    ws = Workspace.open(path)
    active = service.curve_set(ws)
    wrong = frame.copy()
    if scaled not in set(wrong["id"]):
        raise SystemExit(f"--scaled {scaled!r}: not a channel of the demo ({list(wrong['id'])})")
    wrong.loc[wrong["id"] == scaled, "beta"] *= factor
    rng = np.random.default_rng(seed)
    factors = rng.lognormal(0, 0.3, (draws, len(wrong)))
    noisy = pd.concat([wrong.assign(draw=d, beta=wrong["beta"] * factors[d]) for d in range(draws)])
    sets = [
        ("truth", None),
        (f"wrong: {scaled} beta x{factor:g}", wrong),
        (f"wrong x{factor:g}, {draws} draws", noisy),
    ]
    rows = []
    try:
        for label, fr in sets:
            if fr is not None:
                curvesets.save_curve_set(
                    ws.store.engine, ws.id, f"bench {label}", fr, "day", "manual", meta
                )
            else:
                curvesets.activate_curve_set(ws.store.engine, ws.id, active.id)
            ctx = service.context(ws)
            ids = ctx.cs.ids
            tc = true_curves.subset(ids)
            cur = np.array(ctx.current_list())
            budget = float(cur.sum())
            base = float(tc.response(cur).sum())
            unbounded = oracle_gain(tc, cur, budget, np.zeros(len(ids)), np.full(len(ids), 1e15))
            with_tr = service.optimize(ws)
            without = service.optimize(ws, trust=False)
            roas = platform_roas(ws, ctx.cs)
            w = np.array([roas[i] for i in ids])
            prop = budget * w / w.sum()

            def add(name, x, gain_ceiling, rec=None, label=label, base=base, tc=tc):
                out = float(tc.response(np.asarray(x, dtype=float)).sum())
                up = (rec or {}).get("uplift") or {}
                trust = (rec or {}).get("trust") or {}
                rows.append(
                    {
                        "active curve set": label,
                        "allocation": name,
                        "true outcome/day": out,
                        "change": out - base,
                        "share of bounded oracle gain": (
                            (out - base) / gain_ceiling if gain_ceiling > 1e-9 else np.nan
                        ),
                        "share of full oracle gain": (out - base) / full_gain,
                        "claimed uplift": up.get("mean", np.nan),
                        "claimed 90% interval": (
                            f"{up['lo']:,.0f} to {up['hi']:,.0f}" if up else ""
                        ),
                        "P(uplift>0)": up.get("p_positive"),
                        "test first": trust.get("test_first"),
                        "outside observed": ",".join((rec or {}).get("outside_observed", [])),
                    }
                )

            add("status quo", cur, unbounded)
            for name, rec in (("with trust region", with_tr), ("without (old)", without)):
                x = [rec["allocation"][i] for i in ids]
                ents = rec["trust"]["entities"]
                lo = [e["lo"] for e in ents]
                hi = [1e15 if e["hi"] is None else e["hi"] for e in ents]
                add(name, x, oracle_gain(tc, cur, budget, lo, hi), rec)
            add("proportional to platform ROAS", prop, unbounded)
    finally:
        curvesets.activate_curve_set(ws.store.engine, ws.id, active.id)
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> str:
    """A GitHub-markdown table (no tabulate dependency)."""
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", default="/tmp/trustdemo")
    ap.add_argument("--scaled", default="paid_social", help="channel whose beta is scaled")
    ap.add_argument("--factor", type=float, default=4.0)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    df = run(Path(a.workspace), a.scaled, a.factor, a.draws, a.seed)
    fmt = {
        "true outcome/day": "{:,.0f}".format,
        "change": "{:+,.0f}".format,
        "share of bounded oracle gain": lambda v: "" if pd.isna(v) else f"{v:.0%}",
        "share of full oracle gain": "{:.1%}".format,
        "claimed uplift": lambda v: "" if pd.isna(v) else f"{v:+,.0f}",
        "P(uplift>0)": lambda v: "" if v is None or pd.isna(v) else f"{v:.2f}",
        "test first": lambda v: "" if v is None else ("yes" if v else "no"),
    }
    out = df.copy()
    for k, f in fmt.items():
        out[k] = out[k].map(f)
    print(markdown(out.astype(str)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
