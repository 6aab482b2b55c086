"""Data: drag-and-drop upload through the ingest readers with the validation report, the
tables with row counts and date ranges, and the load log."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from dash import Input, Output, State, dcc, html, no_update

from spendlab.app.store import Role
from spendlab.app.web.pages.context import PageContext
from spendlab.app.web.session import current_user
from spendlab.data.service import ingest_upload
from spendlab.data.sources import get_source, source_names
from spendlab.errors import SpendLabError


def _tables(state, ws_id) -> html.Table:
    with state.workspaces.warehouse(ws_id) as wh:
        tables = wh.list_tables()
    return html.Table(
        className="report",
        id="data-tables",
        children=[
            html.Tr([html.Th("Table"), html.Th("Rows"), html.Th("First day"), html.Th("Last day")])
        ]
        + [
            html.Tr(
                [
                    html.Td(t.name),
                    html.Td(f"{t.rows:,}"),
                    html.Td(t.first_date or ""),
                    html.Td(t.last_date or ""),
                ]
            )
            for t in tables
        ],
    )


def layout(ctx: PageContext) -> html.Div:
    can_upload = ctx.user.role.allows(Role.ANALYST)
    upload: Any
    if can_upload:
        upload = html.Div(
            [
                html.Div(
                    className="form-row",
                    children=[
                        html.Label("Source"),
                        dcc.Dropdown(
                            id="data-source",
                            options=[
                                {"label": f"{n}: {get_source(n).description}", "value": n}
                                for n in source_names()
                            ],
                            value="google_ads_ui",
                            clearable=False,
                            style={"width": "520px"},
                        ),
                        dcc.Checklist(
                            id="data-dry",
                            options=[{"label": " Validate only (write nothing)", "value": "dry"}],
                            value=[],
                        ),
                    ],
                ),
                html.Div(
                    className="form-row",
                    children=[
                        html.Label("Options (JSON, optional)"),
                        dcc.Input(
                            id="data-options",
                            placeholder='{"table": "outcomes"}',
                            style={"width": "420px"},
                        ),
                    ],
                ),
                dcc.Upload(
                    id="data-upload",
                    className="upload",
                    children=html.Div(["Drag and drop a file here, or ", html.A("choose one")]),
                    max_size=ctx.state.settings.max_upload_bytes,
                    multiple=False,
                ),
                dcc.Loading(html.Div(id="data-report")),
            ]
        )
    else:
        upload = html.P(
            "Uploading needs the analyst role; ask an admin.", className="muted", id="data-ro"
        )
    return html.Div(
        [
            html.H2("Data"),
            html.Div(className="panel", children=[html.H3("Upload a file"), upload]),
            html.Div(
                className="panel",
                children=[
                    html.H3("Tables"),
                    html.Div(id="data-tables-wrap", children=_tables(ctx.state, ctx.workspace_id)),
                ],
            ),
        ]
    )


def report_view(result: dict[str, Any] | None, error: SpendLabError | None) -> html.Div:
    issues = [i.to_dict() for i in getattr(error, "issues", [])] if error else result["issues"]
    if error is not None:
        head = html.Div(f"Rejected: {error}", className="error", id="data-error")
    else:
        rows = result["rows"]
        verb = "Validated (nothing written)" if result.get("dry_run") else "Loaded"
        head = html.Div(
            f"{verb} {result['file']}: {rows['read']:,} rows read, {rows['added']:,} added, "
            f"{rows['replaced']:,} replaced, {rows['unchanged']:,} unchanged, "
            f"{rows['rejected']:,} rejected.",
            className="ok",
            id="data-ok",
        )
    table = []
    if issues:
        table = [
            html.Table(
                className="report",
                id="data-issues",
                children=[
                    html.Tr(
                        [
                            html.Th(h)
                            for h in ("Severity", "Row", "Column", "Value", "Problem", "Fix")
                        ]
                    )
                ]
                + [
                    html.Tr(
                        [
                            html.Td(i["severity"]),
                            html.Td("" if i["row"] is None else str(i["row"])),
                            html.Td(i["column"] or ""),
                            html.Td("" if i["value"] is None else str(i["value"])),
                            html.Td(
                                i["problem"]
                                + (f" ({i['count']} rows)" if i.get("count", 1) > 1 else "")
                            ),
                            html.Td(i["fix"]),
                        ]
                    )
                    for i in issues[:200]
                ],
            )
        ]
    return html.Div([head, *table])


def register(app, state) -> None:
    @app.callback(
        Output("data-report", "children"),
        Output("data-tables-wrap", "children"),
        Input("data-upload", "contents"),
        State("data-upload", "filename"),
        State("data-source", "value"),
        State("data-options", "value"),
        State("data-dry", "value"),
        State("ws-select", "value"),
        prevent_initial_call=True,
    )
    def _upload(contents, filename, source, options, dry, ws_id):
        if not contents:
            return no_update, no_update
        current_user(state).require(Role.ANALYST)
        try:
            payload = base64.b64decode(contents.split(",", 1)[1], validate=True)
        except (IndexError, binascii.Error):
            bad = html.Div("The browser sent an unreadable file; try again.", className="error")
            return bad, no_update
        try:
            ws = state.workspaces.handle(ws_id)
            result = ingest_upload(ws, filename, payload, source, options, dry_run=bool(dry))
        except SpendLabError as e:
            return report_view(None, e), no_update
        return report_view(result, None), _tables(state, ws_id)
