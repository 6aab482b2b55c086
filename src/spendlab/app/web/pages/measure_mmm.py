"""Measure page, marketing-mix model section: pick a run (or fit one, for analysts, with job
progress), then the model-health card, iROAS with intervals, actual vs fitted, contributions,
response curves and adstock of that run, read from its saved posterior (never refitted)."""

from __future__ import annotations

from functools import partial
from typing import Any

from dash import Input, Output, State, dcc, html, no_update

from spendlab.app.store import Role
from spendlab.app.web.pages.context import PageContext
from spendlab.app.web.session import current_user
from spendlab.errors import SpendLabError
from spendlab.measure.mmm import plots, service
from spendlab.plan.mmm_fit import queue_fit

STATUS_CLASS = {"PASS": "good", "REVIEW": "flat", "FAIL": "bad"}


def _options(state, ws_id) -> list[dict[str, Any]]:
    ws = state.workspaces.handle(ws_id)
    out = []
    for r in service.list_runs(ws, jobs=state.jobs.get):
        label = (f"{r['created_at'][:16].replace('T', ' ')} - {r['method']} - {r['target']} ~ "
                 f"{', '.join(r['channels'])} ({r['status']})")  # fmt: skip
        out.append({"label": label, "value": r["id"], "disabled": r["status"] != "succeeded"})
    return out


def _first_ok(options: list[dict[str, Any]]) -> str | None:
    return next((o["value"] for o in options if not o["disabled"]), None)


def _empty() -> html.Div:
    return html.Div(
        className="empty",
        id="empty-measure",
        children=[
            html.H3("Marketing-mix modelling is not configured for this workspace yet"),
            html.P(
                "A marketing-mix model shows what each channel really adds: iROAS with "
                "intervals, contributions over time and response curves."
            ),
            html.Ol(
                [
                    html.Li("Load outcomes (revenue), ad spend and controls on the Data page."),
                    html.Li(
                        [
                            "Fit a model: the Fit model button (analysts), or ",
                            html.Code("spendlab mmm fit --workspace PATH"),
                            " (see docs/mmm.md).",
                        ]
                    ),
                ]
            ),
        ],
    )


def section(ctx: PageContext) -> html.Div:
    options = _options(ctx.state, ctx.workspace_id)
    analyst = ctx.user.role.allows(Role.ANALYST)
    fit_controls = [
        dcc.Checklist(
            id="mmm-fast",
            options=[{"label": " fast preview (Laplace, no R-hat)", "value": "fast"}],
            value=["fast"],
            inline=True,
        ),
        dcc.Checklist(
            id="mmm-activate",
            options=[{"label": " activate even if the gate fails (recorded)", "value": "force"}],
            value=[],
            inline=True,
        ),
        html.Button("Fit model", id="mmm-fit", className="primary"),
    ]
    return html.Div(
        className="panel",
        id="mmm-section",
        children=[
            html.H3("Marketing-mix model"),
            html.Div(
                className="form-row",
                children=[
                    dcc.Dropdown(
                        id="mmm-run",
                        options=options,
                        value=_first_ok(options),
                        clearable=False,
                        placeholder="Model run",
                        style={"minWidth": "420px"},
                    ),
                    *(fit_controls if analyst else []),
                ],
            ),
            html.Div(id="mmm-progress", className="muted"),
            dcc.Store(id="mmm-job"),
            dcc.Interval(id="mmm-poll", interval=1500, disabled=True),
            html.Div(_empty() if not options else None, id="mmm-empty"),
            dcc.Loading(html.Div(id="mmm-result")),
        ],
    )


def _fmt(v: Any, pattern: str = "{:.3g}") -> str:
    return "n/a" if v is None else pattern.format(v)


