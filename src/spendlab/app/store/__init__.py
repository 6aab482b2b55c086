"""App state: users, API keys, workspaces, background jobs, and (from the domain issues) saved
scenarios, model runs, rules, rule runs and the action log.

SQLite by default, PostgreSQL by URL. The schema is created and upgraded by Alembic migrations
(``store/migrations``); :func:`open_store` always brings a store to the newest revision.
"""

from spendlab.app.store.db import Store, open_store, upgrade
from spendlab.app.store.models import ApiKey, Base, Job, RevokedToken, Role, User, Workspace

__all__ = [
    "ApiKey",
    "Base",
    "Job",
    "RevokedToken",
    "Role",
    "Store",
    "User",
    "Workspace",
    "open_store",
    "upgrade",
]
