"""Request dependencies: the app state and who is calling, with a role check on every route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from spendlab.app.access import workspace_principal
from spendlab.app.api.state import AppState
from spendlab.app.auth import AuthError, Principal, check_api_key
from spendlab.app.store import Role

SESSION_COOKIE = "spendlab_session"

bearer = HTTPBearer(auto_error=False, description="JWT access token or an API key (slk_...)")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def get_state(request: Request) -> AppState:
    return request.app.state.spendlab


StateDep = Annotated[AppState, Depends(get_state)]


def principal_from(state: AppState, request: Request, token: str | None, key: str | None):
    if key:
        return check_api_key(state.store, key)
    if token:
        if token.startswith("slk_"):
            return check_api_key(state.store, token)
        return state.tokens.principal(token, "access")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return state.tokens.principal(cookie, "session")
    raise AuthError("not authenticated: send 'Authorization: Bearer <token>' or 'X-API-Key'")


def current_principal(
    request: Request,
    state: StateDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    key: Annotated[str | None, Security(api_key_header)] = None,
) -> Principal:
    """The caller; on a ``/workspaces/{workspace}/...`` route, with its role in that workspace
    (a workspace it may not reach answers 404: :mod:`spendlab.app.access`)."""
    p = principal_from(state, request, creds.credentials if creds else None, key)
    ref = request.path_params.get("workspace")
    return p if ref is None else workspace_principal(state, p, ref)


def require(role: Role) -> Callable[..., Principal]:
    """Dependency: the caller, who must have at least ``role``."""

    def dep(p: Annotated[Principal, Depends(current_principal)]) -> Principal:
        p.require(role)
        return p

    dep.__name__ = f"require_{role.value}"
    return dep


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Analyst = Annotated[Principal, Depends(require(Role.ANALYST))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
