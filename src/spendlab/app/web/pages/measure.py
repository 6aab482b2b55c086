"""Measure: the marketing-mix model (runs, fit, results: see ``measure_mmm``) and multi-touch
attribution on the workspace's journeys, with all models compared against last touch."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc, html

from spendlab.app.api.routes.attribution import paths_of
from spendlab.app.web.pages import PageContext, measure_mmm
from spendlab.app.web.session import current_user
from spendlab.errors import SpendLabError
from spendlab.measure.attribution import MODELS, compare_models, make_model
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
            paths = paths_of(state, ws_id, float(lookback or 30), "channel", [])
            fitted = make_model(model).fit(paths)
            fitted.bootstrap(100, seed=0)
            result = fitted.to_dict()
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
                dcc.Graph(figure=bars),
                dcc.Graph(figure=sankey),
            ]
        )
