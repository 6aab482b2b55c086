"""The web dashboard: a login page served by FastAPI and the Dash app mounted at /app.

Only the public JavaScript and CSS of Dash's component suites are served without a session;
every page and callback needs a valid session cookie.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from spendlab.app.api.deps import SESSION_COOKIE
from spendlab.app.api.state import AppState
from spendlab.app.auth import AuthError
from spendlab.app.web import login
from spendlab.app.web.dashboard import create_dash

PUBLIC_PREFIXES = ("/_dash-component-suites/", "/assets/", "/_favicon.ico")


class SessionGuard:
    """Lets a request into the Dash app only with a valid session cookie."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        inner = path[len(root) :] if root and path.startswith(root) else path
        if inner.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        cookie = SimpleCookie()
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                cookie.load(value.decode("latin-1"))
        token = cookie[SESSION_COOKIE].value if SESSION_COOKIE in cookie else None
        try:
            if token is None:
                raise AuthError("not logged in")
            self.state.tokens.principal(token, "session")
        except AuthError as e:
            if inner.startswith("/_dash-"):
                response = JSONResponse({"error": {"status": 401, "message": str(e)}}, 401)
            else:
                response = RedirectResponse("/login?next=/app/", status_code=303)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def mount(app: FastAPI, state: AppState) -> list[str]:
    """Add the login routes and mount the dashboard at /app. Returns the hashes of Dash's
    inline scripts, for the Content-Security-Policy."""
    app.include_router(login.router)
    dash_app = create_dash(state)
    app.mount("/app", SessionGuard(WSGIMiddleware(dash_app.server), state))
    return list(dash_app.csp_hashes())
