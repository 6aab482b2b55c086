"""The store: migrations on SQLite and a real PostgreSQL, models, no drift between the models
and the migrations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from spendlab.app.store import ApiKey, Job, RegisteredWorkspace, User, open_store
from spendlab.app.store.models import Base
from spendlab.automate import store as automate_store
from spendlab.errors import ConfigError
from spendlab.measure.mmm import store as mmm_store
from spendlab.plan import store as plan_store
from spendlab.store import current_revision, head_revision, make_engine


def all_metadata():
    """Every table the migrations manage: the server's and the domains' (one home each)."""
    return [Base.metadata, automate_store.metadata, plan_store.metadata, mmm_store.metadata]


def test_migrations_create_every_table_at_head(store, store_url):
    assert current_revision(store.engine) == head_revision()
    names = set(inspect(store.engine).get_table_names())
    assert {"users", "api_keys", "workspaces", "jobs", "revoked_tokens"} <= names
    # opening again is a no-op, not an error
    open_store(store_url).close()


def test_models_and_migrations_do_not_drift(store):
    """A model change without a migration fails here (alembic autogenerate finds a diff)."""
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, all_metadata())
    assert diff == []


def test_user_key_workspace_job_round_trip(store):
    with store.session() as s:
        u = User(username="ada", password_hash="h", role="admin")
        s.add(u)
        s.flush()
        s.add(ApiKey(user=u, name="ci", prefix="abcdef012345", key_hash="0" * 64, role="viewer"))
        ws = RegisteredWorkspace(name="w", path="/tmp/w")
        s.add(ws)
        s.flush()
        s.add(Job(id="j1", workspace_id=ws.id, kind="mmm_fit", params={"draws": 500}))
    with store.session() as s:
        user = s.scalar(select(User).where(User.username == "ada"))
        assert user.api_keys[0].name == "ci"
        assert user.created_at.tzinfo is not None
        assert abs((datetime.now(UTC) - user.created_at).total_seconds()) < 3600
        job = s.get(Job, "j1")
        assert job.params == {"draws": 500}
        assert job.status == "queued"
        s.delete(user)
    with store.session() as s:  # keys go with their user
        assert s.scalar(select(ApiKey)) is None


def test_unique_user_names_enforced_by_the_database(store):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), store.session() as s:
        s.add(User(username="x1", password_hash="h"))
        s.add(User(username="x1", password_hash="h"))
        s.flush()
    with store.session() as s:  # the failed transaction left nothing behind
        assert s.scalar(select(User)) is None


def test_naive_datetimes_are_refused(store):
    with pytest.raises(Exception, match="naive datetime"), store.session() as s:
        s.add(User(username="tz", password_hash="h", created_at=datetime(2024, 1, 1)))
        s.flush()


def test_bad_store_urls_say_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="SQLAlchemy URL"):
        make_engine("not a url")
    with pytest.raises(ConfigError, match="SPENDLAB_STORE_URL"):
        open_store("postgresql+psycopg://nobody@127.0.0.1:1/nothing")
