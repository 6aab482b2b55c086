"""The server's store: users, API keys, revoked tokens, background jobs and the registry of
workspaces. Rows that belong to a workspace (runs, curve sets, scenarios, rules, actions) live in
the workspace's store (:class:`spendlab.workspace.Workspace`). Engines, sessions and migrations:
:mod:`spendlab.store`.
"""

from spendlab.app.store.models import (
    ApiKey,
    Base,
    Job,
    RegisteredWorkspace,
    RevokedToken,
    Role,
    User,
    WorkspaceGrant,
)
from spendlab.store import Store, open_store, upgrade

__all__ = [
    "ApiKey",
    "Base",
    "Job",
    "RegisteredWorkspace",
    "RevokedToken",
    "Role",
    "Store",
    "User",
    "WorkspaceGrant",
    "open_store",
    "upgrade",
]
