"""Alembic environment: runs on the connection the caller passes (see store/db.py)."""

from __future__ import annotations

from alembic import context

from spendlab.app.store.db import all_metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - offline SQL generation is not offered
    raise RuntimeError("spendlab migrations run through spendlab.app.store.db.upgrade()")

context.configure(
    connection=connection,
    target_metadata=all_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
