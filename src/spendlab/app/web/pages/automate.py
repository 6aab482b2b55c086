"""Automate: the rule library with templates, the rule editor (Scope -> Conditions -> Action ->
Limits -> Schedule -> Notify -> Preview -> Save) with a YAML view and a live preview, runs, the
approval queue, the action log with undo, and the effectiveness charts. Viewers see everything;
analysts edit, run in suggest mode, approve, reject and undo; automatic runs need an admin.
Callbacks call :mod:`spendlab.app.rules` (the same functions as the REST API)."""

from __future__ import annotations

from datetime import date
from typing import Any

import dash_ag_grid as dag
import pandas as pd
from dash import ALL, Input, Output, State, callback_context, dcc, html, no_update

from spendlab.app import rules as svc
from spendlab.app.store import Role
from spendlab.app.web.pages import PageContext
from spendlab.app.web.pages.automate_form import (
    DEFAULT_SPEC,
    editor_sections,
    form_to_spec,
    locked,
    spec_to_form,
)
from spendlab.app.web.session import current_user
from spendlab.automate import monitor, pipeline
from spendlab.automate.plots import (
    actions_per_day_figure,
    actions_per_weekday_figure,
    effectiveness_figure,
)
from spendlab.automate.rules.spec import Rule
from spendlab.errors import SpendLabError

FIELDS = {"type": "au-f", "name": ALL}
TICKS = ("au-saved-tick", "au-run-tick", "au-approve-tick", "au-undo-tick")


def _normal(spec: dict[str, Any]) -> dict[str, Any]:
    return Rule.model_validate(spec).model_dump(mode="json")


def _grid(grid_id: str, extra: list[dict[str, Any]]) -> dag.AgGrid:
    cols = [
        {"field": "action_id", "headerName": "Id", "width": 90},
        {"field": "rule_id", "headerName": "Rule", "minWidth": 180},
        {"field": "level", "width": 100},
        {"field": "entity_id", "headerName": "Entity", "minWidth": 130},
        {"field": "action", "width": 100},
        {"field": "old_value", "headerName": "Old", "width": 100},
        {"field": "new_value", "headerName": "New", "width": 100},
        {"field": "as_of", "headerName": "Date", "width": 115},
        *extra,
        {"field": "reason", "minWidth": 420, "flex": 1},
    ]
    return dag.AgGrid(
        id=grid_id,
        columnDefs=cols,
        rowData=[],
        defaultColDef={"resizable": True, "sortable": True, "filter": True},
        dashGridOptions={
            "rowSelection": {
                "mode": "multiRow",
                "checkboxes": True,
                "headerCheckbox": True,
                "enableClickSelection": True,
            },
            "pagination": True,
            "paginationPageSize": 20,
        },
        getRowId="params.data.action_id",
        style={"height": "420px"},
        className="ag-theme-alpine",
    )


def _panel(title: str, *children: Any, pid: str) -> html.Div:
    return html.Div([html.H3(title), *children], className="panel", id=pid)


def _button(label: str, bid: str, enabled: bool, primary: bool = True) -> html.Button:
    return html.Button(label, id=bid, className="primary" if primary else "", disabled=not enabled)


