"""Plan: what-if sliders with live predictions, the optimizer with constraints, before/after
bars, response curves with current and optimal markers, saved scenarios side by side and the
efficiency frontier, all on the workspace's active curve set. Viewers look; analysts save.

The page calls :mod:`spendlab.plan.service` (the plan context, the saved scenarios, saving one)
with the workspace's handle; the live predictions and the optimizer run on the curve set and
current spend the page was built from (kept in ``plan-data``)."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, dcc, html, no_update

from spendlab.app.store import Role
from spendlab.app.web.pages.context import PageContext
from spendlab.app.web.session import allowed, current_user
from spendlab.errors import NotFittedError, SpendLabError
from spendlab.plan import plots, service
from spendlab.plan.constraints import Constraints
from spendlab.plan.frontier import efficiency_frontier
from spendlab.plan.scenarios import build_scenario, compare_table, predict

SLIDER = "plan-slider"


def money(v: float | None) -> str:
    return "–" if v is None or v != v else f"{v:,.2f}"


def ratio(v: float | None) -> str:
    return "–" if v is None or v != v else f"{v:.3f}"


def _iv(v: dict[str, Any]) -> str:
    if v["mean"] is None:
        return "–"
    if v["lo"] == v["hi"]:
        return money(v["mean"])
    return f"{money(v['mean'])} ({money(v['lo'])} to {money(v['hi'])})"


def _empty(message: str) -> html.Div:
    return html.Div(
        [
            html.H2("Plan"),
            html.Div(
                className="empty",
                id="empty-plan",
                children=[
                    html.H3("Plan is not configured for this workspace yet"),
                    html.P(message),
                    html.Ol(
                        [
                            html.Li("Fit a marketing-mix model (see Measure), or"),
                            html.Li(
                                [
                                    "import curves: ",
                                    html.Code(
                                        "spendlab plan curves import CURVES.json --name NAME "
                                        "--workspace PATH"
                                    ),
                                ]
                            ),
                        ]
                    ),
                ],
            ),
        ]
    )


def _slider_max(v: float, total: float, n: int) -> float:
    """Three times current spend, at least the average entity's spend (zero-spend entities too)."""
    return float(max(10.0, round(max(3 * v, total / max(n, 1)), -1)))


