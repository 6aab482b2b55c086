"""rules engine: every rules table carries its workspace (several workspaces in one store)

Adds ``workspace`` (the resolved workspace folder, :func:`spendlab.config.workspace_key`; NOT
NULL, default ``''``) to rule_versions, rule_runs, rule_run_dates, rule_actions and
rule_settings. It joins the primary keys of rule_versions (workspace, rule_id, version),
rule_run_dates (workspace, rule_id, version, as_of) and rule_settings (workspace, rule_id);
rule_runs and rule_actions get an index on it. Rows that exist before the upgrade get ``''``:
a store that several workspaces shared before keeps them under ``''`` (no workspace sees them;
they stay for the audit trail), while a workspace's own ``app.db`` can claim them with one
UPDATE setting ``workspace`` to the folder's resolved path.

Revision ID: 0006_rules_workspace
Revises: 0005_rule_settings
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_rules_workspace"
down_revision = "0005_rule_settings"
branch_labels = None
depends_on = None

#: table -> its primary key before and after (None: the key does not change)
KEYS: dict[str, tuple[list[str], list[str]] | None] = {
    "rule_versions": (["rule_id", "version"], ["workspace", "rule_id", "version"]),
    "rule_run_dates": (
        ["rule_id", "version", "as_of"],
        ["workspace", "rule_id", "version", "as_of"],
    ),
    "rule_settings": (["rule_id"], ["workspace", "rule_id"]),
    "rule_runs": None,
    "rule_actions": None,
}


def _column() -> sa.Column:
    return sa.Column("workspace", sa.String(length=1000), nullable=False, server_default="")


def _pk_name(table: str) -> str:
    """The primary key's name: PostgreSQL's own (``<table>_pkey``); SQLite's key is unnamed,
    so batch mode names it by :data:`NAMING` to drop it."""
    return sa.inspect(op.get_bind()).get_pk_constraint(table).get("name") or f"pk_{table}"


#: SQLite recreates the table (batch mode); PostgreSQL alters the key in place
NAMING = {"pk": "pk_%(table_name)s"}


def upgrade() -> None:
    for table, keys in KEYS.items():
        if keys is None:
            with op.batch_alter_table(table) as batch:
                batch.add_column(_column())
                batch.create_index(f"ix_{table}_workspace", ["workspace"], unique=False)
            continue
        name = _pk_name(table)
        with op.batch_alter_table(table, naming_convention=NAMING) as batch:
            batch.add_column(_column())
            batch.drop_constraint(name, type_="primary")
            batch.create_primary_key(name, keys[1])


def downgrade() -> None:
    for table, keys in KEYS.items():
        if keys is None:
            with op.batch_alter_table(table) as batch:
                batch.drop_index(f"ix_{table}_workspace")
                batch.drop_column("workspace")
            continue
        name = _pk_name(table)
        with op.batch_alter_table(table, naming_convention=NAMING) as batch:
            batch.drop_constraint(name, type_="primary")
            batch.drop_column("workspace")
            batch.create_primary_key(name, keys[0])