def layout(ctx: PageContext) -> html.Div:
    can_edit = ctx.user.role.allows(Role.ANALYST)
    admin = ctx.user.role.allows(Role.ADMIN)
    base = _normal(DEFAULT_SPEC)
    values, _ = spec_to_form(base)
    with ctx.state.workspaces.warehouse(ctx.workspace_id) as wh:
        day = svc.default_as_of(wh)
    tpl = [{"label": f"{t['name']} ({t['id']})", "value": t["id"]} for t in svc.templates()]
    modes = [
        {"label": " suggest (approve in the queue)", "value": "suggest"},
        {"label": " auto (executes; admin)", "value": "auto", "disabled": not admin},
    ]
    ro = (
        []
        if can_edit
        else [
            html.P(
                "You can look at everything here; editing, running, approving and undoing need the "
                "analyst role.",
                className="muted",
                id="au-readonly",
            )
        ]
    )
    return html.Div(
        [
            html.H2("Automate"),
            *ro,
            dcc.Store(id="au-base", data=base),
            dcc.Store(id="au-spec"),
            *[dcc.Store(id=t, data=0) for t in TICKS],
            _panel(
                "Rule library",
                html.Div(id="au-library"),
                html.Div(
                    className="form-row",
                    children=[
                        dcc.Dropdown(
                            id="au-template",
                            options=tpl,
                            placeholder="Start from a template",
                            style={"width": "520px"},
                        ),
                        html.Button("Use template", id="au-use-template"),
                        dcc.Dropdown(
                            id="au-saved", placeholder="A saved rule", style={"width": "260px"}
                        ),
                        html.Button("Edit", id="au-edit"),
                        _button("Delete", "au-delete", can_edit, primary=False),
                    ],
                ),
                html.Div(id="au-lib-msg"),
                pid="au-library-panel",
            ),
            _panel(
                "Rule editor",
                html.Div(id="au-form-note"),
                *editor_sections(values),
                html.Fieldset(
                    [
                        html.Legend("7. Preview"),
                        html.Div(
                            className="form-row",
                            children=[
                                html.Span("Run date", className="muted"),
                                dcc.DatePickerSingle(
                                    id="au-preview-date", date=day, display_format="YYYY-MM-DD"
                                ),
                                html.Button("Preview", id="au-preview-btn"),
                                html.Span(
                                    "windows end the day before the run date", className="muted"
                                ),
                            ],
                        ),
                        dcc.Loading(html.Div(id="au-preview")),
                    ],
                    className="au-section",
                    id="au-sec-preview",
                ),
                html.Fieldset(
                    [
                        html.Legend("8. Save"),
                        html.Div(
                            className="form-row",
                            children=[
                                html.Span("Scheduled runs", className="muted"),
                                dcc.RadioItems(
                                    id="au-save-mode", options=modes, value="suggest", inline=True
                                ),
                                _button("Save rule", "au-save", can_edit),
                            ],
                        ),
                        html.Div(id="au-save-msg"),
                    ],
                    className="au-section",
                    id="au-sec-save",
                ),
                html.Details(
                    [
                        html.Summary("YAML view"),
                        dcc.Textarea(
                            id="au-yaml",
                            style={"width": "100%", "height": "260px", "fontFamily": "monospace"},
                        ),
                        html.Div(
                            className="form-row",
                            children=[
                                html.Button("Apply YAML to the form", id="au-apply-yaml"),
                            ],
                        ),
                    ],
                    open=True,
                ),
                html.Div(id="au-issues"),
                pid="au-editor",
            ),
            _panel(
                "Run saved rules",
                html.Div(
                    className="form-row",
                    children=[
                        dcc.DatePickerSingle(
                            id="au-run-date", date=day, display_format="YYYY-MM-DD"
                        ),
                        dcc.Dropdown(
                            id="au-run-rules",
                            multi=True,
                            placeholder="All saved rules",
                            style={"width": "320px"},
                        ),
                        dcc.RadioItems(
                            id="au-run-mode", options=modes, value="suggest", inline=True
                        ),
                        dcc.Checklist(
                            id="au-run-due",
                            options=[{"label": " only rules due that day", "value": "due"}],
                            value=[],
                        ),
                        _button("Run", "au-run", can_edit),
                    ],
                ),
                html.Div(id="au-run-msg"),
                pid="au-run-panel",
            ),
            _panel(
                "Approval queue",
                _grid("au-queue", [{"field": "status", "width": 100}]),
                html.Div(
                    className="form-row",
                    children=[
                        _button("Approve selected", "au-approve", can_edit),
                        _button("Reject selected", "au-reject", can_edit, primary=False),
                        dcc.Checklist(
                            id="au-approve-force",
                            options=[
                                {
                                    "label": " force (even if the entity changed since)",
                                    "value": "force",
                                }
                            ],
                            value=[],
                        ),
                    ],
                ),
                html.Div(id="au-queue-msg"),
                pid="au-queue-panel",
            ),
            _panel(
                "Action log",
                html.Div(
                    className="form-row",
                    children=[
                        dcc.Dropdown(
                            id="au-log-status",
                            multi=True,
                            placeholder="Any status",
                            options=[
                                "proposed",
                                "executed",
                                "rejected",
                                "blocked",
                                "undone",
                                "failed",
                            ],
                            style={"width": "360px"},
                        ),
                    ],
                ),
                _grid(
                    "au-log",
                    [{"field": "status", "width": 100}, {"field": "approver", "width": 110}],
                ),
                html.Div(
                    className="form-row",
                    children=[
                        _button("Undo selected", "au-undo", can_edit),
                        dcc.Checklist(
                            id="au-undo-force",
                            options=[
                                {
                                    "label": " force (even if the entity changed since)",
                                    "value": "force",
                                }
                            ],
                            value=[],
                        ),
                    ],
                ),
                html.Div(id="au-undo-msg"),
                pid="au-log-panel",
            ),
            _panel(
                "Effectiveness",
                html.Div(
                    className="form-row",
                    children=[
                        html.Span("KPI", className="muted"),
                        dcc.Dropdown(
                            id="au-eff-kpi",
                            options=["roas", "cpa", "spend", "revenue", "conversions", "clicks"],
                            value="roas",
                            clearable=False,
                            style={"width": "160px"},
                        ),
                        html.Span(
                            "7 days before vs 7 days from each executed action", className="muted"
                        ),
                    ],
                ),
                dcc.Graph(id="au-eff"),
                html.Div(
                    className="au-charts",
                    children=[dcc.Graph(id="au-day"), dcc.Graph(id="au-weekday")],
                ),
                pid="au-eff-panel",
            ),
        ]
    )


