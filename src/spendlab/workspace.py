"""The workspace handle: the only code that decides where state lives.

A workspace is a folder::

    my-workspace/
      spendlab.toml        name, stable id, reporting currency, time zone, warehouse URL
      warehouse.duckdb     the canonical tables (data/warehouse.py)
      app.db               the workspace's store (unless SPENDLAB_STORE_URL is set)
      mmm/runs/<id>/       the files of each MMM run (posterior, data, config)
      uploads/<stamp>/     files uploaded through the API or the dashboard

Where each kind of state lives (see docs/architecture.md):

- **Warehouse** (:meth:`Workspace.warehouse`): the canonical tables, from the URL in
  ``spendlab.toml`` (a DuckDB file in the folder by default). Opened per operation and closed
  after it, so a server and a CLI command can take turns; a writer that finds the file locked
  waits up to ``SPENDLAB_LOCK_WAIT`` seconds, then fails with a message naming the holder.
- **Workspace store** (:attr:`Workspace.store`): every row that belongs to the workspace -- MMM
  runs, curve sets, scenarios, rules, rule versions, rule runs and the action log -- keyed by the
  workspace's stable :attr:`Workspace.id` (kept in ``spendlab.toml``, so moving the folder keeps
  them). ``app.db`` in the folder, or the one database ``SPENDLAB_STORE_URL`` names (several
  workspaces then share it, each seeing only its own rows).
- **Server store** (:func:`server_store_url`): users, API keys, revoked tokens, jobs and the
  registry of workspaces a server may open. ``SPENDLAB_STORE_URL``, else
  ``<SPENDLAB_HOME>/spendlab.db``.
- **Caches** (:func:`jax_cache_dir`): compiled model code, per user.

Nothing else in SpendLab builds one of these locations.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spendlab.config import WORKSPACE_FILE, Settings, WorkspaceConfig, get_settings
from spendlab.errors import WorkspaceError, WorkspaceNotFoundError

if TYPE_CHECKING:
    from spendlab.data.warehouse import Warehouse
    from spendlab.store import Store

#: The folder (inside the workspace) that holds the files of MMM runs.
RUNS_FOLDER = Path("mmm") / "runs"
#: The folder (inside the workspace) that keeps uploaded files, one sub-folder per upload.
UPLOADS_FOLDER = Path("uploads")


def server_store_url(settings: Settings | None = None) -> str:
    """The server's store: ``SPENDLAB_STORE_URL``, else a SQLite file under ``SPENDLAB_HOME``."""
    s = settings or get_settings()
    return s.store_url or f"sqlite:///{Path(s.home).expanduser() / 'spendlab.db'}"


def workspaces_root(settings: Settings | None = None) -> Path:
    """Where the server may create new workspaces (``SPENDLAB_WORKSPACES_ROOT``, else
    ``<SPENDLAB_HOME>/workspaces``)."""
    s = settings or get_settings()
    return (s.workspaces_root or Path(s.home) / "workspaces").expanduser().resolve()


def jax_cache_dir(settings: Settings | None = None) -> Path | None:
    """JAX's persistent compilation cache: ``SPENDLAB_JAX_CACHE`` (``off`` disables it), else
    ``<SPENDLAB_HOME>/cache/jax``."""
    s = settings or get_settings()
    raw = (s.jax_cache or "").strip()
    if raw.lower() in ("off", "0", "false", "no"):
        return None
    return Path(raw).expanduser() if raw else Path(s.home).expanduser() / "cache" / "jax"


def workspace_path(path: str | Path | None, settings: Settings | None = None) -> Path:
    """``path``, else ``SPENDLAB_WORKSPACE``; a clear error when neither is given."""
    s = settings or get_settings()
    chosen = path if path not in (None, "") else s.workspace
    if chosen is None:
        raise WorkspaceNotFoundError(
            "no workspace given; pass --workspace PATH or set SPENDLAB_WORKSPACE "
            "(create one with `spendlab init PATH`)"
        )
    return Path(chosen)


