"""Plotly figures of a fitted ``MMM`` (the dashboard's Measure page uses these). Every caption
states the interval width and that the line is the posterior mean."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go


def _pct(model: Any) -> int:
    return int(round(model.config.interval * 100))


def actual_vs_fitted(model: Any) -> go.Figure:
    f = model.fitted()
    fig = go.Figure([
        go.Scatter(x=f["date"], y=f["hi"], line={"width": 0}, showlegend=False),
        go.Scatter(x=f["date"], y=f["lo"], fill="tonexty", line={"width": 0},
                   name=f"{_pct(model)}% interval"),
        go.Scatter(x=f["date"], y=f["mean"], name="fitted (mean)"),
        go.Scatter(x=f["date"], y=f["actual"], mode="markers", name="actual"),
    ])  # fmt: skip
    return fig.update_layout(title="Actual vs fitted", yaxis_title=model.config.target)


def contribution_waterfall(model: Any) -> go.Figure:
    c = model.contributions()
    n = model.prep_.n_train
    dates = set(model.prep_.dates[:n])
    tot = c[c["date"].isin(dates)].groupby("component", sort=False)["mean"].sum()
    fig = go.Figure(go.Waterfall(x=[*tot.index, "total"], y=[*tot.to_numpy(), 0.0],
                                 measure=["relative"] * len(tot) + ["total"]))  # fmt: skip
    return fig.update_layout(title="Contribution to the outcome over the period (means)")


def contribution_area(model: Any) -> go.Figure:
    c = model.contributions()
    fig = go.Figure()
    for name, g in c.groupby("component", sort=False):
        fig.add_trace(go.Scatter(x=g["date"], y=g["mean"], stackgroup="one", name=name))
    return fig.update_layout(title="Contributions over time (means)")


def iroas_intervals(model: Any) -> go.Figure:
    s = model.summary()
    fig = go.Figure(go.Scatter(
        x=s["iroas_mean"], y=s["channel"], mode="markers",
        error_x={"type": "data", "symmetric": False, "array": s["iroas_hi"] - s["iroas_mean"],
                 "arrayminus": s["iroas_mean"] - s["iroas_lo"]}, name="iROAS (mean)"))  # fmt: skip
    fig.add_vline(x=1.0, line_dash="dash", annotation_text="break-even")
    return fig.update_layout(title=f"iROAS per channel (mean, {_pct(model)}% interval)")


def response_curves(model: Any) -> go.Figure:
    r = model.response_curves()
    fig = go.Figure()
    for ch, g in r.groupby("channel"):
        fig.add_trace(go.Scatter(x=g["spend"], y=g["hi"], line={"width": 0}, showlegend=False))
        fig.add_trace(go.Scatter(x=g["spend"], y=g["lo"], fill="tonexty", line={"width": 0},
                                 showlegend=False))  # fmt: skip
        fig.add_trace(go.Scatter(x=g["spend"], y=g["mean"], name=ch))
        cur = g[g["current"]]
        fig.add_trace(go.Scatter(x=cur["spend"], y=cur["mean"], mode="markers",
                                 name=f"{ch} current"))  # fmt: skip
    title = f"Response curves (mean, {_pct(model)}% interval)"
    return fig.update_layout(
        title=title, xaxis_title="spend per period", yaxis_title="response per period"
    )


def adstock(model: Any) -> go.Figure:
    a = model.adstock()
    fig = go.Figure()
    for ch, g in a.groupby("channel"):
        fig.add_trace(go.Bar(x=g["lag"], y=g["mean"], name=ch,
                             error_y={"type": "data", "symmetric": False,
                                      "array": g["hi"] - g["mean"],
                                      "arrayminus": g["mean"] - g["lo"]}))  # fmt: skip
    return fig.update_layout(title="Carry-over weight by lag (mean)", xaxis_title="lag (periods)")
