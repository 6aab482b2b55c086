"""kill -9 in the middle of a store migration (SQLite and PostgreSQL): the store stays at the
revision it had, with the rows it had, and the next start migrates it to the head."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from spendlab.store import current_revision, head_revision, make_engine, upgrade

from .conftest import kill_at, run

OPEN = "import sys; from spendlab.store import open_store; open_store(sys.argv[1]).close()"


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    server = request.getfixturevalue("cluster").url
    db = f"t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{db}"'))
    engine.dispose()
    return server.rsplit("/", 1)[0] + f"/{db}"


def test_a_killed_migration_leaves_the_old_schema_and_reruns(url: str, pause_dir: Path):
    engine = make_engine(url)
    upgrade(engine, "0004_mmm")
    with engine.begin() as c:
        c.execute(
            sa.text(
                "insert into users (username, password_hash, role, disabled, created_at) "
                "values ('ada', 'x', 'admin', false, CURRENT_TIMESTAMP)"
            )
        )
    before = _tables(engine)
    engine.dispose()

    # 0005 and 0006 applied in this process's transaction, 0007 not yet: killed here
    kill_at("store.migrate.0006_rules_workspace", ["-c", OPEN, url], pause_dir)

    engine = make_engine(url)
    assert current_revision(engine) == "0004_mmm"
    assert _tables(engine) == before  # no table of 0005/0006, no batch-copy leftovers
    with engine.connect() as c:
        assert c.execute(sa.text("select username from users")).scalars().all() == ["ada"]
        if engine.dialect.name == "sqlite":
            assert c.execute(sa.text("pragma integrity_check")).scalar() == "ok"
    engine.dispose()

    done = run(["-c", OPEN, url], pause_dir)
    assert done.returncode == 0, done.stderr
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as c:
        assert c.execute(sa.text("select username from users")).scalars().all() == ["ada"]
    engine.dispose()
