"""Markov attribution: SpendLab (exact absorbing chain) vs ChannelAttribution (simulation).

    python bench/attribution.py [--sizes 1000000 10000000] [--orders 1 2]

For each size it draws journeys over 12 channels (a Markov chain of touches, conversion depending
on the channels seen), and writes them twice: *raw* (one row per journey: path, conversions 0/1,
nulls 1 - conversions) and *aggregated* (one row per distinct path). Each tool then runs in its
own fresh subprocess on the same Parquet file (loaded to pandas, and each tool warmed up once on
its first 1,000 rows, before the clock starts): wall time of the attribution call, peak RSS of
the process (VmHWM) and the peak increase over the peak after loading. Errors are against an
independent exact solution computed here with dense linear algebra on the aggregated paths
(dict-built chain, numpy.linalg.solve): the largest relative error over channels of the credited
conversions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

CHANNELS = [
    "paid_search", "paid_social", "display", "email", "affiliate", "video",
    "organic", "referral", "direct", "push", "sms", "retargeting",
]  # fmt: skip
MAX_LEN = 10


def make_journeys(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = len(CHANNELS)
    start = rng.dirichlet(np.ones(k) * 0.7)
    trans = rng.dirichlet(np.ones(k) * 0.3, size=k)
    effect = rng.normal(0.3, 0.4, k)
    length = np.minimum(rng.geometric(0.45, n), MAX_LEN)
    steps = np.full((n, MAX_LEN), -1, dtype=np.int64)
    cur = rng.choice(k, n, p=start)
    steps[:, 0] = cur
    cum = np.cumsum(trans, axis=1)
    for j in range(1, MAX_LEN):
        u = rng.random(n)
        cur = np.minimum((u[:, None] > cum[cur]).sum(axis=1), k - 1)
        steps[:, j] = np.where(length > j, cur, -1)
    seen = np.zeros((n, k), dtype=bool)
    for j in range(MAX_LEN):
        ok = steps[:, j] >= 0
        seen[np.flatnonzero(ok), steps[ok, j]] = True
    eta = -3.0 + seen @ effect + 0.1 * length
    conv = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int64)
    code = np.zeros(n, dtype=np.int64)
    for j in range(MAX_LEN):
        code = code * (k + 1) + steps[:, j] + 1
    uniq, inv = np.unique(code, return_inverse=True)
    names = np.empty(uniq.size, dtype=object)
    ustep = steps[np.unique(inv, return_index=True)[1]]
    for i, row in enumerate(ustep):
        names[i] = " > ".join(CHANNELS[c] for c in row if c >= 0)
    return pd.DataFrame({"path": names[inv], "conversions": conv, "nulls": 1 - conv})


def exact_credits(agg: pd.DataFrame, order: int) -> dict[str, float]:
    """Independent exact solution: states as tuples of the last ``order`` channels, dense
    solve of (I - Q) x = r per removal."""
    counts: dict = defaultdict(lambda: defaultdict(float))
    for path, c, nl in zip(agg["path"], agg["conversions"], agg["nulls"], strict=True):
        chans = path.split(" > ")
        states = [tuple(chans[max(0, i - order + 1) : i + 1]) for i in range(len(chans))]
        prev = ("(start)",)
        for s in states:
            counts[prev][s] += c + nl
            prev = s
        counts[prev]["(conversion)"] += c
        counts[prev]["(null)"] += nl
    names = sorted(counts, key=str)
    idx = {s: i for i, s in enumerate(names)}
    q = np.zeros((len(names), len(names)))
    r = np.zeros(len(names))
    for s, out in counts.items():
        tot = sum(out.values())
        for t, w in out.items():
            if t == "(conversion)":
                r[idx[s]] = w / tot
            elif t != "(null)":
                q[idx[s], idx[t]] = w / tot
    s0 = idx[("(start)",)]

    def p_conv(keep: np.ndarray) -> float:
        ii = np.flatnonzero(keep)
        x = np.linalg.solve(np.eye(ii.size) - q[np.ix_(ii, ii)], r[ii])
        return float(x[list(ii).index(s0)])

    full = p_conv(np.ones(len(names), dtype=bool))
    re = {}
    for ch in sorted({c for s in names for c in s if c != "(start)"}):
        keep = np.array([ch not in s for s in names])
        re[ch] = 1 - p_conv(keep) / full
    total = float(agg["conversions"].sum())
    z = sum(re.values())
    return {ch: total * v / z for ch, v in re.items()}


CHILD = r"""
import json, resource, sys, time
import pandas as pd
tool, file, order = sys.argv[1], sys.argv[2], int(sys.argv[3])
df = pd.read_parquet(file)
def rss():
    # VmHWM: this process's own peak (ru_maxrss can carry the parent's peak across fork/exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
