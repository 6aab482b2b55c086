"""Settings: users, who may open the chosen workspace, and API keys (admins only)."""

from __future__ import annotations

from dash import Input, Output, State, dcc, html, no_update

from spendlab.app import access
from spendlab.app.auth import (
    create_api_key,
    create_user,
    list_api_keys,
    list_users,
    revoke_api_key,
)
from spendlab.app.store import Role
from spendlab.app.web.pages.context import PageContext
from spendlab.app.web.session import PICKER, current_user
from spendlab.errors import SpendLabError

ROLES = [{"label": r.value, "value": r.value} for r in Role]


def _users(state) -> html.Table:
    rows = [
        html.Tr(
            [
                html.Td(u["username"]),
                html.Td(u["role"]),
                html.Td("disabled" if u["disabled"] else "active"),
                html.Td((u["last_login_at"] or "")[:16].replace("T", " ")),
            ]
        )
        for u in list_users(state.store)
    ]
    head = html.Tr([html.Th(h) for h in ("User", "Role", "Status", "Last login (UTC)")])
    return html.Table([head, *rows], className="report", id="settings-users")


GRANT_ROLES = [{"label": r.value, "value": r.value} for r in (Role.VIEWER, Role.ANALYST)]


def _grants(state, ws_id: int | None) -> html.Div:
    if ws_id is None:
        return html.Div("Pick a workspace to see who may open it.", className="empty")
    ws = state.workspaces.get(ws_id)
    rows = [
        html.Tr([html.Td(g["username"]), html.Td(g["role"]), html.Td(g["granted_by"])])
        for g in access.grants(state.store, ws)
    ]
    head = html.Tr([html.Th(h) for h in ("User", "Role here", "Granted by")])
    note = html.P(f"Admins open every workspace. Others open {ws.name} only when granted here.")
    return html.Div([note, html.Table([head, *rows], className="report", id="settings-grants")])


def _keys(state) -> html.Table:
    keys = list_api_keys(state.store)
    head = html.Tr([html.Th(h) for h in ("Id", "Name", "Owner", "Role", "Prefix", "Status")])
    rows = [
        html.Tr(
            [
                html.Td(str(k["id"])),
                html.Td(k["name"]),
                html.Td(k["owner"]),
                html.Td(k["role"]),
                html.Td(k["prefix"]),
                html.Td("revoked" if k["revoked"] else "active"),
            ]
        )
        for k in keys
    ]
    return html.Table([head, *rows], className="report", id="settings-keys")


def layout(ctx: PageContext) -> html.Div:
    if not ctx.user.role.allows(Role.ADMIN):
        return html.Div(
            [
                html.H2("Settings"),
                html.Div(
                    "Settings need the admin role; ask an admin to manage users and keys.",
                    className="empty",
                    id="settings-denied",
                ),
            ]
        )
    return html.Div(
        [
            html.H2("Settings"),
            html.Div(
                className="panel",
                children=[
                    html.H3("Users"),
                    html.Div(_users(ctx.state), id="settings-users-wrap"),
                    html.Div(
                        className="form-row",
                        children=[
                            dcc.Input(id="new-user", placeholder="user name"),
                            dcc.Input(id="new-pass", type="password", placeholder="password (10+)"),
                            dcc.Dropdown(
                                id="new-role",
                                options=ROLES,
                                value="viewer",
                                clearable=False,
                                style={"width": "140px"},
                            ),
                            html.Button("Add user", id="add-user", className="primary"),
                        ],
                    ),
                    html.Div(id="user-msg"),
                ],
            ),
            html.Div(
                className="panel",
                children=[
                    html.H3("Workspace access"),
                    html.Div(_grants(ctx.state, ctx.workspace_id), id="settings-grants-wrap"),
                    html.Div(
                        className="form-row",
                        children=[
                            dcc.Input(id="grant-user", placeholder="user name"),
                            dcc.Dropdown(
                                id="grant-role",
                                options=GRANT_ROLES,
                                value="viewer",
                                clearable=False,
                                style={"width": "140px"},
                            ),
                            html.Button("Grant", id="grant-add", className="primary"),
                            html.Button("Revoke", id="grant-revoke"),
                        ],
                    ),
                    html.Div(id="grant-msg"),
                ],
            ),
            html.Div(
                className="panel",
                children=[
                    html.H3("API keys"),
                    html.Div(_keys(ctx.state), id="settings-keys-wrap"),
                    html.Div(
                        className="form-row",
                        children=[
                            dcc.Input(id="key-name", placeholder="key name, e.g. airflow"),
                            dcc.Dropdown(
                                id="key-role",
                                options=ROLES,
                                value="viewer",
                                clearable=False,
                                style={"width": "140px"},
                            ),
                            html.Button("Create key", id="add-key", className="primary"),
                            dcc.Input(id="revoke-id", type="number", placeholder="key id"),
                            html.Button("Revoke", id="revoke-key"),
                        ],
                    ),
                    html.Div(id="key-msg"),
                ],
            ),
        ]
    )