def _health(card: list[dict[str, Any]]) -> html.Table:
    head = html.Tr([html.Th(h) for h in ("Check", "Status", "Value", "What to do")])
    rows = [
        html.Tr(
            [
                html.Td(r["check"]),
                html.Td(r["status"], className=STATUS_CLASS.get(r["status"], "")),
                html.Td(_fmt(r["value"])),
                html.Td(r["advice"]),
            ]
        )  # fmt: skip
        for r in card
    ]
    return html.Table([head, *rows], className="report", id="mmm-health")


def gate_view(gate: dict[str, Any] | None) -> html.Div:
    """The gate's verdict (does this run drive budgets?) and its checks, beside the health card:
    what passed, what failed and what to do."""
    if not gate:
        return html.Div(
            "No gate recorded for this run (a fit of a table, or fitted before the gate existed).",
            className="muted",
            id="mmm-gate",
        )
    cs = gate.get("curve_set_id")
    if gate["passed"]:
        verdict, cls = f"PASS: its curves (curve set {cs}) drive planning.", "good"
    elif gate.get("activated"):
        who = f" by {gate['by']}" if gate.get("by") else ""
        verdict, cls = f"FAIL, activated anyway{who} (forced, recorded): curve set {cs}.", "bad"
    else:
        verdict = (
            f"FAIL: its curves (curve set {cs}) are stored, NOT active; planning keeps the "
            "previously active set. Fix the failed checks and refit, or force it with "
            f"`spendlab plan curves activate {cs} --force`."
        )
        cls = "bad"
    head = html.Tr([html.Th(h) for h in ("Check", "Channel", "Status", "Value", "Bound", "Advice")])
    rows = [
        html.Tr(
            [
                html.Td(r["check"]),
                html.Td(r.get("channel", "")),
                html.Td(r["status"], className=STATUS_CLASS.get(r["status"], "")),
                html.Td(_fmt(r["value"]) if not isinstance(r["value"], str) else r["value"]),
                html.Td(r["bound"] or ""),
                html.Td(r["advice"]),
            ]
        )
        for r in gate["checks"]
        if r["status"] != "SKIP"
    ]
    return html.Div(
        [
            html.P(verdict, className=cls, id="mmm-gate-verdict"),
            html.Table([head, *rows], className="report"),
        ],
        id="mmm-gate",
    )


def _iroas_table(summary: dict[str, Any]) -> html.Table:
    pct = round(summary["interval"] * 100)
    head = html.Tr([html.Th(h) for h in ("Channel", "Share of spend", "Share of effect",
                                         f"iROAS (mean, {pct}% interval)",
                                         f"mROAS (mean, {pct}% interval)")])  # fmt: skip

    def band(b: dict[str, float]) -> str:
        return f"{b['mean']:.2f} [{b['lo']:.2f}, {b['hi']:.2f}]"

    rows = [
        html.Tr([html.Td(ch), html.Td(f"{r['spend_share']:.1%}"),
                 html.Td(f"{r['contribution_share']:.1%}"),
                 html.Td(band(r["iroas"]), id=f"mmm-iroas-{ch}"), html.Td(band(r["mroas"]))])
        for ch, r in summary["channels"].items()
    ]  # fmt: skip
    return html.Table([head, *rows], className="report", id="mmm-iroas")


def _start_fit(state, ws_id, fast: bool, user: str, activate: bool = False) -> dict[str, Any]:
    """The fit of the workspace's canonical tables with the default options, as a job
    (``activate`` forces its curves active past the gate)."""
    row = state.workspaces.get(ws_id)
    ws = state.workspaces.handle(row.id)
    plan = service.prepare_fit(ws, fast=fast)
    submit = partial(state.jobs.submit, "mmm_fit", workspace_id=row.id, user=user)
    return queue_fit(ws, plan, user=user, submit=submit, activate=activate)


def _finished(result: dict[str, Any] | None) -> str:
    """The line shown when a fit job ends: did its curves become the active set?"""
    gate = (result or {}).get("gate")
    if not gate:
        return "Fit finished."
    if gate["passed"]:
        return "Fit finished; the model passed its gate and its curves are the active set."
    if result.get("activated"):
        return "Fit finished; the model FAILED its gate and was activated anyway (recorded)."
    return (
        "Fit finished; the model FAILED its gate: its curves are stored, not activated "
        f"({'; '.join(gate.get('failed') or [])}). See the gate below."
    )