def layout(ctx: PageContext) -> html.Div:
    try:
        ws = ctx.state.workspaces.handle(ctx.workspace_id)
        pc = service.context(ws)
    except NotFittedError as e:
        return _empty(str(e))
    cs = pc.cs
    curves = cs.curves()
    ids = curves.ids
    cur = [pc.current[i] for i in ids]
    total = sum(cur)
    can_save = ctx.user.role.allows(Role.ANALYST)
    data = {"ws": ctx.workspace_id, "cs": cs.id, "current": pc.current, "period": cs.period}
    draws = curves.draws
    caption = (
        f"Curve set {cs.name!r} ({cs.source}); spend and outcome per {cs.period}. Current spend: "
        f"average of {pc.window[0]} to {pc.window[1]}. " if pc.window else
        f"Curve set {cs.name!r} ({cs.source}); spend and outcome per {cs.period}. "
    ) + (
        f"Point estimates are posterior means over {draws} draws with 90% intervals."
        if draws else "Point estimates (no posterior draws: no intervals)."
    )  # fmt: skip
    sliders = [
        html.Div(
            className="form-row",
            id=f"plan-slider-row-{k}",
            children=[
                html.Span(i, style={"width": "160px", "fontWeight": 600}),
                html.Div(
                    dcc.Slider(
                        id={"type": SLIDER, "index": i},
                        min=0,
                        max=_slider_max(cur[k], total, len(ids)),
                        step=1,
                        value=cur[k],
                        marks=None,
                        updatemode="mouseup",
                    ),
                    style={"flex": "1", "minWidth": "320px"},
                ),
                html.Span(f"current {money(cur[k])}", className="muted"),
            ],
        )
        for k, i in enumerate(ids)
    ]
    limits = [
        html.Tr(
            [
                html.Td(i),
                html.Td(money(cur[k])),
                html.Td(
                    dcc.Input(
                        id={"type": "plan-min", "index": i},
                        type="number",
                        min=0,
                        placeholder="no limit",
                        style={"width": "160px"},
                    )
                ),
                html.Td(
                    dcc.Input(
                        id={"type": "plan-max", "index": i},
                        type="number",
                        min=0,
                        placeholder="no limit",
                        style={"width": "160px"},
                    )
                ),
            ]
        )  # fmt: skip
        for k, i in enumerate(ids)
    ]
    front = efficiency_frontier(
        curves, max_budget=max(2 * total, 1.0), points=21, current=cur, max_draws=50
    )
    now = predict(curves, cur)
    fr = front.frame
    ffig = plots.frontier(
        fr["budget"], fr["outcome"], fr["lo"], fr["hi"],
        current=(total, now["outcome"]["mean"]),
        title=f"Efficiency frontier: best outcome per {cs.period} at each total budget",
    )  # fmt: skip
    return html.Div(
        [
            html.H2("Plan"),
            dcc.Store(id="plan-data", data=data),
            html.P(caption, className="muted", id="plan-caption"),
            html.Div(
                className="panel",
                children=[
                    html.H3("What if: move the sliders"),
                    *sliders,
                    html.Div(id="plan-live", className="cards"),
                    dcc.Graph(id="plan-live-bars"),
                    html.Div(
                        className="form-row",
                        children=[
                            dcc.Input(
                                id="plan-name",
                                placeholder="Scenario name",
                                maxLength=200,
                                disabled=not can_save,
                            ),  # fmt: skip
                            html.Button(
                                "Save scenario",
                                id="plan-save",
                                className="primary",
                                disabled=not can_save,
                            ),  # fmt: skip
                            html.Span(
                                ""
                                if can_save
                                else "Viewers can look; the analyst role saves scenarios.",
                                className="muted",
                                id="plan-save-ro",
                            ),
                            html.Span(id="plan-save-msg"),
                        ],
                    ),
                ],
            ),
            html.Div(
                className="panel",
                children=[
                    html.H3("Optimizer"),
                    html.Div(
                        className="form-row",
                        children=[
                            html.Span("Budget per " + cs.period),
                            dcc.Input(
                                id="plan-budget",
                                type="number",
                                min=0,
                                value=round(total, 2),
                                style={"width": "140px"},
                            ),  # fmt: skip
                            dcc.Dropdown(
                                id="plan-goal",
                                options=[
                                    {
                                        "label": "maximise outcome (spend the budget)",
                                        "value": "response",
                                    },
                                    {
                                        "label": "maximise profit (spend up to the budget)",
                                        "value": "profit",
                                    },
                                ],  # fmt: skip
                                value="response",
                                clearable=False,
                                style={"width": "320px"},
                            ),
                            html.Button("Optimize", id="plan-opt-run", className="primary"),
                        ],
                    ),
                    html.Table(
                        [
                            html.Tr([html.Th(h) for h in ("Entity", "Current", "Min", "Max")]),
                            *limits,
                        ],
                        className="report",
                        id="plan-limits",
                    ),  # fmt: skip
                    dcc.Loading(html.Div(id="plan-opt-result")),
                    dcc.Graph(id="plan-curves", figure=plots.response_curves(curves, cur)),
                ],
            ),
            html.Div(
                className="panel",
                children=[
                    html.H3("Saved scenarios"),
                    html.Div(_compare_view(ws), id="plan-compare-wrap"),
                ],
            ),
            html.Div(
                className="panel",
                children=[
                    dcc.Graph(id="plan-frontier", figure=ffig),
                    html.P(front.notes, className="muted"),
                ],  # fmt: skip
            ),
        ]
    )


