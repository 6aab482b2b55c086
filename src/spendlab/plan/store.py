"""Persistence of the planning domain: curve sets and saved scenarios (SQLAlchemy Core on the
plan's own ``MetaData``; every function takes an ``Engine``). The app shell includes ``metadata``
in its migrations (revision ``0003_plan``); tests may call ``metadata.create_all(engine)``.

Rows are keyed by ``workspace``: the workspace's stable id (:attr:`spendlab.workspace.
Workspace.id`, kept in its ``spendlab.toml``), so moving the folder keeps them; every function
takes the workspace store's engine and that id.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from spendlab.errors import NotFoundError

metadata = sa.MetaData()

curve_sets = sa.Table(
    "plan_curve_sets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(1000), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("period", sa.String(10), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("n_entities", sa.Integer, nullable=False),
    sa.Column("draws", sa.Integer),
    sa.Column("curves", sa.Text, nullable=False),  # JSON records of the curve frame
    sa.Column("meta", sa.Text, nullable=False),  # JSON object
    sa.Column("created_at", sa.DateTime, nullable=False),
    # the newest active_since is active; NULL: stored, never activated (a fit that failed its gate)
    sa.Column("active_since", sa.DateTime),
)

scenarios = sa.Table(
    "plan_scenarios",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(1000), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("curve_set_id", sa.Integer),
    sa.Column("spec", sa.Text, nullable=False),  # JSON: operations / allocation / budget
    sa.Column("result", sa.Text, nullable=False),  # JSON: allocation and predicted KPIs
    sa.Column("author", sa.String(200)),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def create_all(engine: Engine) -> None:
    metadata.create_all(engine)


# --- curve sets ---------------------------------------------------------------------------------
def insert_curve_set(
    engine: Engine, workspace: str, row: dict[str, Any], *, activate: bool = True
) -> dict[str, Any]:
    """Store one curve set (``row``: name, period, source, n_entities, draws, curves, meta as
    Python objects); it becomes the workspace's active set unless ``activate=False`` (stored
    only: the previously active set stays active). Returns the stored row."""
    t = now()
    values = {
        **row,
        "workspace": workspace,
        "curves": json.dumps(row["curves"], allow_nan=False),
        "meta": json.dumps(row.get("meta") or {}, default=str, allow_nan=False),
        "created_at": t,
        "active_since": t if activate else None,
    }
    with engine.begin() as c:
        res = c.execute(curve_sets.insert().values(**values))
        cid = int(res.inserted_primary_key[0])
    return get_curve_set_row(engine, workspace, cid)


def _curve_row(r: Any, active_id: int | None, full: bool) -> dict[str, Any]:
    m = dict(r._mapping)
    out = {
        "id": m["id"],
        "name": m["name"],
        "period": m["period"],
        "source": m["source"],
        "n_entities": m["n_entities"],
        "draws": m["draws"],
        "meta": json.loads(m["meta"]),
        "created_at": m["created_at"].isoformat(),
        "active": m["id"] == active_id,
    }
    if full:
        out["curves"] = json.loads(m["curves"])
    return out


def _active_id(c: sa.Connection, workspace: str) -> int | None:
    return c.execute(
        sa.select(curve_sets.c.id)
        .where(curve_sets.c.workspace == workspace, curve_sets.c.active_since.is_not(None))
        .order_by(curve_sets.c.active_since.desc(), curve_sets.c.id.desc())
        .limit(1)
    ).scalar()


def list_curve_set_rows(engine: Engine, workspace: str) -> list[dict[str, Any]]:
    """Every curve set of the workspace, newest first (without the curves themselves)."""
    cols = [c for c in curve_sets.c if c.name != "curves"]
    with engine.connect() as c:
        active = _active_id(c, workspace)
        rows = c.execute(
            sa.select(*cols)
            .where(curve_sets.c.workspace == workspace)
            .order_by(curve_sets.c.id.desc())
        ).all()
    return [_curve_row(r, active, full=False) for r in rows]


def get_curve_set_row(engine: Engine, workspace: str, ref: int | str | None) -> dict[str, Any]:
    """One curve set by id or name (the newest of that name), or the active one (``None``)."""
    with engine.connect() as c:
        active = _active_id(c, workspace)
        q = sa.select(curve_sets).where(curve_sets.c.workspace == workspace)
        if ref is None:
            q = q.where(curve_sets.c.id == active)
        elif isinstance(ref, int) or (str(ref).isascii() and str(ref).isdigit()):
            q = q.where(curve_sets.c.id == min(int(ref), 2**63 - 1))  # 64-bit id column
        else:
            q = q.where(curve_sets.c.name == str(ref)).order_by(curve_sets.c.id.desc()).limit(1)
        r = c.execute(q).first()
    if r is None:
        if ref is None:
            if _stored_any(engine, workspace):
                raise NotFoundError(
                    "this workspace has curve sets but none is active (an MMM fit that fails "
                    "its gate is stored, not activated); list them with `spendlab plan curves "
                    "list` and activate one with `spendlab plan curves activate ID`, or refit"
                )
            raise NotFoundError(
                "this workspace has no curve set yet; import one with `spendlab plan curves "
                "import FILE --workspace PATH`, fit an MMM, or build the demo (`spendlab demo`)"
            )
        raise NotFoundError(
            f"no curve set {ref!r} in this workspace; list them with `spendlab plan curves list`"
        )
    return _curve_row(r, active, full=True)


def _stored_any(engine: Engine, workspace: str) -> bool:
    with engine.connect() as c:
        q = sa.select(curve_sets.c.id).where(curve_sets.c.workspace == workspace).limit(1)
        return c.execute(q).first() is not None


def activate_curve_set(
    engine: Engine, workspace: str, ref: int | str, meta_update: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Make a stored curve set the active one (``meta_update``: keys merged into its meta, e.g.
    who forced a gate-failing set active)."""
    row = get_curve_set_row(engine, workspace, ref)
    values: dict[str, Any] = {"active_since": now()}
    if meta_update:
        values["meta"] = json.dumps({**row["meta"], **meta_update}, default=str, allow_nan=False)
    with engine.begin() as c:
        c.execute(curve_sets.update().where(curve_sets.c.id == row["id"]).values(**values))
    return get_curve_set_row(engine, workspace, row["id"])