warm = df.head(1000)  # one-time lazy initialisation of either library stays out of the numbers
if tool == "spendlab":
    from spendlab.measure.attribution import MarkovAttribution, from_frame
    MarkovAttribution(order=order).fit(from_frame(warm))
    base = rss()
    t = time.perf_counter()
    m = MarkovAttribution(order=order).fit(from_frame(df))
    wall = time.perf_counter() - t
    credits = dict(zip(m.credits_["channel"], m.credits_["conversions"]))
else:
    import ChannelAttribution as ca
    ca.markov_model(warm, "path", "conversions", var_null="nulls", order=order, verbose=0,
                    flg_pro=False, ncore=1)
    base = rss()
    t = time.perf_counter()
    r = ca.markov_model(df, "path", "conversions", var_null="nulls", order=order,
                        verbose=0, flg_pro=False, ncore=1)
    wall = time.perf_counter() - t
    credits = dict(zip(r["channel_name"], r["total_conversions"]))
print(json.dumps({"wall": wall, "peak_mb": rss(), "extra_mb": rss() - base, "credits": credits}))
"""


def run_child(tool: str, file: Path, order: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, tool, str(file), str(order)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def max_rel_error(credits: dict, exact: dict) -> float:
    return max(abs(float(credits.get(ch, 0.0)) - v) / v for ch, v in exact.items() if v > 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--orders", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            t = time.perf_counter()
            raw = make_journeys(n)
            agg = raw.groupby("path", as_index=False)[["conversions", "nulls"]].sum()
            files = {
                "raw": Path(tmp) / f"raw_{n}.parquet",
                "aggregated": Path(tmp) / f"agg_{n}.parquet",
            }
            raw.to_parquet(files["raw"])
            agg.to_parquet(files["aggregated"])
            made = time.perf_counter() - t
            print(f"# {n:,} journeys, {len(agg):,} distinct paths, "
                  f"{int(raw.conversions.sum()):,} conversions ({made:.0f} s to make)",
                  flush=True)  # fmt: skip
            del raw
            for order in args.orders:
                exact = exact_credits(agg, order)
                for kind, file in files.items():
                    res = {
                        tool: run_child(tool, file, order)
                        for tool in ("channelattribution", "spendlab")
                    }
                    peer, ours = res["channelattribution"], res["spendlab"]
                    row = {
                        "journeys": n, "input": kind, "order": order,
                        "peer_s": peer["wall"], "spendlab_s": ours["wall"],
                        "speedup": peer["wall"] / ours["wall"],
                        "peer_peak_mb": peer["peak_mb"], "spendlab_peak_mb": ours["peak_mb"],
                        "peer_extra_mb": peer["extra_mb"], "spendlab_extra_mb": ours["extra_mb"],
                        "peer_err": max_rel_error(peer["credits"], exact),
                        "spendlab_err": max_rel_error(ours["credits"], exact),
                    }  # fmt: skip
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    print()
    print("| journeys | input | order | ChannelAttribution s | SpendLab s | speed-up | "
          "peak RSS MB (CA / SL) | peak over loaded MB (CA / SL) | max rel. error CA | "
          "max rel. error SpendLab |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['journeys']:,} | {r['input']} | {r['order']} | {r['peer_s']:.2f} | "
            f"{r['spendlab_s']:.2f} | {r['speedup']:.1f}x | {r['peer_peak_mb']:.0f} / "
            f"{r['spendlab_peak_mb']:.0f} | {r['peer_extra_mb']:.0f} / "
            f"{r['spendlab_extra_mb']:.0f} | "
            f"{r['peer_err']:.2e} | {r['spendlab_err']:.2e} |"
        )


if __name__ == "__main__":
    main()
