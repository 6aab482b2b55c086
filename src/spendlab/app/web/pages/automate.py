"""Automate: the rule library with templates, the rule editor (Scope -> Conditions -> Action ->
Limits -> Schedule -> Notify -> Preview -> Save) with a YAML view and a live preview, runs, the
approval queue, the action log with undo, and the effectiveness charts. Viewers see everything;
analysts edit, run in suggest mode, approve, reject and undo; automatic runs need an admin.
Callbacks call :mod:`spendlab.automate.service` (the use cases the REST API calls too)."""

from __future__ import annotations

from datetime import date
from typing import Any

import dash_ag_grid as dag
from dash import ALL, dcc, html

from spendlab.app.store import Role
from spendlab.app.web.pages.automate_form import (
    DEFAULT_SPEC,
    editor_sections,
    spec_to_form,
)
from spendlab.app.web.pages.context import PageContext
from spendlab.app.web.session import current_user
from spendlab.automate import service as svc
from spendlab.automate.rules.spec import Rule
from spendlab.automate.specs import templates
from spendlab.errors import SpendLabError
from spendlab.workspace import Workspace

FIELDS = {"type": "au-f", "name": ALL}
TICKS = ("au-saved-tick", "au-run-tick", "au-approve-tick", "au-undo-tick")


def normal(spec: dict[str, Any]) -> dict[str, Any]:
    return Rule.model_validate(spec).model_dump(mode="json")


def _grid(grid_id: str, extra: list[dict[str, Any]]) -> dag.AgGrid:
    cols = [
        {"field": "action_id", "headerName": "Id", "width": 80},
        {"field": "rule_id", "headerName": "Rule", "width": 170},
        {"field": "entity_id", "headerName": "Entity", "width": 130},
        {"field": "action", "width": 95},
        {"field": "old_value", "headerName": "Old", "width": 80},
        {"field": "new_value", "headerName": "New", "width": 80},
        *extra,
        {"field": "reason", "minWidth": 360, "flex": 1, "tooltipField": "reason"},
        {"field": "level", "width": 95},
        {"field": "as_of", "headerName": "Date", "width": 110},
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
    base = normal(DEFAULT_SPEC)
    values, _ = spec_to_form(base)
    day = svc.default_as_of(workspace_of(ctx.state, ctx.workspace_id))
    tpl = [{"label": f"{t['name']} ({t['id']})", "value": t["id"]} for t in templates()]
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
                _grid("au-queue", []),
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
                    [{"field": "status", "width": 95}, {"field": "approver", "width": 100}],
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
def denied(state: Any, role: Role) -> html.Div | None:
    try:
        current_user(state).require(role)
    except SpendLabError as e:
        return html.Div(str(e), className="error")
    return None


def workspace_of(state: Any, ws_id: Any) -> Workspace:
    """The handle of the workspace picked in the header."""
    return state.workspaces.handle(ws_id)


def run_date(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def message(text: str, refused: list[dict] | None = None, ok: bool = True) -> html.Div:
    items = [html.Li(r["message"]) for r in refused or []]
    return html.Div(
        [
            html.Div(text, className="ok" if ok else "error"),
            html.Ul(items, className="error") if items else None,
        ]
    )


def table_rows(ws: Workspace, status: list[str] | None, limit: int = 2000) -> list[dict]:
    items, _ = svc.log(ws, offset=0, limit=limit, status=status or None)
    for d in items:
        for k in ("old_value", "new_value"):
            d[k] = "" if d[k] is None else str(d[k])
    return items


def library_view(rules: list[dict[str, Any]]) -> Any:
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


def preview_view(res: dict[str, Any]) -> html.Div:
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


__all__ = ["FIELDS", "layout"]
