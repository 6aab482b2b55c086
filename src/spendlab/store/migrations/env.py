"""Alembic environment: runs on the connection the caller passes (see spendlab.store.upgrade)."""

from __future__ import annotations

from alembic import context

from spendlab.core.faults import checkpoint

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - offline SQL generation is not offered
    raise RuntimeError("spendlab migrations run through spendlab.store.upgrade()")

context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("metadata"),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # test hook (core/faults.py): stop after a revision's steps, before the commit
    on_version_apply=lambda *, step, **_: checkpoint(f"store.migrate.{step.up_revision_id}"),
)
with context.begin_transaction():
    context.run_migrations()