def _result(state, ws_id, run_id) -> html.Div:
    ws = state.workspaces.handle(ws_id)
    run = service.get_run(ws, run_id)
    model = service.load_model(ws, run_id)
    summary = run["summary"]
    d = summary["diagnostics"]
    inp = summary.get("input") or {}
    facts = (f"{run['target']} ~ {', '.join(run['channels'])}; method {d['method']}, fit in "
             f"{summary['fit_seconds']:.1f} s"
             + (f"; {inp['periods']} {inp['frequency']} periods" if inp else ""))  # fmt: skip
    figs = [plots.actual_vs_fitted(model), plots.iroas_intervals(model),
            plots.contribution_waterfall(model), plots.contribution_area(model),
            plots.response_curves(model), plots.adstock(model)]  # fmt: skip
    names = ["fitted", "iroas", "waterfall", "area", "curves", "adstock"]
    graphs = [dcc.Graph(figure=f.update_layout(height=360), id=f"mmm-fig-{n}")
              for f, n in zip(figs, names, strict=True)]  # fmt: skip
    return html.Div(
        [
            html.P(facts, className="muted", id="mmm-facts"),
            html.H4("Model health"),
            _health(summary["health"]),
            html.H4("Gate: may this model drive budgets?"),
            gate_view(summary.get("gate")),
            html.H4("Return on spend per channel"),
            _iroas_table(summary),
            *graphs,
        ]
    )


def register(app, state) -> None:
    @app.callback(
        Output("mmm-result", "children"),
        Input("mmm-run", "value"),
        State("ws-select", "value"),
    )
    def _show(run_id, ws_id):
        current_user(state)
        if not run_id:
            return None
        try:
            return _result(state, ws_id, run_id)
        except SpendLabError as e:
            return html.Div(str(e), className="error", id="mmm-error")

    @app.callback(
        Output("mmm-job", "data"),
        Output("mmm-poll", "disabled"),
        Output("mmm-progress", "children"),
        Input("mmm-fit", "n_clicks"),
        State("mmm-fast", "value"),
        State("mmm-activate", "value"),
        State("ws-select", "value"),
        prevent_initial_call=True,
    )
    def _fit(_n, fast, force, ws_id):
        user = current_user(state)
        user.require(Role.ANALYST)
        try:
            fast_on, force_on = "fast" in (fast or []), "force" in (force or [])
            started = _start_fit(state, ws_id, fast_on, user.username, activate=force_on)
        except SpendLabError as e:
            return None, True, html.Div(str(e), className="error", id="mmm-fit-error")
        return started, False, "queued"

    @app.callback(
        Output("mmm-progress", "children", allow_duplicate=True),
        Output("mmm-poll", "disabled", allow_duplicate=True),
        Output("mmm-run", "options"),
        Output("mmm-run", "value"),
        Output("mmm-empty", "children"),
        Input("mmm-poll", "n_intervals"),
        State("mmm-job", "data"),
        State("ws-select", "value"),
        prevent_initial_call=True,
    )
    def _poll(_n, started, ws_id):
        current_user(state)
        if not started:
            return no_update, True, no_update, no_update, no_update
        job = state.jobs.get(started["job_id"])
        text = f"{job['status']} {job['progress']:.0%}: {job['message']}"
        if job["status"] == "running" or job["status"] == "queued":
            return text, False, no_update, no_update, no_update
        if job["status"] == "failed":
            return (html.Div(f"The fit failed: {job['error']}", className="error",
                             id="mmm-fit-error"), True, _options(state, ws_id), no_update,
                    no_update)  # fmt: skip
        done = _finished(job.get("result"))
        return done, True, _options(state, ws_id), started["run_id"], None