def _compare_view(ws: Any) -> Any:
    import pandas as pd

    rows = service.compare_scenarios(ws, newest=10)
    if not rows:
        return html.P("No saved scenarios yet.", className="muted", id="plan-compare-empty")
    table = compare_table(pd.DataFrame(rows))
    kpi = {"spend": "Spend", "outcome": "Outcome", "iroas": "iROAS", "mroas": "mROAS",
           "profit": "Profit", "outcome_change": "Change vs current"}  # fmt: skip
    cols = ["scenario", *kpi, *[c for c in table.columns if c.startswith("spend ")]]
    head = html.Tr([html.Th(kpi.get(c, c.capitalize() if c == "scenario" else c)) for c in cols])
    body = [
        html.Tr(
            [
                html.Td(
                    r[c]
                    if c == "scenario"
                    else (ratio(r[c]) if c in ("iroas", "mroas") else money(r[c]))
                )
                for c in cols
            ]
        )  # fmt: skip
        for r in table.to_dict(orient="records")
    ]
    return html.Table([head, *body], className="report", id="plan-compare")


def _bounds_text(e: dict[str, Any]) -> str:
    """An entity's trust bounds in words: "lo - hi (why)", which binds, and an extrapolation."""
    hi = "no limit" if e["hi"] is None else money(e["hi"])
    why = e["lo_why"] if e["lo_why"] == e["hi_why"] else f"{e['lo_why']} / {e['hi_why']}"
    text = f"{money(e['lo'])} – {hi} ({why})"
    if e["binds"]:
        text += f"; at its {'upper' if e['binds'] == 'hi' else 'lower'} bound"
    if e["outside_observed"]:
        text += "; outside the observed spend range"
    return text


def _workspace(state: Any, data: dict[str, Any]) -> Any:
    return state.workspaces.handle(data["ws"])


def _load(state: Any, data: dict[str, Any]):
    cs = service.curve_set(_workspace(state, data), data["cs"])
    return cs, cs.curves()


