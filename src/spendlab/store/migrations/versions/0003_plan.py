"""planning: curve sets and saved scenarios

Revision ID: 0003_plan
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_plan"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_curve_sets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(length=1000), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("n_entities", sa.Integer(), nullable=False),
        sa.Column("draws", sa.Integer(), nullable=True),
        sa.Column("curves", sa.Text(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("active_since", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("plan_curve_sets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plan_curve_sets_workspace"), ["workspace"], unique=False
        )
    op.create_table(
        "plan_scenarios",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace", sa.String(length=1000), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("curve_set_id", sa.Integer(), nullable=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("plan_scenarios", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plan_scenarios_workspace"), ["workspace"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("plan_scenarios", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_scenarios_workspace"))
    op.drop_table("plan_scenarios")
    with op.batch_alter_table("plan_curve_sets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_curve_sets_workspace"))
    op.drop_table("plan_curve_sets")
