"""Users and API keys (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlalchemy import select

from spendlab.app.api.bodies import Body
from spendlab.app.api.deps import Admin, StateDep
from spendlab.app.api.paging import Page, PageParams, page_params, paginate
from spendlab.app.auth import (
    check_password_rules,
    create_api_key,
    create_user,
    hash_password,
    list_api_keys,
    list_users,
    revoke_api_key,
)
from spendlab.app.store import Role, User
from spendlab.errors import ConfigError, NotFoundError

router = APIRouter(tags=["users"])
Paging = Annotated[PageParams, Depends(page_params)]


class UserOut(BaseModel):
    id: int
    username: str
    role: Role
    disabled: bool
    created_at: str
    last_login_at: str | None


class UserIn(Body):
    username: str = Field(min_length=3, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    role: Role = Role.VIEWER


class UserPatch(Body):
    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=1024)


class KeyIn(Body):
    name: str = Field(min_length=1, max_length=100)
    role: Role = Role.VIEWER
    owner: str | None = Field(None, description="User the key acts for (default: you)")


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    role: Role
    owner: str
    created_at: str
    last_used_at: str | None
    revoked: bool


class KeyCreated(KeyOut):
    key: str = Field(description="The secret; shown once, store it now")


def _user(s, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def _admins_left(s, excluding: str) -> int:
    q = select(User).where(User.role == Role.ADMIN.value, User.disabled.is_(False))
    return sum(1 for u in s.scalars(q) if u.username != excluding)


@router.get("/users", response_model=Page[UserOut], summary="List users")
def get_users(_: Admin, state: StateDep, paging: Paging) -> dict:
    return paginate(list_users(state.store), paging)


@router.post("/users", response_model=UserOut, status_code=201, summary="Add a user")
def add_user(body: UserIn, _: Admin, state: StateDep) -> dict:
    return create_user(state.store, body.username, body.password, body.role).to_dict()


@router.patch("/users/{username}", response_model=UserOut, summary="Change role, disable")
def patch_user(
    username: Annotated[str, Path(max_length=64)], body: UserPatch, me: Admin, state: StateDep
) -> dict:
    if body.password is not None:
        check_password_rules(body.password)
    with state.store.session() as s:
        user = _user(s, username)
        demoting = (body.role not in (None, Role.ADMIN)) or body.disabled
        if user.role == Role.ADMIN.value and demoting and _admins_left(s, username) == 0:
            raise ConfigError("cannot demote or disable the last admin; make another admin first")
        if body.role is not None:
            user.role = body.role.value
        if body.disabled is not None:
            user.disabled = body.disabled
        if body.password is not None:
            user.password_hash = hash_password(body.password)
        return user.to_dict()


@router.delete("/users/{username}", status_code=204, summary="Delete a user")
def delete_user(username: Annotated[str, Path(max_length=64)], me: Admin, state: StateDep) -> None:
    if username == me.username:
        raise ConfigError("you cannot delete yourself; ask another admin")
    with state.store.session() as s:
        user = _user(s, username)
        if user.role == Role.ADMIN.value and _admins_left(s, username) == 0:
            raise ConfigError("cannot delete the last admin")
        s.delete(user)


@router.get("/api-keys", response_model=Page[KeyOut], summary="List API keys")
def get_keys(_: Admin, state: StateDep, paging: Paging) -> dict:
    return paginate(list_api_keys(state.store), paging)


@router.post("/api-keys", response_model=KeyCreated, status_code=201, summary="New API key")
def add_key(body: KeyIn, me: Admin, state: StateDep) -> dict:
    record, secret = create_api_key(state.store, body.owner or me.username, body.name, body.role)
    return {**record.to_dict(), "key": secret}


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
def revoke_key(key_id: Annotated[int, Path(ge=1, le=2**62)], _: Admin, state: StateDep) -> None:
    revoke_api_key(state.store, key_id)
