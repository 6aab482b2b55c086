"""Who may use which workspace, with which role.

- An **admin** (``User.role == admin``) reaches every workspace, as admin.
- Every other user reaches only the workspaces granted to them (``workspace_grants``), with the
  role granted there, capped by their own role (``User.role`` is the most a user may do
  anywhere) and, for an API key, by the key's role.
- A workspace the caller may not reach is answered as if it did not exist (404, and it is left
  out of every list), so one client's workspace names do not leak to another client's users.

The REST API applies it in one place (``app/api/deps.current_principal`` for every
``/workspaces/{workspace}/...`` route; the brief's endpoints that name the workspace in their
body call :func:`workspace_principal`), the dashboard in another (a check before every callback
that reads the workspace picker: ``app/web/session.py``).
"""

from __future__ import annotations

from sqlalchemy import delete, select

from spendlab.app.auth import Principal
from spendlab.app.store import RegisteredWorkspace, Role, Store, User, WorkspaceGrant
from spendlab.errors import ConfigError, NotFoundError, WorkspaceNotFoundError


def _lower(a: Role, b: Role) -> Role:
    return a if a.rank <= b.rank else b


def granted_ids(store: Store, p: Principal) -> set[int] | None:
    """The registry numbers of the workspaces ``p`` may reach (None: every one, an admin)."""
    if p.role is Role.ADMIN:
        return None
    with store.session() as s:
        q = (
            select(WorkspaceGrant.workspace_id)
            .join(User, User.id == WorkspaceGrant.user_id)
            .where(User.username == p.username)
        )
        return set(s.scalars(q))


def visible(state, p: Principal) -> list[RegisteredWorkspace]:
    """The registered workspaces ``p`` may open, in registry order (every one for an admin)."""
    ids = granted_ids(state.store, p)
    return [w for w in state.workspaces.list() if ids is None or w.id in ids]


def role_in(store: Store, p: Principal, ws_id: int) -> Role | None:
    """``p``'s role in workspace ``ws_id``, or None when it may not reach it."""
    if p.role is Role.ADMIN:
        return Role.ADMIN
    with store.session() as s:
        granted = s.scalar(
            select(WorkspaceGrant.role)
            .join(User, User.id == WorkspaceGrant.user_id)
            .where(User.username == p.username, WorkspaceGrant.workspace_id == ws_id)
        )
    return None if granted is None else _lower(Role(granted), p.role)


def in_workspace(store: Store, p: Principal, ws: RegisteredWorkspace, ref: object) -> Principal:
    """``p`` with its role in ``ws`` (asked for as ``ref``); a workspace it may not reach is
    "not found", with the same message as one that does not exist."""
    role = role_in(store, p, ws.id)
    if role is None:
        raise WorkspaceNotFoundError(
            f"no workspace {str(ref)[:100]!r}; list them with GET /api/v1/workspaces"
        )
    return Principal(p.username, role, p.via)


def workspace_principal(state, p: Principal, ref: int | str) -> Principal:
    """``p`` with its role in the registered workspace ``ref`` (by number or name)."""
    return in_workspace(state.store, p, state.workspaces.get(ref), ref)


def open_for(state, p: Principal, ref: int | str, role: Role = Role.VIEWER):
    """The :class:`~spendlab.workspace.Workspace` handle of ``ref`` for a caller who needs
    ``role`` there (for routes that name the workspace in a form, query or body field)."""
    workspace_principal(state, p, ref).require(role)
    return state.workspaces.handle(ref)


# -- granting ------------------------------------------------------------------------------------
def grant(store: Store, username: str, ws: RegisteredWorkspace, role: Role | str, *, by: str):
    """Give ``username`` ``role`` in ``ws`` (replacing an earlier grant). Returns the grant."""
    role = Role(role)
    with store.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFoundError(f"no user {username!r}; list them with `spendlab user list`")
        if user.role == Role.ADMIN.value:
            raise ConfigError(f"{username} is an admin and reaches every workspace already")
        if not Role(user.role).allows(role):
            raise ConfigError(
                f"{username} is a {user.role}: a grant cannot give more; raise the user's role "
                f"first or grant {user.role}"
            )
        row = s.scalar(
            select(WorkspaceGrant).where(
                WorkspaceGrant.user_id == user.id, WorkspaceGrant.workspace_id == ws.id
            )
        )
        if row is None:
            row = WorkspaceGrant(user_id=user.id, workspace_id=ws.id)
            s.add(row)
        row.role, row.granted_by = role.value, by[:64]
        s.flush()
        return {"username": username, "workspace": ws.name, "role": role.value}


def revoke(store: Store, username: str, ws: RegisteredWorkspace) -> bool:
    """Take ``username``'s access to ``ws`` away; True when there was a grant."""
    with store.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == username))
        if user_id is None:
            raise NotFoundError(f"no user {username!r}")
        res = s.execute(
            delete(WorkspaceGrant).where(
                WorkspaceGrant.user_id == user_id, WorkspaceGrant.workspace_id == ws.id
            )
        )
        return bool(res.rowcount)


def grants(store: Store, ws: RegisteredWorkspace) -> list[dict[str, str]]:
    """Who is granted what in ``ws`` (admins reach it without a grant and are not listed)."""
    with store.session() as s:
        rows = s.execute(
            select(User.username, WorkspaceGrant.role, WorkspaceGrant.granted_by)
            .join(User, User.id == WorkspaceGrant.user_id)
            .where(WorkspaceGrant.workspace_id == ws.id)
            .order_by(User.username)
        ).all()
    return [{"username": u, "role": r, "granted_by": b} for u, r, b in rows]


__all__ = [
    "grant",
    "granted_ids",
    "grants",
    "in_workspace",
    "open_for",
    "revoke",
    "visible",
    "role_in",
    "workspace_principal",
]