# --- scenarios ----------------------------------------------------------------------------------
def insert_scenario(
    engine: Engine,
    workspace: str,
    name: str,
    curve_set_id: int | None,
    spec: dict[str, Any],
    result: dict[str, Any],
    author: str | None = None,
) -> int:
    with engine.begin() as c:
        res = c.execute(
            scenarios.insert().values(
                workspace=workspace,
                name=name,
                curve_set_id=curve_set_id,
                spec=json.dumps(spec, allow_nan=False),
                result=json.dumps(result, allow_nan=False),
                author=author,
                created_at=now(),
            )
        )
        return int(res.inserted_primary_key[0])


def _scenario_row(r: Any) -> dict[str, Any]:
    m = dict(r._mapping)
    return {
        "id": m["id"],
        "workspace": m["workspace"],
        "name": m["name"],
        "curve_set_id": m["curve_set_id"],
        "spec": json.loads(m["spec"]),
        **json.loads(m["result"]),
        "author": m["author"],
        "created_at": m["created_at"].isoformat(),
    }


def get_scenario_row(engine: Engine, scenario_id: int, workspace: str | None = None) -> dict:
    q = sa.select(scenarios).where(scenarios.c.id == int(scenario_id))
    if workspace is not None:
        q = q.where(scenarios.c.workspace == workspace)
    with engine.connect() as c:
        r = c.execute(q).first()
    if r is None:
        raise NotFoundError(
            f"no scenario {scenario_id}; list the saved ones with `spendlab plan scenario list` "
            "or GET /api/v1/workspaces/{workspace}/plan/scenarios"
        )
    return _scenario_row(r)


def list_scenario_rows(engine: Engine, workspace: str) -> list[dict[str, Any]]:
    with engine.connect() as c:
        rows = c.execute(
            sa.select(scenarios)
            .where(scenarios.c.workspace == workspace)
            .order_by(scenarios.c.id.desc())
        ).all()
    return [_scenario_row(r) for r in rows]


def delete_scenario_row(engine: Engine, workspace: str, scenario_id: int) -> None:
    get_scenario_row(engine, scenario_id, workspace)
    with engine.begin() as c:
        c.execute(
            scenarios.delete().where(
                (scenarios.c.id == int(scenario_id)) & (scenarios.c.workspace == workspace)
            )
        )
