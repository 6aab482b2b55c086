"""Plotly figures for attribution (the web page and reports call these; no I/O here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from spendlab.measure.attribution.markov import MarkovChain
from spendlab.measure.attribution.paths import PathCounts


def sankey_top_journeys(paths: PathCounts, *, top: int = 20, max_steps: int = 5) -> go.Figure:
    """Sankey of the ``top`` paths by journeys (conversions + nulls): nodes are (step, channel),
    the last node of a path flows to ``conversion`` and ``null`` by its counts."""
    journeys = paths.conversions + paths.nulls
    order = np.argsort(-journeys)[:top]
    labels: list[str] = []
    index: dict[tuple[int, str], int] = {}

    def node(step: int, name: str) -> int:
        key = (step, name)
        if key not in index:
            index[key] = len(labels)
            labels.append(name)
        return index[key]

    links: dict[tuple[int, int], float] = {}
    end_conv, end_null = node(-1, "conversion"), node(-1, "null")
    for i in order:
        chans = paths.path(int(i))[:max_steps]
        nodes = [node(k, c) for k, c in enumerate(chans)]
        for a, b in zip(nodes[:-1], nodes[1:], strict=True):
            links[(a, b)] = links.get((a, b), 0.0) + journeys[i]
        for end, w in ((end_conv, paths.conversions[i]), (end_null, paths.nulls[i])):
            if w > 0:
                links[(nodes[-1], end)] = links.get((nodes[-1], end), 0.0) + w
    src, dst, val = (
        zip(*[(a, b, v) for (a, b), v in links.items()], strict=True) if links else ((), (), ())
    )
    fig = go.Figure(
        go.Sankey(
            node={"label": labels, "pad": 12},
            link={"source": list(src), "target": list(dst), "value": list(val)},
        )
    )
    fig.update_layout(title=f"Top {len(order)} journeys (first {max_steps} steps)")
    return fig


def transition_heatmap(chain: MarkovChain) -> go.Figure:
    """Transition probabilities of a fitted chain (``MarkovAttribution.chain_``)."""
    t = chain.transition_frame()
    wide = t.pivot_table(index="from", columns="to", values="probability", fill_value=0.0)
    fig = go.Figure(
        go.Heatmap(
            z=wide.to_numpy(),
            x=list(wide.columns),
            y=list(wide.index),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "P(next)"},
        )
    )
    fig.update_layout(title=f"Transition matrix (order {chain.order})", yaxis_autorange="reversed")
    return fig


def model_comparison(report: pd.DataFrame, *, metric: str = "share") -> go.Figure:
    """Grouped bars per channel, one per model (``compare_models`` output), with error bars when
    the report has ``{metric}_lo``/``{metric}_hi`` (bootstrap percentile intervals)."""
    fig = go.Figure()
    for model, g in report.groupby("model", sort=False):
        err = None
        if f"{metric}_lo" in g:
            err = {
                "type": "data",
                "symmetric": False,
                "array": (g[f"{metric}_hi"] - g[metric]).to_numpy(),
                "arrayminus": (g[metric] - g[f"{metric}_lo"]).to_numpy(),
            }
        fig.add_bar(name=str(model), x=g["channel"], y=g[metric], error_y=err)
    caption = " (bars: point fit; whiskers: bootstrap percentile interval)" if err else ""
    fig.update_layout(barmode="group", title=f"Attributed {metric} by model{caption}")
    return fig


def path_length_histogram(paths: PathCounts) -> go.Figure:
    """Journeys by number of touches, converting and not."""
    lengths = paths.lengths
    top = int(lengths.max()) if lengths.size else 0
    x = np.arange(1, top + 1)
    conv = np.bincount(lengths, weights=paths.conversions, minlength=top + 1)[1:]
    nulls = np.bincount(lengths, weights=paths.nulls, minlength=top + 1)[1:]
    fig = go.Figure([go.Bar(name="converting", x=x, y=conv), go.Bar(name="null", x=x, y=nulls)])
    fig.update_layout(barmode="stack", title="Path length", xaxis_title="touches")
    return fig


def time_to_conversion_histogram(journeys: pd.DataFrame, *, bins: int = 30) -> go.Figure:
    """Days from first touch to conversion of converting journeys (``journey_table`` output)."""
    j = journeys[journeys["conversions"] > 0]
    days = (pd.to_datetime(j["end"]) - pd.to_datetime(j["first_touch"])).dt.total_seconds() / 86400
    fig = go.Figure(go.Histogram(x=days, y=j["conversions"], histfunc="sum", nbinsx=bins))
    fig.update_layout(title="Time to conversion", xaxis_title="days from first touch")
    return fig