def register(app, state) -> None:
    register_grants(app, state)

    @app.callback(
        Output("user-msg", "children"),
        Output("settings-users-wrap", "children"),
        Input("add-user", "n_clicks"),
        State("new-user", "value"),
        State("new-pass", "value"),
        State("new-role", "value"),
        prevent_initial_call=True,
    )
    def _add_user(_n, username, password, role):
        current_user(state).require(Role.ADMIN)
        try:
            create_user(state.store, (username or "").strip(), password or "", role)
        except SpendLabError as e:
            return html.Div(str(e), className="error"), no_update
        return html.Div(f"Added {username} ({role}).", className="ok"), _users(state)

    @app.callback(
        Output("key-msg", "children"),
        Output("settings-keys-wrap", "children"),
        Input("add-key", "n_clicks"),
        Input("revoke-key", "n_clicks"),
        State("key-name", "value"),
        State("key-role", "value"),
        State("revoke-id", "value"),
        prevent_initial_call=True,
    )
    def _keys_cb(_a, _r, name, role, revoke_id):
        from dash import ctx

        me = current_user(state)
        me.require(Role.ADMIN)
        try:
            if ctx.triggered_id == "revoke-key":
                revoke_api_key(state.store, int(revoke_id or 0))
                return html.Div(f"Revoked key {revoke_id}.", className="ok"), _keys(state)
            _, secret = create_api_key(state.store, me.username, name or "", role)
        except SpendLabError as e:
            return html.Div(str(e), className="error"), no_update
        msg = html.Div(
            [html.P("Copy the key now; it is not shown again:"), html.Div(secret, id="new-key")],
            className="secret",
        )
        return msg, _keys(state)


def register_grants(app, state) -> None:
    @app.callback(
        Output("grant-msg", "children"),
        Output("settings-grants-wrap", "children"),
        Input("grant-add", "n_clicks"),
        Input("grant-revoke", "n_clicks"),
        State("grant-user", "value"),
        State("grant-role", "value"),
        State(PICKER, "value"),
        prevent_initial_call=True,
    )
    def _grant(_a, _r, username, role, ws_id):
        from dash import ctx

        me = current_user(state)
        me.require(Role.ADMIN)
        if ws_id is None:
            return html.Div("Pick a workspace first.", className="error"), no_update
        ws = state.workspaces.get(ws_id)
        name = (username or "").strip()
        try:
            if ctx.triggered_id == "grant-revoke":
                done = access.revoke(state.store, name, ws)
                msg = f"{name} no longer opens {ws.name}." if done else f"{name} had no grant."
            else:
                g = access.grant(state.store, name, ws, role, by=me.username)
                msg = f"{g['username']} is {g['role']} in {g['workspace']}."
        except SpendLabError as e:
            return html.Div(str(e), className="error"), no_update
        return html.Div(msg, className="ok"), _grants(state, ws_id)
