"""The index of model runs in the workspace's store.

The files of a run (``WORKSPACE/mmm/runs/<id>/``) are written and read by
:mod:`spendlab.measure.mmm.run_files`; ``load_mmm(run_dir)`` rebuilds the fitted model from
them without refitting. The use cases (fit, list, read) are in :mod:`spendlab.measure.mmm.service`.

Index (``mmm_runs``, on this module's own ``MetaData``; the migrations in :mod:`spendlab.store`
create it): one row per run with its workspace's stable id, when, status (running / succeeded /
failed), data hash, config, code version, the summary JSON (``MMM.to_json()``) and the folder of
its posterior (relative to the workspace when inside it, so a moved workspace keeps its runs).
Every index function takes the :class:`~spendlab.workspace.Workspace` and reads and writes its
store, only its rows.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from spendlab import __version__
from spendlab.core.jsonsafe import jsonable
from spendlab.errors import ConfigError, NotFittedError, NotFoundError

if TYPE_CHECKING:
    from spendlab.workspace import Workspace

STATUSES = ("running", "succeeded", "failed")

metadata = sa.MetaData()

runs = sa.Table(
    "mmm_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("workspace", sa.String(1024), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("source", sa.String(200), nullable=False, default=""),
    sa.Column("data_hash", sa.String(64)),
    sa.Column("config", sa.Text, nullable=False),  # JSON of MMMConfig.to_dict()
    sa.Column("code_version", sa.String(40), nullable=False),
    sa.Column("summary", sa.Text),  # JSON of MMM.to_json()
    sa.Column("path", sa.Text),  # run folder, relative to the workspace when inside it
    sa.Column("error", sa.Text),
    sa.Column("created_by", sa.String(64), nullable=False, default=""),
    sa.Column("job_id", sa.String(32)),  # the background job fitting it (server fits)
)


# ------------------------------------------------------------------------------------ index
def _now() -> datetime:
    return datetime.now(UTC)


def new_run_id() -> str:
    return secrets.token_hex(8)


def _rel(ws: Workspace, run_dir: Path) -> str:
    p = run_dir.expanduser().resolve()
    return p.relative_to(ws.path).as_posix() if p.is_relative_to(ws.path) else str(p)


def _utc(v: datetime | None) -> str | None:
    if v is None:
        return None
    return (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat()


def _row(r: Any, *, full: bool = True) -> dict[str, Any]:
    cfg = json.loads(r.config)
    out = {
        "id": r.id,
        "workspace": r.workspace,
        "created_at": _utc(r.created_at),
        "finished_at": _utc(r.finished_at),
        "status": r.status,
        "source": r.source,
        "data_hash": r.data_hash,
        "code_version": r.code_version,
        "target": cfg.get("target"),
        "channels": list(cfg.get("channels", [])),
        "method": "fast" if cfg.get("fast") else "nuts",
        "path": r.path,
        "error": r.error,
        "created_by": r.created_by,
        "job_id": r.job_id,
    }
    if full:
        out["config"] = cfg
        out["summary"] = json.loads(r.summary) if r.summary else None
    return out


def start_run(
    ws: Workspace,
    config: Any,
    *,
    run_id: str | None = None,
    source: str = "",
    user: str = "",
) -> str:
    """Index a run that is starting (status ``running``); returns its id."""
    run_id = run_id or new_run_id()
    cfg = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    with ws.store.engine.begin() as c:
        c.execute(runs.insert().values(
            id=run_id, workspace=ws.id, created_at=_now(), status="running",
            source=source[:200], config=json.dumps(cfg), code_version=__version__,
            created_by=user[:64],
        ))  # fmt: skip
    return run_id


def finish_run(
    ws: Workspace, run_id: str, run_dir: str | Path, summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Mark a run ``succeeded`` from its saved folder (``summary`` defaults to the reloaded
    model's ``to_json()``)."""
    get_run(ws, run_id)
    folder = Path(run_dir)
    meta = json.loads((folder / "run.json").read_text())
    cfg = json.loads((folder / "config.json").read_text())
    if summary is None:
        from spendlab.measure.mmm.factory import load_mmm

        summary = load_mmm(folder).to_json()
    with ws.store.engine.begin() as c:
        c.execute(runs.update().where(runs.c.id == run_id).values(
            status="succeeded", finished_at=_now(), data_hash=meta["data_hash"],
            config=json.dumps(cfg), code_version=str(meta.get("code_version", __version__))[:40],
            summary=json.dumps(jsonable(summary)), path=_rel(ws, folder),
            error=None,
        ))  # fmt: skip
    return get_run(ws, run_id)


def set_job(ws: Workspace, run_id: str, job_id: str) -> None:
    """Link a run to the background job that fits it."""
    with ws.store.engine.begin() as c:
        c.execute(runs.update().where(runs.c.id == run_id).values(job_id=job_id))