class Workspace:
    """A handle on one workspace folder. Cheap to create; opens nothing until asked.

    >>> ws = Workspace.open("demo-workspace")          # doctest: +SKIP
    >>> with ws.warehouse(read_only=True) as wh:       # doctest: +SKIP
    ...     wh.table("ad_performance").count().execute()
    >>> ws.store.engine                                # doctest: +SKIP
    """

    def __init__(self, path: Path, config: WorkspaceConfig, settings: Settings) -> None:
        self.path = path
        self.config = config
        self.settings = settings

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path | None = None, *, settings: Settings | None = None) -> Workspace:
        """The workspace at ``path`` (default ``SPENDLAB_WORKSPACE``). A folder made before
        workspaces had a stable id gets one now (written to its ``spendlab.toml``)."""
        settings = settings or get_settings()
        root = workspace_path(path, settings).expanduser()
        if not (root / WORKSPACE_FILE).exists():
            raise WorkspaceNotFoundError(
                f"no workspace at {root} (no {WORKSPACE_FILE}); create one with "
                f"`spendlab init {root}`"
            )
        root = root.resolve()
        cfg = WorkspaceConfig.load(root)
        if not cfg.id:
            cfg = _assign_id(root)
        return cls(root, cfg, settings)

    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        currency: str = "USD",
        name: str | None = None,
        warehouse: str | None = None,
        exist_ok: bool = False,
        settings: Settings | None = None,
    ) -> Workspace:
        """Create a workspace folder: ``spendlab.toml`` with a new id and an empty, migrated
        warehouse."""
        from spendlab.data.warehouse import Warehouse

        Warehouse.init(
            path, currency=currency, name=name, warehouse=warehouse, exist_ok=exist_ok
        ).close()
        return cls.open(path, settings=settings)

    # -- identity --------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The stable id rows in the store are keyed by (not the folder path)."""
        assert self.config.id is not None
        return self.config.id

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def currency(self) -> str:
        return self.config.currency

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r}, id={self.id!r})"

    # -- the warehouse ---------------------------------------------------------------------------
    @contextmanager
    def warehouse(self, *, read_only: bool = False) -> Iterator[Warehouse]:
        """The warehouse, open for the block and closed after it. A file locked by another
        process is waited for (``SPENDLAB_LOCK_WAIT`` seconds), then a clear error. Inside one
        process, blocks on the same workspace take turns (threads of a server: DuckDB allows
        one connection configuration per file and process); a thread may nest blocks."""
        from spendlab.data.warehouse import Warehouse

        with _process_lock(self.path):
            wh = Warehouse.open(self.path, read_only=read_only, wait=self.settings.lock_wait)
            try:
                yield wh
            finally:
                wh.close()

    # -- the store -------------------------------------------------------------------------------
    @property
    def store_url(self) -> str:
        """``SPENDLAB_STORE_URL`` (one database for every workspace and the server), else the
        workspace's own ``app.db``."""
        return self.settings.store_url or f"sqlite:///{self.path / 'app.db'}"

    @cached_property
    def store(self) -> Store:
        """The workspace's store (opened and migrated once per process and URL)."""
        from spendlab.store import shared_store

        return shared_store(self.store_url)

    # -- files -----------------------------------------------------------------------------------
    def run_folder(self, run_id: str) -> Path:
        """Where the files of an MMM run live."""
        return self.path / RUNS_FOLDER / run_id

    def upload_folder(self, name: str) -> Path:
        """Where a file uploaded through the API or the dashboard is kept (``name``: a fresh,
        unique folder name)."""
        return self.path / UPLOADS_FOLDER / name

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "path": str(self.path),
            "currency": self.currency,
            "store": _safe_url(self.store_url),
        }


_locks: dict[Path, threading.RLock] = {}
_locks_guard = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    with _locks_guard:
        return _locks.setdefault(path, threading.RLock())


def _assign_id(root: Path) -> WorkspaceConfig:
    """Give a workspace folder its stable id (:meth:`WorkspaceConfig.ensure_id`)."""
    try:
        return WorkspaceConfig.ensure_id(root)
    except PermissionError as e:
        raise WorkspaceError(
            f"{root / WORKSPACE_FILE} has no workspace id and cannot be written to add one: {e}; "
            "open it once with write access (any spendlab command) to upgrade it"
        ) from e


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid URL>"


__all__ = [
    "RUNS_FOLDER",
    "UPLOADS_FOLDER",
    "Workspace",
    "jax_cache_dir",
    "server_store_url",
    "workspace_path",
    "workspaces_root",
]
