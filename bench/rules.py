"""Rules benchmark: thousands of rules over keyword-day rows, evaluated SpendLab's way (shared
feature tables, one scan, rules as data) versus the naive way (one warehouse query per rule,
as rule engines that turn each rule into its own SQL do), side by side in one run.

Data: ``campaigns`` campaigns x ``keywords`` keywords x ``days`` days, about ``rows`` keyword-day
rows (not every keyword is reported every day), generated with numpy straight into DuckDB (the
simulator is too slow at 20M rows). Timed: ``evaluate`` only (feature tables + rules + actions);
generation is timed and reported apart, with the peak RSS during evaluation. Rules: JOT-style,
each scoped to one campaign, with 1-3 conditions over KPI x analytic x window drawn at random
(seeded).
The naive approach runs on a subset of rules and is extrapolated linearly.

    python bench/rules.py [--keywords 300000] [--campaigns 3000] [--days 90] [--rows 20000000]
                          [--rules 10000] [--naive 10] [--scales 30000,100000]

``--scales`` runs smaller keyword counts first (campaigns and rows scaled in proportion).
"""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time
from datetime import date, timedelta

import ibis
import numpy as np
import pyarrow as pa

from spendlab.automate.rules import evaluate, parse_rules
from spendlab.automate.rules.compile import rule_predicate
from spendlab.automate.rules.evaluate import build_run_tables

START = date(2024, 1, 1)


def make_tables(con, keywords: int, campaigns: int, days: int, rows: int | None = None, seed=0):
    """``ad_performance`` and ``entities`` in DuckDB. Each keyword-day is reported with
    probability ``rows / (keywords x days)`` (a keyword without impressions that day has no
    row), so the table has about ``rows`` rows."""
    rng = np.random.default_rng(seed)
    kw = np.arange(keywords, dtype=np.int64)
    base_clicks = rng.gamma(0.8, 6, keywords)
    cpc = rng.uniform(0.3, 3.0, keywords)
    cvr = rng.beta(1.5, 40, keywords)
    k = np.tile(kw, days)
    d = np.repeat(np.arange(days, dtype=np.int32), keywords)
    if rows is not None and rows < keywords * days:
        keep = rng.random(keywords * days) < rows / (keywords * days)
        k, d = k[keep], d[keep]
        del keep
    n = len(k)
    clicks = rng.poisson(base_clicks[k])
    impressions = clicks * 20 + rng.poisson(5, n)
    spend = np.round(clicks * cpc[k], 2)
    conversions = rng.binomial(clicks, cvr[k]).astype("float64")
    value = np.round(conversions * rng.gamma(4, 20, n), 2)
    t = pa.table(
        {
            "kw": k,
            "day": d,
            "impressions": impressions,
            "clicks": clicks,
            "spend": spend,
            "conversions": conversions,
            "conversion_value": value,
        }
    )
    raw = con.create_table("raw", t)
    ap = raw.mutate(
        date=(ibis.literal(START) + raw.day.cast("int32").as_interval("D")).cast("date"),
        platform=ibis.literal("google_ads"),
        level=ibis.literal("keyword"),
        account_id=(raw.kw % 10).cast("string"),
        campaign_id=(raw.kw % campaigns).cast("string"),
        ad_group_id=(raw.kw % (campaigns * 5)).cast("string"),
        keyword_id=raw.kw.cast("string"),
        ad_id=ibis.literal(""),
        country=ibis.literal(""),
        device=ibis.literal(""),
        campaign_name=ibis.literal("Generic - ").concat((raw.kw % campaigns).cast("string")),
        account_name=ibis.literal("acct"),
        business_unit=ibis.literal("BU").concat((raw.kw % 3).cast("string")),
        code=ibis.literal("C").concat((raw.kw % 30).cast("string")),
        objective=ibis.literal("sales"),
        lifecycle_stage=ibis.literal("acquisition"),
    ).drop("kw", "day")
    ap = con.create_table("ad_performance", ap)
    con.drop_table("raw")
    e = ibis.memtable(pa.table({"kw": kw, "bid": np.round(cpc * 1.2, 2)}))
    ents = con.create_table(
        "entities",
        e.mutate(
            platform=ibis.literal("google_ads"),
            level=ibis.literal("keyword"),
            account_id=(e.kw % 10).cast("string"),
            campaign_id=(e.kw % campaigns).cast("string"),
            ad_group_id=(e.kw % (campaigns * 5)).cast("string"),
            keyword_id=e.kw.cast("string"),
            ad_id=ibis.literal(""),
            status=ibis.literal("enabled"),
            budget=ibis.null().cast("float64"),
            labels=ibis.literal("[]"),
        ).drop("kw"),
    )
    return ap, ents