def annotate_run(ws: Workspace, run_id: str, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into a run's stored summary (e.g. ``gate``: the gate's verdict and
    whether the run's curves were activated). Returns the run."""
    run = get_run(ws, run_id)
    summary = {**(run["summary"] or {}), **fields}
    with ws.store.engine.begin() as c:
        q = runs.update().where(runs.c.id == run_id)
        c.execute(q.values(summary=json.dumps(jsonable(summary))))
    return get_run(ws, run_id)


def fail_run(ws: Workspace, run_id: str, error: str) -> None:
    with ws.store.engine.begin() as c:
        c.execute(runs.update().where(runs.c.id == run_id).values(
            status="failed", finished_at=_now(), error=error[:4000]))  # fmt: skip


def record_run(
    ws: Workspace,
    model: Any,
    *,
    run_id: str | None = None,
    run_dir: str | Path | None = None,
    summary: dict[str, Any] | None = None,
    source: str = "",
    user: str = "",
) -> dict[str, Any]:
    """Save a fitted model's files (``run_dir``, default ``WORKSPACE/mmm/runs/<id>``) and index
    the run as succeeded. Returns the indexed run."""
    run_id = start_run(ws, model.config, run_id=run_id, source=source, user=user)
    folder = Path(run_dir) if run_dir is not None else ws.run_folder(run_id)
    try:
        model.save(folder)
        return finish_run(ws, run_id, folder, summary or model.to_json())
    except BaseException as e:
        fail_run(ws, run_id, f"{type(e).__name__}: {e}")
        raise


def register_run(
    ws: Workspace,
    run_dir: str | Path,
    summary: dict[str, Any] | None = None,
    *,
    source: str = "",
) -> dict[str, Any]:
    """Index a run folder saved earlier (``spendlab mmm fit --out DIR``) without refitting."""
    folder = Path(run_dir)
    if not (folder / "run.json").exists():
        raise ConfigError(f"{folder} is not an MMM run folder (no run.json)")
    cfg = json.loads((folder / "config.json").read_text())
    run_id = start_run(ws, cfg, source=source or "folder")
    try:
        return finish_run(ws, run_id, folder, summary)
    except BaseException as e:
        fail_run(ws, run_id, f"{type(e).__name__}: {e}")
        raise


def list_runs(ws: Workspace, status: str | None = None) -> list[dict[str, Any]]:
    """The workspace's runs, newest first (without config and summary: :func:`get_run` has
    them)."""
    q = sa.select(runs).where(runs.c.workspace == ws.id)
    q = q.order_by(runs.c.created_at.desc(), runs.c.id)
    if status is not None:
        q = q.where(runs.c.status == status)
    with ws.store.engine.connect() as c:
        return [_row(r, full=False) for r in c.execute(q)]


def get_run(ws: Workspace, run_id: str) -> dict[str, Any]:
    q = sa.select(runs).where(runs.c.id == run_id, runs.c.workspace == ws.id)
    with ws.store.engine.connect() as c:
        r = c.execute(q).first()
    if r is None:
        raise NotFoundError(f"no model run {run_id!r} in this workspace; list them with "
                            "GET .../mmm/runs or `spendlab mmm runs`")  # fmt: skip
    return _row(r)


def latest_run(ws: Workspace) -> dict[str, Any] | None:
    """The newest succeeded run of a workspace, or None."""
    done = list_runs(ws, status="succeeded")
    return get_run(ws, done[0]["id"]) if done else None


def run_path(ws: Workspace, run: dict[str, Any]) -> Path:
    """The folder of a run's files (stored relative to the workspace when inside it)."""
    p = Path(run["path"] or "")
    return p if p.is_absolute() else ws.path / p


def load_model(ws: Workspace, run: dict[str, Any]) -> Any:
    """The fitted model of an indexed run (from its files, no refit; kept in a small cache)."""
    if run["status"] != "succeeded" or not run.get("path"):
        raise NotFittedError(
            f"model run {run['id']} is {run['status']}"
            + (f" ({run['error']})" if run.get("error") else "")
            + "; pick a succeeded run"
        )
    folder = run_path(ws, run)
    if not (folder / "run.json").exists():
        raise NotFoundError(
            f"the files of model run {run['id']} are gone from {folder}; fit the model again"
        )
    return _load_cached(str(folder), run["data_hash"])


@lru_cache(maxsize=8)
def _load_cached(folder: str, data_hash: str) -> Any:
    from spendlab.measure.mmm.factory import load_mmm

    model = load_mmm(folder)
    if model.prep_.data_hash != data_hash:
        raise ConfigError(f"{folder} holds another run than the index says (data hash differs)")
    return model