# -- helpers -------------------------------------------------------------------------------------
def _denied(state: Any, role: Role) -> html.Div | None:
    try:
        current_user(state).require(role)
    except SpendLabError as e:
        return html.Div(str(e), className="error")
    return None


def _engine(state: Any, ws_id: Any):
    return state.rules.engine(state.workspaces.get(ws_id))


def _day(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def _msg(text: str, refused: list[Any] | None = None, ok: bool = True) -> html.Div:
    items = [html.Li(r.message) for r in refused or []]
    return html.Div(
        [
            html.Div(text, className="ok" if ok else "error"),
            html.Ul(items, className="error") if items else None,
        ]
    )


def _rows(engine: Any, status: list[str] | None, limit: int = 2000) -> list[dict[str, Any]]:
    items, _ = svc.log(engine, offset=0, limit=limit, status=status or None)
    for d in items:
        for k in ("old_value", "new_value"):
            d[k] = "" if d[k] is None else str(d[k])
    return items


def _library(rules: list[dict[str, Any]]) -> Any:
    if not rules:
        return html.P(
            "No saved rules yet: start from a template below, preview it, save it.",
            className="muted",
            id="au-library-empty",
        )
    head = html.Tr(
        [
            html.Th(h)
            for h in ("Rule", "Name", "Version", "Level", "Action", "Schedule", "Mode", "Enabled")
        ]
    )
    body = [
        html.Tr(
            [
                html.Td(r["id"]),
                html.Td(r["name"]),
                html.Td(str(r["version"])),
                html.Td(r["level"]),
                html.Td(r["action"]),
                html.Td(r["schedule"]["every"]),
                html.Td(r["mode"]),
                html.Td("yes" if r["enabled"] else "no"),
            ]
        )
        for r in rules
    ]
    return html.Table([head, *body], className="report", id="au-library-table")


def _preview_view(res: dict[str, Any]) -> html.Div:
    acts = res["actions"]
    blocked = sum(a["status"] == "blocked" for a in acts)
    head = html.Tr(
        [html.Th(h) for h in ("Entity", "Level", "Action", "Old", "New", "Status", "Reason")]
    )
    rows = [
        html.Tr(
            [
                html.Td(a["entity_id"]),
                html.Td(a["level"]),
                html.Td(a["action"]),
                html.Td(str(a["old_value"])),
                html.Td(str(a["new_value"])),
                html.Td(a["status"]),
                html.Td(a["reason"]),
            ]
        )
        for a in acts[:100]
    ]
    more = [html.P(f"... and {len(acts) - 100} more", className="muted")] if len(acts) > 100 else []
    return html.Div(
        [
            html.Div(
                [
                    html.Span(str(res["entities"]), id="au-preview-n"),
                    f" entities match on {res['as_of']} ({len(acts)} actions, {blocked} blocked by "
                    "guardrails). Nothing is written.",
                ],
                id="au-preview-count",
                className="ok",
            ),
            html.Table([head, *rows], className="report", id="au-preview-table"),
            *more,
        ]
    )


# -- callbacks -----------------------------------------------------------------------------------
def register(app, state) -> None:
    @app.callback(
        Output("au-base", "data"),
        Output(FIELDS, "value"),
        Output(FIELDS, "disabled"),
        Output("au-form-note", "children"),
        Output("au-lib-msg", "children"),
        Input("au-use-template", "n_clicks"),
        Input("au-edit", "n_clicks"),
        Input("au-apply-yaml", "n_clicks"),
        State("au-template", "value"),
        State("au-saved", "value"),
        State("au-yaml", "value"),
        State("ws-select", "value"),
        prevent_initial_call=True,
    )
    def _load(_t, _e, _y, template, saved, text, ws_id):
        names = [o["id"]["name"] for o in callback_context.outputs_list[1]]
        keep = [no_update] * len(names)
        trigger = callback_context.triggered_id
        try:
            if trigger == "au-use-template":
                if not template:
                    return no_update, keep, keep, no_update, html.Div("Pick a template first.")
                spec = next(t["spec"] for t in svc.templates() if t["id"] == template)
            elif trigger == "au-edit":
                if not saved:
                    return no_update, keep, keep, no_update, html.Div("Pick a saved rule first.")
                spec = svc.get_rule(_engine(state, ws_id), saved).model_dump(mode="json")
            else:
                checked = svc.check_spec(text=text or "")
                if not checked["valid"]:
                    issues = "; ".join(
                        f"{i['location']} (line {i['line']}): {i['problem']}"
                        for i in checked["issues"]
                    )
                    return (
                        no_update,
                        keep,
                        keep,
                        no_update,
                        html.Div(f"The YAML is not a valid rule: {issues}", className="error"),
                    )
                spec = checked["rule"]
        except SpendLabError as e:
            return no_update, keep, keep, no_update, html.Div(str(e), className="error")
        spec = _normal(spec)
        values, notes = spec_to_form(spec)
        frozen = locked(spec)
        note = [html.P(n, className="muted") for n in notes]
        return spec, [values.get(n) for n in names], [n in frozen for n in names], note, None

    @app.callback(
        Output("au-yaml", "value"),
        Output("au-issues", "children"),
        Output("au-spec", "data"),
        Input(FIELDS, "value"),
        Input("au-base", "data"),
    )
    def _build(values, base):
        names = [i["id"]["name"] for i in callback_context.inputs_list[0]]
        spec = form_to_spec(base or _normal(DEFAULT_SPEC), dict(zip(names, values, strict=True)))
        checked = svc.check_spec(spec=spec)
        if not checked["valid"]:
            import yaml

            issues = html.Ul(
                [
                    html.Li(f"{i['location']}: {i['problem']} ({i['fix']})")
                    for i in checked["issues"]
                ],
                className="error",
                id="au-spec-issues",
            )
            return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), issues, None
        rule = Rule.model_validate(checked["rule"])
        return rule.to_yaml(), None, checked["rule"]

    @app.callback(
        Output("au-preview", "children"),
        Input("au-spec", "data"),
        Input("au-preview-date", "date"),
        Input("au-preview-btn", "n_clicks"),
        State("ws-select", "value"),
    )
    def _preview(spec, day, _n, ws_id):
        current_user(state)
        if not spec or not day:
            return html.Div("Fix the rule's issues to see its preview.", className="muted")
        try:
            with state.workspaces.warehouse(ws_id) as wh:
                res = svc.preview(wh, [Rule.model_validate(spec)], _day(day))
        except SpendLabError as e:
            return html.Div(str(e), className="error")
        return _preview_view(res)

    @app.callback(
        Output("au-save-msg", "children"),
        Output("au-saved-tick", "data"),
        Input("au-save", "n_clicks"),
        State("au-spec", "data"),
        State("au-save-mode", "value"),
        State("ws-select", "value"),
        State("au-saved-tick", "data"),
        prevent_initial_call=True,
    )
    def _save(_n, spec, mode, ws_id, tick):
        denied = _denied(state, Role.ADMIN if mode == "auto" else Role.ANALYST)
        if denied is not None:
            return denied, no_update
        if not spec:
            return html.Div("The rule has issues; fix them first.", className="error"), no_update
        user = current_user(state).username
        out = svc.save(_engine(state, ws_id), Rule.model_validate(spec), author=user, mode=mode)
        state.scheduler.sync()
        text = f"Saved {out['id']} version {out['version']} ({out['mode']})."
        return html.Div(text, className="ok", id="au-saved-ok"), (tick or 0) + 1

    @app.callback(
        Output("au-lib-msg", "children", allow_duplicate=True),
        Output("au-saved-tick", "data", allow_duplicate=True),
        Input("au-delete", "n_clicks"),
        State("au-saved", "value"),
        State("ws-select", "value"),
        State("au-saved-tick", "data"),
        prevent_initial_call=True,
    )
    def _delete(_n, saved, ws_id, tick):
        denied = _denied(state, Role.ANALYST)
        if denied is not None or not saved:
            return denied or html.Div("Pick a saved rule first."), no_update
        svc.delete(_engine(state, ws_id), saved, by=current_user(state).username)
        state.scheduler.sync()
        return html.Div(f"Deleted {saved} (its actions stay in the log).", className="ok"), (
            (tick or 0) + 1
        )

    @app.callback(
        Output("au-library", "children"),
        Output("au-saved", "options"),
        Output("au-run-rules", "options"),
        Input("au-saved-tick", "data"),
        Input("ws-select", "value"),
    )
    def _refresh_library(_tick, ws_id):
        current_user(state)
        rules = svc.list_rules(_engine(state, ws_id))
        opts = [{"label": r["id"], "value": r["id"]} for r in rules]
        return _library(rules), opts, opts

    @app.callback(
        Output("au-run-msg", "children"),
        Output("au-run-tick", "data"),
        Input("au-run", "n_clicks"),
        State("au-run-date", "date"),
        State("au-run-mode", "value"),
        State("au-run-due", "value"),
        State("au-run-rules", "value"),
        State("ws-select", "value"),
        State("au-run-tick", "data"),
        prevent_initial_call=True,
    )
    def _run(_n, day, mode, due, rule_ids, ws_id, tick):
        denied = _denied(state, Role.ADMIN if mode == "auto" else Role.ANALYST)
        if denied is not None:
            return denied, no_update
        try:
            engine = _engine(state, ws_id)
            rules = svc.pick_rules(engine, rule_ids)
            with state.workspaces.warehouse(ws_id) as wh:
                res = svc.run(
                    wh,
                    engine,
                    rules,
                    _day(day),
                    mode=mode,
                    approver=current_user(state).username,
                    respect_schedule=bool(due),
                )
        except SpendLabError as e:
            return html.Div(str(e), className="error"), no_update
        n = len(res["actions"])
        skipped = (
            f"; already ran that day: {', '.join(res['skipped_rules'])}"
            if res["skipped_rules"]
            else ""
        )
        text = f"Run {res['run_id']} ({mode}) on {res['as_of']}: {n} action(s){skipped}."
        return html.Div(text, className="ok", id="au-run-ok"), (tick or 0) + 1

    @app.callback(
        Output("au-queue", "rowData"),
        Input("au-run-tick", "data"),
        Input("au-approve-tick", "data"),
        Input("ws-select", "value"),
    )
    def _refresh_queue(_a, _b, ws_id):
        current_user(state)
        return _rows(_engine(state, ws_id), ["proposed"])

    @app.callback(
        Output("au-queue-msg", "children"),
        Output("au-approve-tick", "data"),
        Input("au-approve", "n_clicks"),
        Input("au-reject", "n_clicks"),
        State("au-queue", "selectedRows"),
        State("au-approve-force", "value"),
        State("ws-select", "value"),
        State("au-approve-tick", "data"),
        prevent_initial_call=True,
    )
    def _decide(_a, _r, selected, force, ws_id, tick):
        denied = _denied(state, Role.ANALYST)
        if denied is not None:
            return denied, no_update
        ids = [int(r["action_id"]) for r in selected or []]
        if not ids:
            return html.Div("Select actions in the queue first."), no_update
        user = current_user(state).username
        engine = _engine(state, ws_id)
        if callback_context.triggered_id == "au-reject":
            done = pipeline.reject(engine, ids, approver=user)
            return _msg(f"Rejected {len(done)} action(s)."), (tick or 0) + 1
        with state.workspaces.warehouse(ws_id) as wh:
            done = pipeline.approve(wh, engine, ids, approver=user, force=bool(force))
        text = f"Approved and executed {len(done)} action(s): {', '.join(map(str, done))}."
        return _msg(text, done.refused, ok=bool(done) or not done.refused), (tick or 0) + 1

    @app.callback(
        Output("au-log", "rowData"),
        Input("au-run-tick", "data"),
        Input("au-approve-tick", "data"),
        Input("au-undo-tick", "data"),
        Input("au-log-status", "value"),
        Input("ws-select", "value"),
    )
    def _refresh_log(_a, _b, _c, status, ws_id):
        current_user(state)
        return _rows(_engine(state, ws_id), status)

    @app.callback(
        Output("au-undo-msg", "children"),
        Output("au-undo-tick", "data"),
        Input("au-undo", "n_clicks"),
        State("au-log", "selectedRows"),
        State("au-undo-force", "value"),
        State("ws-select", "value"),
        State("au-undo-tick", "data"),
        prevent_initial_call=True,
    )
    def _undo(_n, selected, force, ws_id, tick):
        denied = _denied(state, Role.ANALYST)
        if denied is not None:
            return denied, no_update
        ids = [int(r["action_id"]) for r in selected or [] if r.get("status") == "executed"]
        if not ids:
            return html.Div("Select executed actions in the log first."), no_update
        with state.workspaces.warehouse(ws_id) as wh:
            done = pipeline.undo(wh, _engine(state, ws_id), ids=ids, force=bool(force))
        text = f"Undid {len(done)} action(s): {', '.join(map(str, done))} (old values restored)."
        return _msg(text, done.refused, ok=bool(done) or not done.refused), (tick or 0) + 1

    @app.callback(
        Output("au-eff", "figure"),
        Output("au-day", "figure"),
        Output("au-weekday", "figure"),
        Input("au-run-tick", "data"),
        Input("au-approve-tick", "data"),
        Input("au-undo-tick", "data"),
        Input("au-eff-kpi", "value"),
        Input("ws-select", "value"),
    )
    def _charts(_a, _b, _c, kpi, ws_id):
        current_user(state)
        engine = _engine(state, ws_id)
        with state.workspaces.warehouse(ws_id) as wh:
            effects = monitor.action_effects(wh, engine, horizon=7, kpi=kpi)
        eff = effectiveness_figure(monitor.rule_effectiveness(effects), kpi)
        acts = svc.executed_actions(engine)
        per_day = monitor.actions_per_day(acts)
        day = actions_per_day_figure(per_day.assign(day=pd.to_datetime(per_day["day"])))
        wd = actions_per_weekday_figure(monitor.actions_per_weekday(acts))
        for f in (eff, day, wd):
            f.update_layout(height=340, margin={"t": 50, "b": 40})
        return eff, day, wd


__all__ = ["layout", "register"]
