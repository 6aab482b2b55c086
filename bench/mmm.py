"""MMM benchmark: SpendLab side by side with PyMC-Marketing in one run, plus the campaign batch.

    .venv/bin/python bench/mmm.py [--chains 4] [--draws 1000] [--campaigns 1000] [--days 730]
                                  [--sim-seeds 0] [--skip-pymc] [--skip-batch]

Data sets (truth known for both):

1. PyMC-Marketing's example data set (179 weeks, 2 channels), regenerated from its notebook's
   recipe (``bench/mmm_data.py``);
2. the SpendLab simulator's MMM scenario (``spendlab.simulate.scenarios.mmm_scenario``: 156
   weeks, 4 channels with flighting, 4 controls and the retail-event calendar, a column per event).

Both tools fit the same data with the same chains, warmup (tune) and draws (default 4 x 1000 +
1000: PyMC's defaults and SpendLab's), target_accept 0.95, geometric adstock (8 weeks) and logistic
saturation. PyMC-Marketing runs its default PyMC NUTS sampler, on data set 1 twice: with the model
configuration of its example notebook (priors chosen for that data) and with its defaults (as
SpendLab runs with its own); its defaults on data set 2 (controls standardised for it; SpendLab
standardises them itself). Reported per fit: wall time
(compilation included, in a fresh process state for each tool's first fit), median and max
relative iROAS error against the truth, how many channels' true iROAS fall inside the 90%
interval, R-hat max over the free parameters, divergences.

Then the campaign batch: ``--campaigns`` campaigns x ``--days`` days (fast mode, one vmapped MAP).

``--geo``: only the geo-level model (``MMMConfig(geo=...)``): fast and NUTS on the synthetic geo
panel of ``tests/measure/mmm/test_geo.py`` (20 geos x 104 weeks, 3 channels, known per-geo iROAS;
national errors as above plus the RMSE of the per-geo iROAS), and fast on Meridian's public
``geo_media.csv`` when present (time only: no truth ships with it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

# one JAX CPU device per core: the campaign batch splits its campaigns over them (jax.pmap)
os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={os.cpu_count() or 1}")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "measure" / "mmm"))


def datasets(sim_seeds: list[int]) -> list[dict]:
    from mmm_data import pymc_example
    from spendlab.simulate import simulate
    from spendlab.simulate.scenarios import mmm_scenario
    from spendlab.simulate.weekly import MMM_CONTROLS, event_columns, mmm_weekly

    df, truth = pymc_example()
    out = [{"name": "pymc example (179 w x 2 ch)", "df": df, "truth": truth, "date": "date_week",
            "target": "y", "controls": (), "events": ("event_1", "event_2"), "yearly": 2,
            "pymc_controls": ["event_1", "event_2", "t"], "pymc_config": "notebook"}]  # fmt: skip
    for seed in sim_seeds:
        df, truth = mmm_weekly(simulate(mmm_scenario(seed)))
        df = df.assign(t=np.arange(len(df), dtype=float))
        ev = event_columns(df)
        out.append({"name": f"simulator seed {seed} (156 w x 4 ch)", "df": df, "truth": truth,
                    "date": "date", "target": "revenue", "controls": MMM_CONTROLS,
                    "events": ev, "yearly": 3, "pymc_controls": [*MMM_CONTROLS, *ev, "t"],
                    "pymc_config": "default"})  # fmt: skip
    return out


def score(est: dict[str, tuple[float, float, float]], truth: dict) -> dict:
    err = [abs(est[c][0] / truth[c]["iroas"] - 1) for c in truth]
    inside = sum(est[c][1] <= truth[c]["iroas"] <= est[c][2] for c in truth)
    return {"median_err": float(np.median(err)), "max_err": float(np.max(err)),
            "in_90": f"{inside}/{len(truth)}"}  # fmt: skip


TARGET_ACCEPT = 0.95  # SpendLab's default; PyMC-Marketing gets the same


def fit_spendlab(d: dict, chains: int, draws: int, fast: bool) -> dict:
    from spendlab.measure.mmm import MMM, MMMConfig

    cfg = MMMConfig(date=d["date"], target=d["target"], channels=tuple(d["truth"]),
                    controls=d["controls"], events=d["events"], adstock="geometric",
                    saturation="logistic", max_lag=8, yearly_order=d["yearly"], fast=fast,
                    chains=chains, draws=draws, warmup=draws, target_accept=TARGET_ACCEPT,
                    progress_bar=False)  # fmt: skip
    t0 = time.perf_counter()
    m = MMM(cfg).fit(d["df"])
    s = m.summary().set_index("channel")
    secs = time.perf_counter() - t0
    est = {
        c: (s.loc[c, "iroas_mean"], s.loc[c, "iroas_lo"], s.loc[c, "iroas_hi"]) for c in d["truth"]
    }
    diag = m.diagnostics_
    return {"tool": "SpendLab " + ("fast" if fast else "NUTS"), "seconds": secs,
            **score(est, d["truth"]), "rhat_max": diag["rhat_max"],
            "divergences": diag["divergences"]}  # fmt: skip


def fit_pymc(d: dict, chains: int, draws: int, config: str | None = None) -> dict:
    import arviz as az
    from pymc_marketing.mmm import MMM, GeometricAdstock, LogisticSaturation
    from pymc_marketing.prior import Prior

    df, truth = d["df"], d["truth"]
    chans = list(truth)
    X = df[[d["date"], *chans, *d["pymc_controls"]]].copy()
    for c in d["pymc_controls"]:  # standardise the controls (PyMC-Marketing does not)
        if c not in ("event_1", "event_2", "holiday", "t"):
            X[c] = (X[c] - X[c].mean()) / X[c].std()
    y = df[d["target"]]
    config, which = None, config or d["pymc_config"]
    if which == "notebook":  # the example notebook's model configuration
        share = X[chans].sum() / X[chans].sum().sum()
        config = {
            "intercept": Prior("Normal", mu=0.5, sigma=0.2),
            "saturation_beta": Prior("HalfNormal", sigma=len(chans) * share.to_numpy()),
            "gamma_control": Prior("Normal", mu=0, sigma=0.05),
            "gamma_fourier": Prior("Laplace", mu=0, b=0.2),
            "likelihood": Prior("Normal", sigma=Prior("HalfNormal", sigma=6)),
        }
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mmm = MMM(date_column=d["date"], channel_columns=chans, control_columns=d["pymc_controls"],
                  adstock=GeometricAdstock(l_max=8), saturation=LogisticSaturation(),
                  yearly_seasonality=d["yearly"], model_config=config)  # fmt: skip
        mmm.fit(X, y, chains=chains, draws=draws, tune=draws, target_accept=TARGET_ACCEPT,
                progressbar=False, random_seed=1,
                cores=min(chains, os.cpu_count() or 1))  # fmt: skip
        contrib = mmm.compute_channel_contribution_original_scale()  # (chain, draw, date, channel)
    secs = time.perf_counter() - t0
    total = contrib.sum("date").stack(sample=("chain", "draw")).transpose("sample", "channel")
    spend = X[chans].sum().to_numpy()
    iroas = total.to_numpy() / spend
    est = {c: (float(iroas[:, i].mean()), float(np.quantile(iroas[:, i], 0.05)),
               float(np.quantile(iroas[:, i], 0.95))) for i, c in enumerate(chans)}  # fmt: skip
    free = [rv.name for rv in mmm.model.free_RVs]
    post = mmm.idata.posterior[[v for v in free if v in mmm.idata.posterior]]
    rhat = float(az.rhat(post).to_array().max())
    div = int(mmm.idata.sample_stats["diverging"].sum())
    tool = "PyMC-Marketing" + (" (notebook priors)" if which == "notebook" else "")
    return {"tool": tool, "seconds": secs, **score(est, truth), "rhat_max": rhat,
            "divergences": div}  # fmt: skip


def batch(n: int, days: int) -> dict:
    from test_batch import make_campaigns

    from spendlab.measure.mmm.batch import fit_campaigns

    df, truth = make_campaigns(n=n, days=days, seed=1)
    t0 = time.perf_counter()
    out = fit_campaigns(df).set_index("campaign")
    secs = time.perf_counter() - t0
    err = np.array([abs(out.loc[c, "iroas"] / t - 1) for c, t in truth.items()])
    return {"campaigns": n, "days": days, "seconds": secs, "median_iroas_error": np.median(err)}


def geo_rows(chains: int, draws: int) -> list[dict]:
    from test_geo import CHANNELS, geo_panel

    from spendlab.measure.mmm import MMMConfig, make_mmm

    df, truth = geo_panel()
    rows = []
    for fast in (True, False):
        cfg = MMMConfig(date="date", target="revenue", channels=CHANNELS, geo="geo", fast=fast,
                        chains=chains, draws=draws, warmup=draws, progress_bar=False)  # fmt: skip
        t0 = time.perf_counter()
        m = make_mmm(cfg).fit(df)
        s = m.summary().set_index("channel")
        secs = time.perf_counter() - t0
        est = {c: (s.loc[c, "iroas_mean"], s.loc[c, "iroas_lo"], s.loc[c, "iroas_hi"])
               for c in CHANNELS}  # fmt: skip
        tr = {c: {"iroas": truth["national"][i]} for i, c in enumerate(CHANNELS)}
        gs = m.geo_summary().pivot(index="geo", columns="channel", values="iroas_mean")
        rmse = np.sqrt(((gs[list(CHANNELS)].to_numpy() - truth["geo"]) ** 2).mean())
        rows.append({"data": "geo panel (20 geos x 104 w x 3 ch)",
                     "tool": "SpendLab geo " + ("fast" if fast else "NUTS"), "seconds": secs,
                     **score(est, tr), "geo_rmse": float(rmse),
                     "rhat_max": m.diagnostics_["rhat_max"],
                     "divergences": m.diagnostics_["divergences"]})  # fmt: skip
        print(rows[-1], flush=True)
    path = Path("/work/shared/data/meridian/geo_media.csv")
    if path.exists():
        df = pd.read_csv(path)
        df["revenue"] = df["conversions"] * df["revenue_per_conversion"]
        chans = tuple(f"Channel{i}_spend" for i in range(4))
        cfg = MMMConfig(date="time", target="revenue", channels=chans, geo="geo", fast=True,
                        controls=("competitor_activity_score_control", "sentiment_score_control"),
                        draws=draws, progress_bar=False)  # fmt: skip
        t0 = time.perf_counter()
        make_mmm(cfg).fit(df).summary()
        rows.append({"data": f"Meridian geo_media ({df.geo.nunique()} geos x 156 w x 4 ch)",
                     "tool": "SpendLab geo fast", "seconds": time.perf_counter() - t0})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000, help="draws and warm-up (tune) each")
    ap.add_argument("--campaigns", type=int, default=1000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--sim-seeds", default="0")
    ap.add_argument("--skip-pymc", action="store_true")
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--geo", action="store_true", help="only the geo-level model rows")
    args = ap.parse_args()
    pd.set_option("display.width", 160)
    if args.geo:
        print(markdown(pd.DataFrame(geo_rows(args.chains, args.draws))))
        return
    if not args.skip_batch:
        print(pd.DataFrame([batch(args.campaigns, args.days)]).to_string(index=False), flush=True)
    seeds = [int(s) for s in args.sim_seeds.split(",") if s != ""]
    rows = []
    for d in datasets(seeds):
        fits = [fit_spendlab(d, args.chains, args.draws, fast=False),
                fit_spendlab(d, 1, args.draws, fast=True)]  # fmt: skip
        if not args.skip_pymc:
            fits.append(fit_pymc(d, args.chains, args.draws))
            if d["pymc_config"] == "notebook":  # and its defaults, as SpendLab runs on its own
                fits.append(fit_pymc(d, args.chains, args.draws, config="default"))
        for f in fits:
            rows.append({"data": d["name"], **f})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    if not args.skip_pymc:
        ref = table[table["tool"].str.startswith("PyMC-Marketing")].groupby("data")["seconds"].min()
        table["speed-up vs PyMC-M"] = ref.reindex(table["data"]).to_numpy() / table["seconds"]
    print(markdown(table))


def markdown(df: pd.DataFrame) -> str:
    """A Markdown table (3 significant digits; no tabulate dependency)."""

    def cell(col: str, v) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "n/a"
        if col.endswith("_err") or col == "median_iroas_error":
            return f"{100 * v:.1f}%"
        if col == "rhat_max":
            return f"{v:.4f}"
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(c, v) for c, v in zip(cols, row, strict=True)) + " |"
              for row in df.itertuples(index=False)]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
