"""Log in (tokens), refresh, log out, who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, Field

from spendlab.app.api.bodies import Body
from spendlab.app.api.deps import StateDep, current_principal
from spendlab.app.auth import Principal, login

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RefreshBody(Body):
    refresh_token: str = Field(min_length=1, max_length=4096)


@router.post("/token", response_model=TokenPair, summary="Log in: user name and password")
def token(
    request: Request,
    state: StateDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
) -> dict:
    """OAuth2 password flow (form fields), so the Authorize button in /docs works."""
    client = request.client.host if request.client else "unknown"
    return state.tokens.issue_pair(login(state.store, state.limiter, client, username, password))


@router.post("/refresh", response_model=TokenPair, summary="New tokens for a refresh token")
def refresh(body: RefreshBody, state: StateDep) -> dict:
    return state.tokens.refresh(body.refresh_token)


@router.post("/logout", status_code=204, summary="Revoke a refresh token")
def logout(body: RefreshBody, state: StateDep) -> None:
    state.tokens.revoke(body.refresh_token, "refresh")


@router.get("/me", summary="Who the credentials belong to")
def me(p: Annotated[Principal, Depends(current_principal)]) -> dict[str, str]:
    return {"username": p.username, "role": p.role.value, "via": p.via}
