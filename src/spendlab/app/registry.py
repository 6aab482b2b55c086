"""The server's registry of workspaces: which folders it may open, under which number and name,
and a :class:`~spendlab.workspace.Workspace` handle on each.

The server holds no warehouse open between operations: :meth:`Workspaces.warehouse` opens the
workspace's warehouse for one block (one request, one step of a job) and closes it, so the CLI
(a cron ingest, ``spendlab tables``) can use the same workspace while the server runs. Inside the
server, blocks on one workspace take turns (the handle's per-process lock: DuckDB allows one
connection configuration per file and process).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from spendlab.app.store import RegisteredWorkspace, Store
from spendlab.data.warehouse import Warehouse
from spendlab.errors import ConfigError, WorkspaceNotFoundError
from spendlab.measure.mmm import store as mmm_store
from spendlab.plan import store as plan_store
from spendlab.workspace import Workspace

#: Largest registry number a URL may name (SQLite and PostgreSQL integers are 64-bit).
MAX_ID = 2**63 - 1


class Workspaces:
    """Registered workspaces and a handle on each (made on first use, cached)."""

    def __init__(self, store: Store, root: Path | None = None, settings: Any = None) -> None:
        self.store = store
        self.root = root
        self.settings = settings
        self._handles: dict[int, Workspace] = {}
        self._guard = threading.Lock()

    # -- the registry ----------------------------------------------------------------------------
    def list(self) -> list[RegisteredWorkspace]:
        with self.store.session() as s:
            return list(s.scalars(select(RegisteredWorkspace).order_by(RegisteredWorkspace.id)))

    def get(self, ref: int | str) -> RegisteredWorkspace:
        """A registered workspace by number or by name."""
        ws = None
        with self.store.session() as s:
            if isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit()):
                n = int(ref)
                ws = s.get(RegisteredWorkspace, n) if 0 < n <= MAX_ID else None
            else:
                ws = s.scalar(select(RegisteredWorkspace).where(RegisteredWorkspace.name == ref))
        if ws is None:
            raise WorkspaceNotFoundError(
                f"no workspace {str(ref)[:100]!r}; list them with GET /api/v1/workspaces"
            )
        return ws

    def register(self, name: str, path: Path | str, *, create: bool = False, **init) -> Any:
        """Register an existing workspace folder (or create one with ``create=True``)."""
        name = name.strip()
        if not name or len(name) > 100:
            raise ConfigError("workspace name must be 1-100 characters")
        path = self._resolve(path, create)
        with self.store.session() as s:
            if s.scalar(select(RegisteredWorkspace).where(RegisteredWorkspace.name == name)):
                raise ConfigError(f"a workspace named {name!r} exists; pick another name")
            if s.scalar(select(RegisteredWorkspace).where(RegisteredWorkspace.path == str(path))):
                raise ConfigError(f"{path} is already registered")
        if create:
            handle = Workspace.init(path, name=name, settings=self.settings, **init)
        else:
            handle = Workspace.open(path, settings=self.settings)
        with self.store.session() as s:
            if s.scalar(select(RegisteredWorkspace).where(RegisteredWorkspace.uid == handle.id)):
                raise ConfigError(
                    f"{path} is a copy of a registered workspace (same id {handle.id} in its "
                    "spendlab.toml); register the original, or give the copy a new id by "
                    "deleting the id line from its spendlab.toml"
                )
            row = RegisteredWorkspace(name=name, path=str(path), uid=handle.id)
            s.add(row)
            s.flush()
        adopt_rows(self.store, handle)
        with self._guard:
            self._handles[row.id] = handle
        return row

    def ensure(self, name: str, path: Path | str) -> RegisteredWorkspace:
        """Register ``path`` under ``name`` unless it is registered already; a registered
        workspace whose folder moved (same id, new path) is updated to the new path."""
        handle = Workspace.open(Path(path), settings=self.settings)
        with self.store.session() as s:
            row = s.scalar(
                select(RegisteredWorkspace).where(RegisteredWorkspace.uid == handle.id)
            ) or s.scalar(
                select(RegisteredWorkspace).where(RegisteredWorkspace.path == str(handle.path))
            )
            if row is not None:
                row.path, row.uid = str(handle.path), handle.id
        if row is None:
            return self.register(name, handle.path)
        adopt_rows(self.store, handle)
        with self._guard:
            self._handles[row.id] = handle
        return row

    def _resolve(self, path: Path | str, create: bool) -> Path:
        """An absolute path; new workspaces only inside ``root`` (relative paths go there)."""
        raw = str(path)
        if "\x00" in raw or not raw.strip():
            raise ConfigError("workspace path is empty or holds a NUL character")
        try:
            p = Path(raw).expanduser()
            if create and self.root is not None:
                p = (p if p.is_absolute() else self.root / p).resolve()
                if not p.is_relative_to(self.root):
                    raise ConfigError(
                        f"new workspaces go inside {self.root} (SPENDLAB_WORKSPACES_ROOT); "
                        "give a relative path, or create the workspace with `spendlab init` "
                        "and register it"
                    )
                return p
            return p.resolve()
        except (OSError, ValueError, RuntimeError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(f"workspace path {raw[:200]!r} is not usable: {e}") from None

    # -- handles ---------------------------------------------------------------------------------
    def handle(self, ref: int | str) -> Workspace:
        """The :class:`Workspace` handle of a registered workspace."""
        row = self.get(ref)
        with self._guard:
            h = self._handles.get(row.id)
            if h is not None and str(h.path) == row.path:
                return h
        h = Workspace.open(row.path, settings=self.settings)
        with self._guard:
            self._handles[row.id] = h
        return h

    @contextmanager
    def warehouse(self, ref: int | str, *, read_only: bool = False) -> Iterator[Warehouse]:
        """The workspace's warehouse for the block (opened now, closed after)."""
        with self.handle(ref).warehouse(read_only=read_only) as wh:
            yield wh

    def close_all(self) -> None:
        with self._guard:
            self._handles.clear()


