"""What the server holds while it runs: settings, the store, token service, login limiter, and
the open workspaces (one process owns each DuckDB file; a lock serialises access to it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from spendlab.app.auth import LoginLimiter, TokenService
from spendlab.app.jobs import JobRunner
from spendlab.app.rules import RuleStores
from spendlab.app.scheduler import RuleScheduler
from spendlab.app.store import Store, Workspace
from spendlab.config import Settings
from spendlab.data.warehouse import Warehouse
from spendlab.errors import ConfigError, WorkspaceNotFoundError


class Workspaces:
    """Registered workspaces, opened on first use and kept open (the server owns them)."""

    def __init__(self, store: Store, root: Path | None = None) -> None:
        self.store = store
        self.root = root
        self._open: dict[int, Warehouse] = {}
        self._locks: dict[int, threading.RLock] = {}
        self._guard = threading.Lock()

    def list(self) -> list[Workspace]:
        with self.store.session() as s:
            return list(s.scalars(select(Workspace).order_by(Workspace.id)))

    def get(self, ref: int | str) -> Workspace:
        """A workspace by id or by name."""
        with self.store.session() as s:
            if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
                ws = s.get(Workspace, int(ref))
            else:
                ws = s.scalar(select(Workspace).where(Workspace.name == ref))
        if ws is None:
            raise WorkspaceNotFoundError(
                f"no workspace {ref!r}; list them with GET /api/v1/workspaces"
            )
        return ws

    def register(self, name: str, path: Path | str, *, create: bool = False, **init) -> Workspace:
        """Register an existing workspace folder (or create one with ``create=True``)."""
        name = name.strip()
        if not name or len(name) > 100:
            raise ConfigError("workspace name must be 1-100 characters")
        path = self._resolve(path, create)
        with self.store.session() as s:
            if s.scalar(select(Workspace).where(Workspace.name == name)) is not None:
                raise ConfigError(f"a workspace named {name!r} exists; pick another name")
            if s.scalar(select(Workspace).where(Workspace.path == str(path))) is not None:
                raise ConfigError(f"{path} is already registered")
        wh = Warehouse.init(path, name=name, **init) if create else Warehouse.open(path)
        with self.store.session() as s:
            ws = Workspace(name=name, path=str(path))
            s.add(ws)
            s.flush()
        with self._guard:
            self._open[ws.id] = wh
        return ws

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

    def ensure(self, name: str, path: Path | str) -> Workspace:
        """Register ``path`` under ``name`` unless that path is registered already."""
        resolved = str(Path(path).expanduser().resolve())
        with self.store.session() as s:
            ws = s.scalar(select(Workspace).where(Workspace.path == resolved))
        return ws if ws is not None else self.register(name, resolved)

    def _lock(self, ws_id: int) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(ws_id, threading.RLock())

    @contextmanager
    def warehouse(self, ref: int | str) -> Iterator[Warehouse]:
        """The open warehouse of a workspace, held exclusively while the block runs."""
        ws = self.get(ref)
        with self._lock(ws.id):
            wh = self._open.get(ws.id)
            if wh is None:
                wh = Warehouse.open(ws.path)
                with self._guard:
                    self._open[ws.id] = wh
            yield wh

    def close_all(self) -> None:
        with self._guard:
            for wh in self._open.values():
                wh.close()
            self._open.clear()


class AppState:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.tokens = TokenService(settings, store)
        self.limiter = LoginLimiter(settings.login_attempts_per_minute)
        self.workspaces = Workspaces(store, settings.resolved_workspaces_root())
        self.jobs = JobRunner(store)
        self.rules = RuleStores(settings, store)
        self.scheduler = RuleScheduler(self)

    def close(self) -> None:
        self.scheduler.shutdown()
        self.jobs.shutdown()
        self.workspaces.close_all()
        self.rules.close()
        self.store.close()
