"""roles are granted per workspace

``workspace_grants`` (user, workspace, role): admins reach every workspace; every other user
reaches only the workspaces granted to them, with the role granted there. So that an upgrade
changes nobody's access, every existing non-admin user is granted their current role on every
workspace registered at the time.

Revision ID: 0009_workspace_grants
Revises: 0008_curve_set_inactive
Create Date: 2026-12-08
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009_workspace_grants"
down_revision = "0008_curve_set_inactive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    grants = op.create_table(
        "workspace_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "workspace_id", name="uq_grant_user_workspace"),
    )
    op.create_index("ix_workspace_grants_user_id", "workspace_grants", ["user_id"])
    op.create_index("ix_workspace_grants_workspace_id", "workspace_grants", ["workspace_id"])
    bind = op.get_bind()
    users = bind.execute(sa.text("SELECT id, role FROM users WHERE role <> 'admin'")).all()
    spaces = [r[0] for r in bind.execute(sa.text("SELECT id FROM workspaces")).all()]
    now = datetime.now(UTC)
    rows = [
        {"user_id": u, "workspace_id": w, "role": role, "granted_by": "upgrade", "created_at": now}
        for u, role in users
        for w in spaces
    ]
    if rows:
        op.bulk_insert(grants, rows)


def downgrade() -> None:
    op.drop_index("ix_workspace_grants_workspace_id", table_name="workspace_grants")
    op.drop_index("ix_workspace_grants_user_id", table_name="workspace_grants")
    op.drop_table("workspace_grants")