#: Tables whose rows the server wrote into its own store before workspaces had stores of their
#: own (MMM runs, curve sets, scenarios; rules always lived in the workspace's store).
_ADOPTED = (mmm_store.runs, plan_store.curve_sets, plan_store.scenarios)


def adopt_rows(server: Store, ws: Workspace) -> int:
    """Move the rows of ``ws`` that sit in the server's store (fitted through an older server)
    into the workspace's own store; returns how many moved. Nothing to do when both are one
    database (``SPENDLAB_STORE_URL``). Curve set numbers are re-assigned in the workspace store
    and the scenarios that name them follow."""
    if ws.store.url == server.url:
        return 0
    moved = 0
    src, dst = server.engine, ws.store.engine
    with src.begin() as s, dst.begin() as d:
        runs = s.execute(sa.select(mmm_store.runs).where(mmm_store.runs.c.workspace == ws.id))
        for r in runs.mappings().all():
            if d.execute(sa.select(mmm_store.runs.c.id).where(mmm_store.runs.c.id == r["id"])
                         ).first() is None:  # fmt: skip
                d.execute(mmm_store.runs.insert().values(**r))
            moved += 1
        new_ids: dict[int, int] = {}
        cs = plan_store.curve_sets
        for r in s.execute(sa.select(cs).where(cs.c.workspace == ws.id)).mappings().all():
            vals = {k: v for k, v in r.items() if k != "id"}
            new_ids[r["id"]] = int(d.execute(cs.insert().values(**vals)).inserted_primary_key[0])
            moved += 1
        sc = plan_store.scenarios
        for r in s.execute(sa.select(sc).where(sc.c.workspace == ws.id)).mappings().all():
            vals = {k: v for k, v in r.items() if k != "id"}
            vals["curve_set_id"] = new_ids.get(r["curve_set_id"], r["curve_set_id"])
            d.execute(sc.insert().values(**vals))
            moved += 1
        for t in _ADOPTED:
            s.execute(t.delete().where(t.c.workspace == ws.id))
    return moved


__all__ = ["MAX_ID", "Workspaces", "adopt_rows"]
