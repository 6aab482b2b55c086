"""Who is using the dashboard: read from the session cookie inside a Dash callback."""

from __future__ import annotations

import flask

from spendlab.app.api.deps import SESSION_COOKIE
from spendlab.app.api.state import AppState
from spendlab.app.auth import AuthError, Principal
from spendlab.app.store import Role


def current_user(state: AppState) -> Principal:
    token = flask.request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthError("not logged in")
    return state.tokens.principal(token, "session")


def allowed(state: AppState, role: Role) -> bool:
    try:
        return current_user(state).role.allows(role)
    except AuthError:
        return False
