"""Callbacks of the Automate page (layout and view helpers in ``automate.py``). Each reads its
inputs, calls one use case of :mod:`spendlab.automate.service` (as the REST API does) on the
workspace's handle and shows the result."""

from __future__ import annotations

import pandas as pd
import yaml
from dash import Input, Output, State, callback_context, html, no_update

from spendlab.app.store import Role
from spendlab.app.web.pages.automate import (
    FIELDS,
    denied,
    library_view,
    message,
    normal,
    preview_view,
    run_date,
    table_rows,
    workspace_of,
)
from spendlab.app.web.pages.automate_form import DEFAULT_SPEC, form_to_spec, locked, spec_to_form
from spendlab.app.web.session import current_user
from spendlab.automate import monitor
from spendlab.automate import service as svc
from spendlab.automate.plots import (
    actions_per_day_figure,
    actions_per_weekday_figure,
    effectiveness_figure,
)
from spendlab.automate.rules.spec import Rule
from spendlab.automate.specs import check_spec, templates
from spendlab.errors import SpendLabError


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
                spec = next(t["spec"] for t in templates() if t["id"] == template)
            elif trigger == "au-edit":
                if not saved:
                    return no_update, keep, keep, no_update, html.Div("Pick a saved rule first.")
                spec = svc.get_rule(workspace_of(state, ws_id), saved).model_dump(mode="json")
            else:
                checked = check_spec(text=text or "")
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
        spec = normal(spec)
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
        spec = form_to_spec(base or normal(DEFAULT_SPEC), dict(zip(names, values, strict=True)))
        checked = check_spec(spec=spec)
        if not checked["valid"]:
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
            ws = workspace_of(state, ws_id)
            res = svc.preview(ws, [Rule.model_validate(spec)], run_date(day))
        except SpendLabError as e:
            return html.Div(str(e), className="error")
        return preview_view(res)

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
        refusal = denied(state, Role.ADMIN if mode == "auto" else Role.ANALYST)
        if refusal is not None:
            return refusal, no_update
        if not spec:
            return html.Div("The rule has issues; fix them first.", className="error"), no_update
        user = current_user(state).username
        ws = workspace_of(state, ws_id)
        out = svc.save(ws, Rule.model_validate(spec), author=user, mode=mode)
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
        refusal = denied(state, Role.ANALYST)
        if refusal is not None or not saved:
            return refusal or html.Div("Pick a saved rule first."), no_update
        svc.delete(workspace_of(state, ws_id), saved, by=current_user(state).username)
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
    def _refreshlibrary_view(_tick, ws_id):
        current_user(state)
        rules = svc.list_rules(workspace_of(state, ws_id))
        opts = [{"label": r["id"], "value": r["id"]} for r in rules]
        return library_view(rules), opts, opts

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
        refusal = denied(state, Role.ADMIN if mode == "auto" else Role.ANALYST)
        if refusal is not None:
            return refusal, no_update
        try:
            ws = workspace_of(state, ws_id)
            res = svc.run(
                ws,
                svc.pick_rules(ws, rule_ids),
                run_date(day),
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
        return table_rows(workspace_of(state, ws_id), ["proposed"])

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
        refusal = denied(state, Role.ANALYST)
        if refusal is not None:
            return refusal, no_update
        ids = [int(r["action_id"]) for r in selected or []]
        if not ids:
            return html.Div("Select actions in the queue first."), no_update
        user = current_user(state).username
        ws = workspace_of(state, ws_id)
        if callback_context.triggered_id == "au-reject":
            done = svc.reject(ws, ids, approver=user)["rejected"]
            return message(f"Rejected {len(done)} action(s)."), (tick or 0) + 1
        res = svc.approve(ws, ids, approver=user, force=bool(force))
        done, refused = res["executed"], res["refused"]
        text = f"Approved and executed {len(done)} action(s): {', '.join(map(str, done))}."
        return message(text, refused, ok=bool(done) or not refused), (tick or 0) + 1

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
        return table_rows(workspace_of(state, ws_id), status)

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
        refusal = denied(state, Role.ANALYST)
        if refusal is not None:
            return refusal, no_update
        ids = [int(r["action_id"]) for r in selected or [] if r.get("status") == "executed"]
        if not ids:
            return html.Div("Select executed actions in the log first."), no_update
        res = svc.undo(workspace_of(state, ws_id), ids=ids, force=bool(force))
        done, refused = res["undone"], res["refused"]
        text = f"Undid {len(done)} action(s): {', '.join(map(str, done))} (old values restored)."
        return message(text, refused, ok=bool(done) or not refused), (tick or 0) + 1

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
        ws = workspace_of(state, ws_id)
        _, per_rule = svc.rule_effectiveness(ws, kpi=kpi, horizon=7)
        eff = effectiveness_figure(per_rule, kpi)
        acts = svc.executed_actions(ws)
        per_day = monitor.actions_per_day(acts)
        day = actions_per_day_figure(per_day.assign(day=pd.to_datetime(per_day["day"])))
        days = per_day["day"].nunique()
        day.update_xaxes(tickformat="%Y-%m-%d", **({"dtick": 86_400_000} if days <= 14 else {}))
        wd = actions_per_weekday_figure(monitor.actions_per_weekday(acts))
        for f in (eff, day, wd):
            f.update_layout(height=340, margin={"t": 50, "b": 40})
        return eff, day, wd
