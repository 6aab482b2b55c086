"""Plotly figures of the rules domain (the Automate page and reports use them)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def actions_per_day_figure(per_day: pd.DataFrame) -> go.Figure:
    """Stacked bars of actions per day by kind (from ``monitor.actions_per_day``)."""
    fig = go.Figure()
    for kind, g in per_day.groupby("action"):
        fig.add_bar(x=g["day"], y=g["n"], name=str(kind))
    fig.update_layout(barmode="stack", title="Actions per day", xaxis_title="day",
                      yaxis_title="actions")  # fmt: skip
    return fig


def actions_per_weekday_figure(per_weekday: pd.DataFrame) -> go.Figure:
    """Stacked bars of actions per weekday (from ``monitor.actions_per_weekday``)."""
    fig = go.Figure()
    for kind, g in per_weekday.groupby("action"):
        fig.add_bar(x=[WEEKDAYS[int(w)] for w in g["weekday"]], y=g["n"], name=str(kind))
    fig.update_layout(barmode="stack", title="Actions per weekday", yaxis_title="actions",
                      xaxis={"categoryorder": "array", "categoryarray": WEEKDAYS})  # fmt: skip
    return fig


def effectiveness_figure(effectiveness: pd.DataFrame, kpi: str = "roas") -> go.Figure:
    """Mean KPI before vs after per rule (from ``monitor.rule_effectiveness``)."""
    fig = go.Figure()
    fig.add_bar(x=effectiveness["rule_id"], y=effectiveness["before"], name=f"{kpi} before")
    fig.add_bar(x=effectiveness["rule_id"], y=effectiveness["after"], name=f"{kpi} after")
    fig.update_layout(barmode="group", title=f"Rule effectiveness: mean {kpi} before and after "
                      "each action (same-length windows)", yaxis_title=kpi)  # fmt: skip
    return fig


def before_after_figure(effects: pd.DataFrame, kpi: str = "roas") -> go.Figure:
    """One point per executed action: KPI before (x) vs after (y), with the diagonal."""
    fig = go.Figure()
    for rule, g in effects.groupby("rule_id"):
        fig.add_scatter(x=g["kpi_before"], y=g["kpi_after"], mode="markers", name=str(rule))
    hi = float(pd.concat([effects.kpi_before, effects.kpi_after]).replace(
        [float("inf")], float("nan")).max() or 1)  # fmt: skip
    fig.add_scatter(x=[0, hi], y=[0, hi], mode="lines", name="no change",
                    line={"dash": "dot", "color": "grey"})  # fmt: skip
    fig.update_layout(title=f"{kpi} before vs after each action", xaxis_title="before",
                      yaxis_title="after")  # fmt: skip
    return fig
