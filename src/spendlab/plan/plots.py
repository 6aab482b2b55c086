"""Plotly figures of planning: allocation bars (before/after), response curves with current and
optimal markers, and the efficiency frontier. The Plan page and reports share them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from spendlab.plan.curves import ResponseCurves

_LAYOUT = {"margin": {"l": 50, "r": 20, "t": 40, "b": 40}, "height": 340,
           "legend": {"orientation": "h", "y": -0.2}}  # fmt: skip


def allocation_bars(
    ids: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "Spend per entity",
) -> go.Figure:
    """Grouped bars: one series per allocation (e.g. current and recommended)."""
    fig = go.Figure()
    for name, values in series.items():
        fig.add_bar(x=list(ids), y=[float(v) for v in values], name=name)
    fig.update_layout(title=title, barmode="group", **_LAYOUT)
    return fig


def response_curves(
    curves: ResponseCurves,
    current: Sequence[float],
    optimal: Sequence[float] | None = None,
    *,
    span: float = 2.5,
    points: int = 80,
    title: str = "Response curves",
) -> go.Figure:
    """Each entity's curve (posterior mean) from 0 to ``span`` x the largest marked spend, with a
    circle at current spend and a star at the optimum."""
    cur = np.asarray(current, dtype=float)
    opt = None if optimal is None else np.asarray(optimal, dtype=float)
    top = np.maximum(cur, 0 if opt is None else opt) * span
    top = np.where(top > 0, top, max(float(top.max()), 1.0))
    grid = np.linspace(0.0, 1.0, points)[:, None] * top[None, :]
    resp = np.array([_mean(curves.response(g)) for g in grid])
    fig = go.Figure()
    colors = [f"hsl({int(360 * k / max(curves.n, 1))},60%,45%)" for k in range(curves.n)]
    for k, i in enumerate(curves.ids):
        fig.add_scatter(x=grid[:, k], y=resp[:, k], mode="lines", name=i,
                        line={"color": colors[k]}, legendgroup=i)  # fmt: skip
    at_cur = _mean(curves.response(cur))
    fig.add_scatter(x=cur, y=at_cur, mode="markers", name="current", text=curves.ids,
                    marker={"symbol": "circle", "size": 10, "color": colors})  # fmt: skip
    if opt is not None:
        fig.add_scatter(x=opt, y=_mean(curves.response(opt)), mode="markers", name="optimal",
                        text=curves.ids,
                        marker={"symbol": "star", "size": 14, "color": colors,
                                "line": {"width": 1, "color": "#222"}})  # fmt: skip
    fig.update_layout(title=title, xaxis_title="spend per period",
                      yaxis_title="response per period", **_LAYOUT)  # fmt: skip
    return fig


def frontier(
    budgets: Sequence[float],
    outcome: Sequence[float],
    lo: Sequence[float] | None = None,
    hi: Sequence[float] | None = None,
    *,
    current: tuple[float, float] | None = None,
    title: str = "Efficiency frontier",
) -> go.Figure:
    """Optimal outcome vs total budget (with its interval band) and the current plan's point."""
    fig = go.Figure()
    b = list(map(float, budgets))
    if lo is not None and hi is not None and any(a != c for a, c in zip(lo, hi, strict=True)):
        fig.add_scatter(x=b + b[::-1], y=list(hi) + list(lo)[::-1], fill="toself",
                        line={"width": 0}, fillcolor="rgba(36,84,214,0.15)",
                        name="interval", hoverinfo="skip")  # fmt: skip
    fig.add_scatter(x=b, y=list(outcome), mode="lines+markers", name="optimal outcome",
                    line={"color": "#2454d6"})  # fmt: skip
    if current is not None:
        fig.add_scatter(x=[current[0]], y=[current[1]], mode="markers", name="current plan",
                        marker={"size": 12, "color": "#d62728", "symbol": "diamond"})  # fmt: skip
    fig.update_layout(title=title, xaxis_title="total budget per period",
                      yaxis_title="outcome per period", **_LAYOUT)  # fmt: skip
    return fig


def _mean(r: np.ndarray) -> np.ndarray:
    return r.mean(axis=0) if r.ndim == 2 else r
