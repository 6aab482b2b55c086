"""The Dash app: the shell (top bar, navigation, workspace picker) and the page router.

Pages live in ``web/pages``, one module per navigation entry, each with ``layout(ctx)`` and
``register(app, state)``. Callbacks call the same domain functions as the API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from spendlab.app.api.state import AppState
from spendlab.app.auth import AuthError
from spendlab.app.web.pages import PAGES, PageContext
from spendlab.app.web.session import (
    current_user,
    guard_workspace,
    session_user,
    visible_workspaces,
)

ASSETS = Path(__file__).parent / "assets"


def create_dash(state: AppState) -> dash.Dash:
    app = dash.Dash(
        __name__,
        requests_pathname_prefix="/app/",
        routes_pathname_prefix="/",
        assets_folder=str(ASSETS),
        suppress_callback_exceptions=True,
        title="SpendLab",
        update_title=None,
        serve_locally=True,
    )
    app.layout = html.Div(
        className="shell",
        children=[
            dcc.Location(id="url"),
            html.Div(
                className="topbar",
                children=[
                    html.Span("SpendLab", className="brand"),
                    dcc.Dropdown(
                        id="ws-select", className="ws", clearable=False, placeholder="Workspace"
                    ),
                    html.Span(id="user-badge"),
                    html.A("Log out", href="/logout", id="logout"),
                ],
            ),
            html.Nav(id="nav", className="nav"),
            html.Main(id="page", className="main"),
        ],
    )

    @app.callback(
        Output("ws-select", "options"),
        Output("ws-select", "value"),
        Output("user-badge", "children"),
        Input("url", "pathname"),
        State("ws-select", "value"),
    )
    def _shell(_path: str, current: Any):
        user = session_user(state)
        options = [{"label": w.name, "value": w.id} for w in visible_workspaces(state)]
        ids = [o["value"] for o in options]
        value = current if current in ids else (ids[0] if ids else None)
        return options, value, f"{user.username} ({user.role.value})"

    @app.callback(
        Output("page", "children"),
        Output("nav", "children"),
        Input("url", "pathname"),
        Input("ws-select", "value"),
    )
    def _route(path: str | None, ws_id: int | None):
        slug = (path or "/app/").removeprefix("/app").strip("/") or "overview"
        nav = [
            dcc.Link(
                p.title,
                href=f"/app/{'' if p.slug == 'overview' else p.slug}",
                className="active" if p.slug == slug else "",
                id=f"nav-{p.slug}",
            )
            for p in PAGES
        ]
        page = next((p for p in PAGES if p.slug == slug), None)
        if page is None:
            return html.Div([html.H2("Not found"), html.P(f"No page {slug!r}.")]), nav
        try:
            user = current_user(state)
        except AuthError:
            return html.Div(html.A("Sign in again", href="/login")), nav
        if ws_id is None and page.needs_workspace:
            return _no_workspace(), nav
        return page.layout(PageContext(state=state, user=user, workspace_id=ws_id)), nav

    for p in PAGES:
        p.register(app, state)

    app.server.before_request(lambda: guard_workspace(state))

    @app.server.errorhandler(AuthError)
    def _denied(e: AuthError) -> tuple[dict[str, Any], int]:
        """A callback refused for the caller's role (a replayed request, or a stale page after
        a role change) answers 401/403 with the API's error shape, not a 500."""
        code = "forbidden" if e.status == 403 else "unauthorized"
        return {"error": {"status": e.status, "code": code, "message": str(e)}}, e.status

    return app


def _no_workspace() -> html.Div:
    return html.Div(
        className="empty",
        children=[
            html.H3("No workspace yet"),
            html.P(
                [
                    "Create one with ",
                    html.Code("spendlab init PATH"),
                    " and start the server with ",
                    html.Code("spendlab serve --workspace PATH"),
                    ", or build the demo with ",
                    html.Code("spendlab demo"),
                    ".",
                ]
            ),
        ],
    )
