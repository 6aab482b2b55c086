"""marketing-mix model runs: the index of fits per workspace

Revision ID: 0004_mmm
Revises: 0003_plan
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_mmm"
down_revision = "0003_plan"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mmm_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("data_hash", sa.String(length=64), nullable=True),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("code_version", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mmm_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mmm_runs_workspace"), ["workspace"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mmm_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mmm_runs_workspace"))
    op.drop_table("mmm_runs")