def make_rules(n: int, campaigns: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    windows = [{"days": 7}, {"days": 14}, {"days": 30}]
    conds = [
        lambda w: {"kpi": "roas", "window": w, "op": ">", "value": float(rng.uniform(1, 6))},
        lambda w: {
            "kpi": "cpa",
            "window": w,
            "op": ">",
            "factor": float(rng.uniform(1.5, 3)),
            "other": {"kpi": "cpa", "level": "campaign", "window": w},
        },  # fmt: skip
        lambda w: {
            "kpi": "spend",
            "window": w,
            "op": ">",
            "factor": 1.2,
            "other": {"kpi": "spend", "window": {**w, "shift": 1}},
        },  # fmt: skip
        lambda w: {"kpi": "clicks", "analytic": "trend", "window": w, "op": ">", "value": 0.1},
        lambda w: {
            "kpi": "conversions",
            "analytic": "days",
            "window": w,
            "op": ">=",
            "value": float(w["days"]),
            "daily": {"op": "==", "value": 0},
        },  # fmt: skip
    ]
    specs = []
    for i in range(n):
        w = windows[rng.integers(len(windows))]
        picks = rng.choice(len(conds), size=rng.integers(1, 4), replace=False)
        specs.append(
            {
                "id": f"r{i}",
                "scope": {"level": "keyword", "campaign": [str(rng.integers(campaigns))]},
                "min_data": {"kpi": "clicks", "window": w, "op": ">=", "value": 5},
                "conditions": {"all": [conds[j](w) for j in picks]},
                "action": {"type": "bid", "value": float(rng.choice([-15, -10, 10, 15]))},
            }
        )
    return parse_rules(specs)


def naive(ap, ents, rules, as_of):
    """One warehouse query per rule: its own aggregation over ad_performance, filtered."""
    n = 0
    for r in rules:
        ap_r = ap.filter(ap.campaign_id.isin(r.scope.campaign))
        tables = build_run_tables(ap_r, ents, [r], as_of)
        ((t, cols),) = tables.values()
        n += int(t.filter(rule_predicate(r, as_of, t, cols)).count().execute())
    return n


class PeakRSS:
    """Peak resident memory of this process (DuckDB included) while the block runs, sampled
    every 20 ms from /proc (Linux)."""

    def __enter__(self) -> PeakRSS:
        self.peak = self._now()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._watch, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._now())

    @staticmethod
    def _now() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux
            return 0


def run(keywords: int, campaigns: int, days: int, rows: int, n_rules: int, n_naive: int) -> dict:
    con = ibis.duckdb.connect(threads=2)
    t0 = time.perf_counter()
    ap, ents = make_tables(con, keywords, campaigns, days, rows)
    gen = time.perf_counter() - t0
    n_rows = int(ap.count().execute())
    rules = make_rules(n_rules, campaigns)
    as_of = START + timedelta(days=days)
    gc.collect()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        ev = evaluate(con, ap, ents, rules, as_of)
        ours = time.perf_counter() - t0
    sub = rules[:n_naive]
    t0 = time.perf_counter()
    naive(ap, ents, sub, as_of)
    per_rule = (time.perf_counter() - t0) / max(len(sub), 1)
    con.disconnect()
    return {
        "rows": n_rows,
        "keywords": keywords,
        "campaigns": campaigns,
        "rules": n_rules,
        "generate_s": gen,
        "spendlab_s": ours,
        "features_s": ev.seconds["features"],
        "rules_s": ev.seconds["rules"],
        "peak_gb": mem.peak / 1e9,
        "actions": len(ev.actions),
        "naive_per_rule_s": per_rule,
        "naive_extrapolated_s": per_rule * n_rules,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--keywords", type=int, default=300_000)
    p.add_argument("--campaigns", type=int, default=3_000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--rows", type=int, default=20_000_000, help="keyword-day rows (about)")
    p.add_argument("--rules", type=int, default=10_000)
    p.add_argument("--naive", type=int, default=10)
    p.add_argument("--scales", default="", help="comma-separated keyword counts to run first")
    a = p.parse_args()
    sizes = [int(x) for x in a.scales.split(",") if x] + [a.keywords]
    print("| rows | keywords | campaigns | rules | generate (s) | SpendLab (s) | of which "
          "features / rules+actions (s) | peak RSS (GB) | actions | naive per rule (s) "
          "| naive, all rules (s, extrapolated) | ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kws in sizes:
        camps = max(1, a.campaigns * kws // a.keywords)
        rows = a.rows * kws // a.keywords
        r = run(kws, camps, a.days, rows, a.rules, a.naive)
        ratio = r["naive_extrapolated_s"] / r["spendlab_s"]
        print(
            f"| {r['rows']:,} | {r['keywords']:,} | {r['campaigns']:,} | {r['rules']:,} | "
            f"{r['generate_s']:.0f} | **{r['spendlab_s']:.1f}** | "
            f"{r['features_s']:.1f} / {r['rules_s']:.1f} | {r['peak_gb']:.1f} | "
            f"{r['actions']:,} | {r['naive_per_rule_s']:.3f} | "
            f"{r['naive_extrapolated_s']:.0f} | {ratio:.0f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
