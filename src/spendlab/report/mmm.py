"""One-page MMM report (PNG or PDF) with matplotlib: fit, iROAS, shares, response curves, health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from spendlab.errors import ConfigError


def write_report(model: Any, out: str | Path) -> Path:
    """Write the one-pager for a fitted ``MMM`` to ``out`` (``.png`` or ``.pdf``)."""
    out = Path(out)
    if out.suffix.lower() not in (".png", ".pdf"):
        raise ConfigError(f"report file {out.name!r} must end in .png or .pdf")
    pct = int(round(model.config.interval * 100))
    fig, axes = plt.subplots(3, 2, figsize=(11, 14))
    fig.suptitle(f"Marketing-mix model: {model.config.target} "
                 f"(means, {pct}% intervals)", fontsize=14)  # fmt: skip
    fitted = model.fitted()
    ax = axes[0, 0]
    ax.fill_between(fitted["date"], fitted["lo"], fitted["hi"], alpha=0.3, label=f"{pct}% band")
    ax.plot(fitted["date"], fitted["mean"], label="fitted")
    ax.plot(fitted["date"], fitted["actual"], ".", ms=3, color="k", label="actual")
    ax.set_title("Actual vs fitted")
    ax.legend(fontsize=8)
    s = model.summary()
    ax = axes[0, 1]
    y = range(len(s))
    ax.errorbar(s["iroas_mean"], y, xerr=[s["iroas_mean"] - s["iroas_lo"],
                s["iroas_hi"] - s["iroas_mean"]], fmt="o")  # fmt: skip
    ax.axvline(1.0, color="r", ls="--", label="break-even (iROAS = 1)")
    ax.set_yticks(list(y), s["channel"])
    ax.set_title("iROAS per channel")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    w = 0.4
    ax.barh([i - w / 2 for i in y], s["spend_share"], height=w, label="share of spend")
    ax.barh([i + w / 2 for i in y], s["contribution_share"], height=w, label="share of effect")
    ax.set_yticks(list(y), s["channel"])
    ax.set_title("Share of spend vs share of effect")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    contrib = model.contributions().pivot(index="date", columns="component", values="mean")
    ax.stackplot(contrib.index, contrib.T.to_numpy(), labels=contrib.columns)
    ax.set_title("Contributions over time")
    ax.legend(fontsize=7, loc="upper left")
    ax = axes[2, 0]
    for ch, g in model.response_curves().groupby("channel"):
        ax.plot(g["spend"], g["mean"], label=ch)
        ax.fill_between(g["spend"], g["lo"], g["hi"], alpha=0.2)
    ax.set_xlabel("spend per period")
    ax.set_ylabel(f"{model.config.target} per period")
    ax.set_title("Response curves (steady state)")
    ax.legend(fontsize=8)
    ax = axes[2, 1]
    ax.axis("off")
    card = model.health()
    lines = [f"{r.status:6s} {r.check}: {_fmt(r.value)}  {r.advice}" for r in card.itertuples()]
    d = model.diagnostics_
    lines += ["", f"method {d['method']}, fit {model.fit_seconds_:.1f} s"]
    ax.text(0, 1, "Model health\n\n" + "\n".join(lines), va="top", family="monospace", fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _fmt(v: Any) -> str:
    try:
        return f"{float(v):.3g}"
    except (TypeError, ValueError):
        return "n/a"
