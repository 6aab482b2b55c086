"""Stores: SQLAlchemy engines, sessions and the schema migrations (Alembic, run
programmatically). SQLite by default, PostgreSQL by URL; :func:`open_store` always brings a store
to the newest revision.

One schema serves both kinds of store (:mod:`spendlab.workspace` decides which URL each is): the
server's (users, API keys, revoked tokens, jobs, the workspace registry) and a workspace's (MMM
runs, curve sets, scenarios, rules and the action log, keyed by the workspace's stable id). With
``SPENDLAB_STORE_URL`` set they are one database.

This package knows no domain: the tables are created by the migrations in ``migrations/``; each
domain declares its own ``MetaData`` for queries (``app.store.models``, ``automate.store``,
``plan.store``, ``measure.mmm.store``), and a test checks that they match the migrations.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from spendlab.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: Any, metadata: list[MetaData] | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    cfg.attributes["metadata"] = metadata
    return cfg


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite files get their folder, foreign keys and a busy timeout)."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ConfigError(
            f"store URL {url!r} is not a SQLAlchemy URL; use sqlite:///path/app.db or "
            "postgresql+psycopg://user@host:port/db (SPENDLAB_STORE_URL)"
        ) from e
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_con: Any, _record: Any) -> None:
            cur = dbapi_con.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the store's schema to ``revision`` (idempotent), all-or-nothing: a process killed
    mid-migration leaves the store at the revision it had (docs/security.md, "Fault drills")."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # pysqlite opens a transaction only before INSERT/UPDATE/DELETE: without this BEGIN
            # each CREATE/ALTER/DROP would commit on its own, half a migration at a time
            conn.exec_driver_sql("BEGIN")
        command.upgrade(_alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


class Store:
    """The app store: an engine plus a session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store at ``url`` and upgrade it to the newest schema."""
    engine = make_engine(url)
    if migrate:
        try:
            upgrade(engine)
        except OperationalError as e:
            engine.dispose()
            raise ConfigError(
                f"cannot open the app store at {engine.url.render_as_string(hide_password=True)}: "
                f"{e.orig}; check SPENDLAB_STORE_URL and that the database server is running"
            ) from e
    return Store(engine)


_shared: dict[str, Store] = {}
_shared_lock = threading.Lock()


def shared_store(url: str) -> Store:
    """The store at ``url``, opened (and migrated) once per process and kept open: every
    workspace handle and the server share one engine per database."""
    with _shared_lock:
        st = _shared.get(url)
        if st is None:
            st = _shared[url] = open_store(url)
        return st


def close_shared_stores() -> None:
    """Dispose of every shared store (tests; the server at shutdown)."""
    with _shared_lock:
        for st in _shared.values():
            st.close()
        _shared.clear()


atexit.register(close_shared_stores)
