"""Who is using the dashboard, read from the session cookie inside a Dash callback, and the
per-workspace check every callback passes (:mod:`spendlab.app.access`)."""

from __future__ import annotations

from typing import Any

import flask

from spendlab.app.access import visible, workspace_principal
from spendlab.app.api.deps import SESSION_COOKIE
from spendlab.app.api.state import AppState
from spendlab.app.auth import AuthError, Principal
from spendlab.app.store import Role
from spendlab.errors import WorkspaceNotFoundError

#: The workspace picker: every page's callbacks read the workspace from it.
PICKER = "ws-select"


def session_user(state: AppState) -> Principal:
    """The signed-in user with their own role (outside any workspace)."""
    token = flask.request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthError("not logged in")
    return state.tokens.principal(token, "session")


def current_user(state: AppState) -> Principal:
    """The signed-in user, with their role in the workspace the callback works on (the picker's
    value, checked by :func:`guard_workspace` before the callback ran)."""
    scoped = getattr(flask.g, "workspace_principal", None)
    return scoped if scoped is not None else session_user(state)


def allowed(state: AppState, role: Role) -> bool:
    try:
        return current_user(state).role.allows(role)
    except AuthError:
        return False


def visible_workspaces(state: AppState) -> list[Any]:
    """The registered workspaces the signed-in user can open (the picker's options)."""
    return visible(state, session_user(state))


def _picker_values(body: dict[str, Any]) -> set[Any]:
    items: list[Any] = []
    for key in ("inputs", "state"):
        for item in body.get(key) or []:
            items.extend(item if isinstance(item, list) else [item])
    return {i.get("value") for i in items if isinstance(i, dict) and i.get("id") == PICKER}


def guard_workspace(state: AppState) -> Any:
    """Before every Dash callback: a callback that reads the workspace picker runs only for a
    workspace the user can open, with the user's role there (a replayed or edited request for
    another client's workspace answers 404, as the API does). The shell callback that fills the
    picker is the one exception: it chooses among the user's own workspaces."""
    if not flask.request.path.endswith("/_dash-update-component"):
        return None
    body = flask.request.get_json(silent=True) or {}
    if f"{PICKER}.options" in str(body.get("output", "")):
        return None
    refs = {v for v in _picker_values(body) if v is not None}
    if not refs:
        return None
    try:
        user = session_user(state)
        for ref in refs:
            flask.g.workspace_principal = workspace_principal(state, user, ref)
    except AuthError as e:
        code = "forbidden" if e.status == 403 else "unauthorized"
        return {"error": {"status": e.status, "code": code, "message": str(e)}}, e.status
    except WorkspaceNotFoundError as e:
        return {"error": {"status": 404, "code": "not_found", "message": str(e)}}, 404
    return None