def register(app, state) -> None:
    @app.callback(
        Output("plan-live", "children"),
        Output("plan-live-bars", "figure"),
        Input({"type": SLIDER, "index": ALL}, "value"),
        State({"type": SLIDER, "index": ALL}, "id"),
        State("plan-data", "data"),
    )
    def _live(values, slider_ids, data):
        current_user(state)
        cs, curves = _load(state, data)
        alloc = {d["index"]: float(v or 0.0) for d, v in zip(slider_ids, values, strict=True)}
        sc = build_scenario(cs, data["current"], "live", allocation=alloc)
        p, ch = sc["predicted"], sc["change"]
        cards = [
            ("Spend", money(p["spend"]), "plan-live-spend"),
            ("Predicted outcome", _iv(p["outcome"]), "plan-live-outcome"),
            ("Change vs current", _iv(ch["outcome"]), "plan-live-change"),
            ("iROAS", ratio(p["iroas"]["mean"]), "plan-live-iroas"),
            ("mROAS", ratio(p["mroas"]["mean"]), "plan-live-mroas"),
        ]  # fmt: skip
        out = [
            html.Div([html.Div(label, className="label"),
                      html.Div(v, className="value", id=i)], className="card")
            for label, v, i in cards
        ]  # fmt: skip
        ids = curves.ids
        fig = plots.allocation_bars(
            ids,
            {"current": [data["current"][i] for i in ids], "scenario": [alloc[i] for i in ids]},
            title=f"Spend per {cs.period}: current vs scenario",
        )
        return out, fig

    @app.callback(
        Output("plan-opt-result", "children"),
        Output("plan-curves", "figure"),
        Input("plan-opt-run", "n_clicks"),
        State("plan-budget", "value"),
        State("plan-goal", "value"),
        State({"type": "plan-min", "index": ALL}, "value"),
        State({"type": "plan-max", "index": ALL}, "value"),
        State({"type": "plan-min", "index": ALL}, "id"),
        State("plan-data", "data"),
        prevent_initial_call=True,
    )
    def _optimize(_n, budget, goal, mins, maxs, idx, data):
        current_user(state)
        cs, curves = _load(state, data)
        names = [d["index"] for d in idx]
        lo = {i: float(v) for i, v in zip(names, mins, strict=True) if v not in (None, "")}
        hi = {i: float(v) for i, v in zip(names, maxs, strict=True) if v not in (None, "")}
        try:
            rec = service.optimize(
                _workspace(state, data),
                budget=None if budget in (None, "") else float(budget),
                constraints=Constraints(min=lo or None, max=hi or None),
                goal=goal or "response",
            )
        except SpendLabError as e:
            return html.Div(str(e), className="error", id="plan-opt-error"), no_update
        ids = curves.ids
        cur = [rec["current"][i] for i in ids]
        opt = [rec["allocation"][i] for i in ids]
        marg = rec["marginal"]
        trust = {e["id"]: e for e in rec["trust"]["entities"]}
        rows = [
            html.Tr([html.Td(i), html.Td(money(c)), html.Td(money(o)), html.Td(money(o - c)),
                     html.Td("–" if marg[i] is None else f"{marg[i]:.4f}"),
                     html.Td(_bounds_text(trust[i]))])
            for i, c, o in zip(ids, cur, opt, strict=True)
        ]  # fmt: skip
        table = html.Table(
            [html.Tr([html.Th(h) for h in ("Entity", "Current", "Recommended", "Change",
                                            "mROAS at recommended", "Bounds (why)")]), *rows],
            className="report",
            id="plan-opt-table",
        )  # fmt: skip
        summary = html.P(
            [
                f"Expected outcome {_iv(rec['predicted']['outcome'])} vs current "
                f"{_iv(rec['baseline']['outcome'])}: uplift ",
                html.B(_iv(rec["uplift"]), id="plan-opt-uplift"),
                f" per {cs.period}. KKT gap {rec['kkt_gap']:.1e} (certified optimal within "
                "that relative gap).",
            ],
            id="plan-opt-summary",
        )
        bars = plots.allocation_bars(
            ids, {"current": cur, "recommended": opt},
            title=f"Spend per {cs.period}: before and after",
        )  # fmt: skip
        advice = html.P(
            rec["trust"]["advice"],
            id="plan-opt-advice",
            className="error" if rec["trust"]["test_first"] else "",
        )
        why = html.Ul([html.Li(b) for b in rec["binding"] + rec["notes"]], id="plan-opt-why")
        fig = plots.response_curves(curves, cur, opt)
        return html.Div([summary, advice, table, dcc.Graph(figure=bars), why]), fig

    @app.callback(
        Output("plan-save-msg", "children"),
        Output("plan-compare-wrap", "children"),
        Input("plan-save", "n_clicks"),
        State("plan-name", "value"),
        State({"type": SLIDER, "index": ALL}, "value"),
        State({"type": SLIDER, "index": ALL}, "id"),
        State("plan-data", "data"),
        prevent_initial_call=True,
    )
    def _save(_n, name, values, slider_ids, data):
        user = current_user(state)
        if not allowed(state, Role.ANALYST):
            return html.Span("the analyst role saves scenarios", className="error"), no_update
        ws = _workspace(state, data)
        alloc = {d["index"]: float(v or 0.0) for d, v in zip(slider_ids, values, strict=True)}
        try:
            saved = service.create_scenario(ws, name or "", allocation=alloc, author=user.username)
        except SpendLabError as e:
            return html.Span(str(e), className="error", id="plan-save-error"), no_update
        msg = html.Span(f"Saved scenario {saved['id']} {saved['name']!r}.", className="ok")
        return msg, _compare_view(ws)
