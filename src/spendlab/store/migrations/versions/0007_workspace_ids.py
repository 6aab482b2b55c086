"""workspaces are keyed by a stable id, not by their folder path

Every row that belongs to a workspace (MMM runs, curve sets, scenarios, rule versions, rule runs,
rule run dates, the action log, rule settings) carried the workspace's resolved folder path, so
moving the folder orphaned them. From this revision they carry the workspace's stable id, kept in
its ``spendlab.toml`` (``[workspace] id``). The upgrade re-keys every row whose key is the path of
a workspace folder that still exists (giving that folder an id when it has none), and records
the id of every registered workspace (``workspaces.uid``, unique). Rows keyed by a folder that no
longer exists keep their path (no workspace sees them; they stay for the audit trail).

Rows the server fitted before this revision live in the server's store; the server moves a
workspace's rows into the workspace's own store when it registers or opens the workspace
(:func:`spendlab.app.registry.adopt_rows`).

Revision ID: 0007_workspace_ids
Revises: 0006_rules_workspace
Create Date: 2026-12-08
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

from spendlab.config import WORKSPACE_FILE, WorkspaceConfig

revision = "0007_workspace_ids"
down_revision = "0006_rules_workspace"
branch_labels = None
depends_on = None

TABLES = (
    "mmm_runs",
    "plan_curve_sets",
    "plan_scenarios",
    "rule_versions",
    "rule_runs",
    "rule_run_dates",
    "rule_actions",
    "rule_settings",
)


def folder_id(path: str) -> str | None:
    """The stable id of the workspace folder at ``path`` (assigned now if it has none), or None
    when no workspace is there any more."""
    root = Path(path)
    if not root.is_absolute() or not (root / WORKSPACE_FILE).exists():
        return None
    try:
        return WorkspaceConfig.ensure_id(root).id
    except (OSError, ValueError):
        return None


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("uid", sa.String(length=64), nullable=True))
        batch.create_index("ix_workspaces_uid", ["uid"], unique=True)
    ids: dict[str, str | None] = {}
    meta = sa.MetaData()
    for name in TABLES:
        t = sa.Table(name, meta, autoload_with=bind)
        keys = [r[0] for r in bind.execute(sa.select(t.c.workspace).distinct())]
        for key in keys:
            if key not in ids:
                ids[key] = folder_id(key) if key else None
            if ids[key]:
                bind.execute(t.update().where(t.c.workspace == key).values(workspace=ids[key]))
    ws = sa.Table("workspaces", meta, autoload_with=bind)
    for wid, path in bind.execute(sa.select(ws.c.id, ws.c.path)).all():
        uid = ids.get(path) if path in ids else folder_id(path)
        if uid:
            bind.execute(ws.update().where(ws.c.id == wid).values(uid=uid))


def downgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_index("ix_workspaces_uid")
        batch.drop_column("uid")
