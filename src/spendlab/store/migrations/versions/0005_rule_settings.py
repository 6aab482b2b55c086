"""rules engine: per-rule settings (run mode of scheduled runs, soft delete)

Revision ID: 0005_rule_settings
Revises: 0004_mmm
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_rule_settings"
down_revision = "0004_mmm"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_settings",
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("rule_id"),
    )


def downgrade() -> None:
    op.drop_table("rule_settings")
