"""a curve set can be stored without becoming active

``plan_curve_sets.active_since`` becomes nullable: NULL means the set was stored but never
activated (an MMM fit that failed its gate, :mod:`spendlab.measure.mmm.gate`). The active set
is still the one with the newest ``active_since``; existing rows keep theirs.

Revision ID: 0008_curve_set_inactive
Revises: 0007_workspace_ids
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_curve_set_inactive"
down_revision = "0007_workspace_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plan_curve_sets", schema=None) as batch_op:
        batch_op.alter_column("active_since", existing_type=sa.DateTime(), nullable=True)


def downgrade() -> None:
    # a never-activated set gets the oldest possible time, so it never outranks an active one
    op.execute(
        "UPDATE plan_curve_sets SET active_since = '1970-01-01 00:00:00' WHERE active_since IS NULL"
    )
    with op.batch_alter_table("plan_curve_sets", schema=None) as batch_op:
        batch_op.alter_column("active_since", existing_type=sa.DateTime(), nullable=False)
