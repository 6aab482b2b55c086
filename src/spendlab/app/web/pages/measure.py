"""Measure: the marketing-mix model (runs, fit, results: see ``measure_mmm``) and multi-touch
attribution on the workspace's journeys, with all models compared against last touch."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from spendlab.app.web.pages import measure_mmm
from spendlab.app.web.pages.context import PageContext
from spendlab.app.web.session import current_user
from spendlab.errors import SpendLabError
from spendlab.measure.attribution import MODELS, compare_models, paths_and_spend, run_attribution
from spendlab.measure.attribution.plots import model_comparison, sankey_top_journeys


def layout(ctx: PageContext) -> html.Div:
    return html.Div(
        [
            html.H2("Measure"),
            measure_mmm.section(ctx),
            html.Div(
                className="panel",
                children=[
                    html.H3("Attribution"),
                    html.P(
                        "Credits conversions to channels from user journeys (touchpoints and "
                        "conversions). Attribution is not incrementality: a channel seen just "
                        "before conversions is credited even if it caused none.",
                        className="muted",
                    ),
                    html.Div(
                        className="form-row",
                        children=[
                            dcc.Dropdown(
                                id="at-model",
                                options=[{"label": m, "value": m} for m in MODELS],
                                value="markov",
                                clearable=False,
                                style={"width": "200px"},
                            ),
                            dcc.Input(
                                id="at-lookback",
                                type="number",
                                value=30,
                                min=1,
                                max=365,
                                style={"width": "90px"},
                            ),
                            html.Span("days lookback", className="muted"),
                            html.Button("Run", id="at-run", className="primary"),
                        ],
                    ),
                    dcc.Loading(html.Div(id="at-result")),
                ],
            ),
        ]
    )


def _credits_table(credits: list[dict[str, Any]], level: float | None) -> html.Table:
    has_iv = bool(credits) and "conversions_lo" in credits[0]
    head = ["Channel", "Conversions", "Value", "Share"]
    if has_iv:
        head.append(f"{level:.0%} interval (conversions)" if level else "Interval")
    rows = []
    for c in credits:
        cells = [
            html.Td(c["channel"]),
            html.Td(f"{c['conversions']:,.1f}"),
            html.Td(f"{c['value']:,.2f}"),
            html.Td(f"{c['share']:.1%}"),
        ]
        if has_iv:
            cells.append(html.Td(f"{c['conversions_lo']:,.1f} to {c['conversions_hi']:,.1f}"))
        rows.append(html.Tr(cells))
    return html.Table(
        [html.Tr([html.Th(h) for h in head]), *rows], className="report", id="at-credits"
    )


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _money_table(credits: list[dict[str, Any]], level: float | None) -> html.Table:
    """Spend, CPA and ROAS per channel under the credits (the baseline row has no spend)."""
    rows_in = [c for c in credits if c.get("spend") is not None]
    has_iv = bool(rows_in) and "cpa_lo" in rows_in[0]
    iv = f" ({level:.0%} interval)" if has_iv and level else ""
    head = ["Channel", "Spend", "CPA", *([f"CPA{iv}"] if has_iv else []), "ROAS"]
    head += [f"ROAS{iv}"] if has_iv else []
    rows = []
    for c in rows_in:
        cells = [html.Td(c["channel"]), html.Td(f"{c['spend']:,.2f}")]
        cells.append(html.Td(_fmt(c["cpa"], ",.2f")))
        if has_iv:
            cells.append(html.Td(f"{_fmt(c['cpa_lo'], ',.2f')} to {_fmt(c['cpa_hi'], ',.2f')}"))
        cells.append(html.Td(_fmt(c["roas"], ",.3f")))
        if has_iv:
            cells.append(html.Td(f"{_fmt(c['roas_lo'], ',.3f')} to {_fmt(c['roas_hi'], ',.3f')}"))
        rows.append(html.Tr(cells))
    return html.Table(
        [html.Tr([html.Th(h) for h in head]), *rows], className="report", id="at-money"
    )


def _roas_bars(credits: list[dict[str, Any]]) -> go.Figure:
    """Credited ROAS per channel with the bootstrap interval as whiskers."""
    rows = [c for c in credits if c.get("roas") is not None]
    has_iv = bool(rows) and "roas_lo" in rows[0]
    error = None
    if has_iv:
        error = {
            "type": "data",
            "array": [(c["roas_hi"] or c["roas"]) - c["roas"] for c in rows],
            "arrayminus": [c["roas"] - (c["roas_lo"] or c["roas"]) for c in rows],
        }
    fig = go.Figure(
        go.Bar(x=[c["channel"] for c in rows], y=[c["roas"] for c in rows], error_y=error)
    )
    fig.update_layout(
        height=320, title="Credited ROAS (value / spend) per channel", yaxis_title="ROAS"
    )
    return fig


def register(app, state) -> None:
    measure_mmm.register(app, state)

    @app.callback(
        Output("at-result", "children"),
        Input("at-run", "n_clicks"),
        State("at-model", "value"),
        State("at-lookback", "value"),
        State("ws-select", "value"),
        prevent_initial_call=True,
    )
    def _run(_n, model, lookback, ws_id):
        current_user(state)
        try:
            ws = state.workspaces.handle(ws_id)
            paths, spend = paths_and_spend(ws, float(lookback or 30))
            result = run_attribution(paths, model, bootstrap=100, seed=0, spend=spend)
            comparison = compare_models(paths)
        except SpendLabError as e:
            return html.Div(str(e), className="error", id="at-error")
        bars = model_comparison(comparison)
        bars.update_layout(height=380, title="Share of conversions by model")
        sankey = sankey_top_journeys(paths)
        sankey.update_layout(height=380)
        return html.Div(
            [
                html.P(
                    f"{result['model']}: {result['total_conversions']:,.0f} conversions credited "
                    f"(point estimates; intervals from 100 bootstrap draws).",
                    className="muted",
                ),
                _credits_table(result["channels"], result.get("interval_level")),
                html.H4("Spend, CPA and ROAS of the credited conversions"),
                html.P(
                    "Spend from ad_performance. These are attributed, not incremental, CPA and "
                    "ROAS: calibrate with lift tests or MMM iROAS (CLI --lift/--iroas, REST "
                    "calibration) before moving budget.",
                    className="muted",
                ),
                _money_table(result["channels"], result.get("interval_level")),
                dcc.Graph(figure=_roas_bars(result["channels"]), id="at-roas"),
                dcc.Graph(figure=bars),
                dcc.Graph(figure=sankey),
            ]
        )
