"""Planning use cases on a workspace, each written once. The CLI (``spendlab plan ...``), the REST
routes (``/api/v1/workspaces/{ws}/plan/...`` and the product aliases), the Dash Plan page and the
scheduler parse their input, call one function here and format what it returns.

- :func:`context`: the plan context -- the workspace's active curve set and the current spend per
  entity read from its warehouse (409 ``not_configured`` over REST without a curve set).
- curve sets: :func:`list_curve_sets`, :func:`import_curves` (a CSV or JSON curve file),
  :func:`activate_curve_set`.
- scenarios: :func:`create_scenario`, :func:`list_scenarios`, :func:`get_scenario`,
  :func:`find_scenario` (by id across several workspaces), :func:`delete_scenario`,
  :func:`compare_scenarios`.
- :func:`optimize` (the optimizer on the active curve set), :func:`recommend` (the optimizer at
  the current budget plus the actions awaiting approval), :func:`frontier`.
- :func:`optimize_file`: the optimizer on a CURVES.json file (no workspace).
- :func:`predict_roi`: iROAS and outcome of a spend plan from the workspace's fitted MMM.

Curve sets and scenarios live in the workspace's store (``ws.store``), keyed by its stable id
(``ws.id``), so a server with another store of its own sees them, and moving the folder keeps
them. The daily allocator is :func:`spendlab.plan.daily.allocate_and_log`.

The warehouse is opened for one read and closed, in its default (read-write) mode although
planning only reads it: inside one process DuckDB refuses a read-only connection to a file while a
read-write one is open (and the reverse), and the server opens every block read-write
(:meth:`spendlab.app.registry.Workspaces.warehouse`), so a read-only open here would fail beside a
concurrent request of another page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from spendlab.core.jsonsafe import jsonable
from spendlab.errors import ConfigError, DataError, NotFittedError, NotFoundError
from spendlab.plan import curvesets, scenarios
from spendlab.plan.constraints import Constraints, TrustRegion
from spendlab.plan.curvesets import CurveSet

if TYPE_CHECKING:
    from spendlab.workspace import Workspace

#: Days of delivery the current spend averages over.
CURRENT_DAYS = 28
NOT_CONFIGURED = (
    "planning is not configured for this workspace yet: it needs a curve set (response "
    "curves). Fit a marketing-mix model, import curves with `spendlab plan curves "
    "import FILE --workspace PATH`, or build the demo with `spendlab demo`"
)


# --- the plan context -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanContext:
    """What every planning use case starts from.

    ``workspace``: the workspace id the rows are keyed by; ``cs``: the active curve set;
    ``current``: current spend per entity and period (average over the last 28 days of delivery,
    see :func:`spendlab.plan.curvesets.current_spend`); ``sources``: where each entity's current
    spend came from (``warehouse`` | ``curve set`` | ``none``); ``window``: the days averaged
    (first, last), ``None`` without delivery; ``observed``: the spend range each entity ran at
    over recent history (``q_lo``, ``q_hi``, ``min``, ``max``, ``days``; see
    :func:`spendlab.plan.curvesets.observed_spend`), what the trust region is built from."""

    workspace: str
    cs: CurveSet
    current: dict[str, float]
    sources: dict[str, str]
    window: tuple[str, str] | None
    observed: dict[str, dict[str, float]] = field(default_factory=dict)

    def current_list(self) -> list[float]:
        """Current spend in the curve set's entity order."""
        return [self.current[i] for i in self.cs.curves().ids]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "workspace": self.workspace,
                "curve_set": self.cs.summary(),
                "period": self.cs.period,
                "current": self.current,
                "sources": self.sources,
                "window": self.window,
                "observed": self.observed,
            }
        )


def curve_set(ws: Workspace, ref: int | str | None = None) -> CurveSet:
    """A stored curve set of ``ws`` by id or name, or its active one (``ref=None``:
    :class:`NotFittedError` saying what to do when it has none)."""
    if ref is not None:
        return curvesets.load_curve_set(ws.store.engine, ws.id, ref)
    try:
        return curvesets.load_curve_set(ws.store.engine, ws.id)
    except NotFoundError:
        raise NotFittedError(NOT_CONFIGURED) from None


def context(
    ws: Workspace, *, days: int = CURRENT_DAYS, region: TrustRegion | None = None
) -> PlanContext:
    """The plan context of ``ws``: its active curve set, current spend per entity and the spend
    range each ran at (over ``region.history_days`` at its quantiles; default
    :class:`TrustRegion`)."""
    region = region or TrustRegion()
    cs = curve_set(ws)
    with ws.warehouse() as wh:  # the mode every block of a server uses (see module docstring)
        cur = curvesets.current_spend(wh, cs, days)
        obs = curvesets.observed_spend(wh, cs, region.history_days, region.quantiles)
    ids = cur["id"].tolist()
    return PlanContext(
        workspace=ws.id,
        cs=cs,
        current=dict(zip(ids, cur["current"].astype(float), strict=True)),
        sources=dict(zip(ids, cur["source"].astype(str), strict=True)),
        window=cur.attrs.get("window"),
        observed={r.pop("id"): r for r in obs.to_dict(orient="records")},
    )


# --- curve sets -----------------------------------------------------------------------------------
def list_curve_sets(ws: Workspace) -> list[dict[str, Any]]:
    """The workspace's curve sets, newest first; ``active`` marks the one planning uses."""
    return jsonable(curvesets.list_curve_sets(ws.store.engine, ws.id))


def read_curve_file(path: Path) -> pd.DataFrame:
    """A curve frame from CSV (tidy: id/channel, type, beta, half, s, lam, scale, optional draw
    and current) or JSON (the CURVES list of ``spendlab plan optimize``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"curves file {path} not found")
    if path.suffix.lower() == ".json":
        from spendlab.plan.curves import curves_from_json

        try:
            items = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not a readable JSON CURVES list: {e}") from None
        curves_from_json(items if isinstance(items, list) else [])  # checks the format
        return pd.DataFrame([_json_curve_row(it) for it in items])
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DataError(f"{path}: not a readable CSV curve frame: {e}") from None


def _json_curve_row(item: Mapping[str, Any]) -> dict[str, Any]:
    params = {k: float(v) for k, v in item["curve"]["params"].items()}
    kind = str(item["curve"]["type"]).lower()
    return {"id": str(item["id"]), "type": kind, **params, "current": item.get("current")}


def import_curves(
    ws: Workspace, path: Path, name: str, period: str = "day", source: str = "manual"
) -> dict[str, Any]:
    """Save the curves of a file as a curve set of ``ws``; it becomes the active one."""
    cs = curvesets.save_curve_set(
        ws.store.engine, ws.id, name, read_curve_file(path), period, source
    )
    return cs.summary()


def activate_curve_set(
    ws: Workspace, ref: int | str, *, force: bool = False, user: str = ""
) -> dict[str, Any]:
    """Make a stored curve set (by id or name) the active one; an MMM set that failed its gate
    is refused (ConfigError) unless ``force`` (recorded in its meta)."""
    cs = curvesets.activate_curve_set(ws.store.engine, ws.id, ref, force=force, user=user)
    return cs.summary()


# --- scenarios ------------------------------------------------------------------------------------
def create_scenario(
    ws: Workspace,
    name: str,
    *,
    operations: Sequence[str | Mapping[str, Any]] | None = None,
    allocation: Mapping[str, float] | None = None,
    budget: float | None = None,
    author: str | None = None,
    save: bool = True,
) -> dict[str, Any]:
    """Predict a what-if allocation from current spend: ``operations`` in order or an
    ``allocation`` (entities not named keep their current spend), rescaled to ``budget`` when
    given; stored (with the request that made it) unless ``save=False``."""
    ops = list(operations or [])
    ctx = context(ws)
    sc = scenarios.build_scenario(
        ctx.cs, ctx.current, name, operations=ops, allocation=allocation or None, budget=budget
    )
    if not save:
        return sc
    spec: dict[str, Any] = {"operations": ops}
    if allocation is not None:
        spec["allocation"] = dict(allocation)
    spec["budget"] = budget
    return scenarios.save_scenario(ws.store.engine, ws.id, sc, spec, author)


def list_scenarios(ws: Workspace) -> list[dict[str, Any]]:
    """Saved scenarios, newest first."""
    return scenarios.list_scenarios(ws.store.engine, ws.id)


def get_scenario(ws: Workspace, scenario_id: int) -> dict[str, Any]:
    return scenarios.get_scenario(ws.store.engine, scenario_id, ws.id)


def find_scenario(workspaces: Iterable[Workspace], scenario_id: int) -> dict[str, Any]:
    """A saved scenario by id in whichever of ``workspaces`` holds it (scenario ids are numbered
    per store, so two workspaces with stores of their own may both have one: then the caller
    must name the workspace)."""
    found: list[tuple[Workspace, dict[str, Any]]] = []
    for ws in workspaces:
        try:
            found.append((ws, get_scenario(ws, scenario_id)))
        except NotFoundError:
            continue
    if not found:
        raise NotFoundError(
            f"no scenario {scenario_id}; list the saved ones with `spendlab plan scenario list` "
            "or GET /api/v1/workspaces/{workspace}/plan/scenarios"
        )
    if len(found) > 1:
        names = ", ".join(repr(ws.name) for ws, _ in found)
        raise ConfigError(
            f"scenario {scenario_id} exists in several workspaces ({names}); name one with "
            "?workspace=NAME or use GET /api/v1/workspaces/{workspace}/plan/scenarios/ID"
        )
    return found[0][1]


def delete_scenario(ws: Workspace, scenario_id: int) -> None:
    scenarios.delete_scenario(ws.store.engine, ws.id, scenario_id)


def compare_scenarios(
    ws: Workspace, ids: Sequence[int] | None = None, *, newest: int = 20
) -> list[dict[str, Any]]:
    """Saved scenarios side by side as tidy rows (scenario, entity, metric, mean, lo, hi): the
    ``ids`` given, else the ``newest`` ones, oldest first."""
    if ids:
        rows = [get_scenario(ws, i) for i in ids]
    else:
        rows = list_scenarios(ws)[:newest][::-1]
    return jsonable(scenarios.compare(rows).to_dict(orient="records"))


# --- the optimizer --------------------------------------------------------------------------------
def optimize(
    ws: Workspace,
    *,
    budget: float | None = None,
    goal: str = "response",
    target: float | None = None,
    constraints: Constraints | None = None,
    risk: str = "mean",
    trust: TrustRegion | bool = True,
) -> dict[str, Any]:
    """The optimizer's allocation of ``budget`` (default: the current total) on the active
    curve set from current spend: expected uplift with its interval and ``p_positive``, KKT
    gap, binding constraints in words, the days current spend averages (``current_window``)
    and ``trust``: each entity's bounds (lo, hi, why), which binds, whether the recommendation
    leaves the observed spend range, and the advice ("test before you move" when the draws
    disagree). ``trust``: the trust region as hard bounds (``True``: the default
    :class:`TrustRegion`; ``False``: off, the curves alone decide). ``risk`` other than
    ``mean`` needs posterior draws (without them ``mean`` is used)."""
    region = TrustRegion() if trust is True else (trust or None)
    ctx = context(ws, region=region)
    out = scenarios.recommend(
        ctx.cs,
        ctx.current,
        budget=budget,
        constraints=constraints,
        goal=goal,
        target=target,
        risk=risk if ctx.cs.curves().draws else "mean",
        observed=ctx.observed,
        trust=region,
    )
    return {**out, "current_window": ctx.window}


def pending_actions(ws: Workspace, limit: int = 500) -> dict[str, Any]:
    """The workspace's actions awaiting approval (the newest ``limit``) and how many there are."""
    from spendlab.automate.store import RuleStore, select_actions
    from spendlab.core.actions import ActionStatus

    pending = select_actions(RuleStore.of(ws), status=[ActionStatus.PROPOSED.value])
    return {
        "pending_actions": [{"id": i, **a.to_dict()} for i, a, _ in pending[-limit:]],
        "pending_total": len(pending),
    }


def recommend(ws: Workspace, *, trust: TrustRegion | bool = True) -> dict[str, Any]:
    """Recommendations: the optimizer's allocation of the current total budget on the active
    curve set inside the trust region (``budget``, see :func:`optimize`) and the actions
    awaiting approval (``pending_actions``, ``pending_total``)."""
    return {"budget": optimize(ws, trust=trust), **pending_actions(ws)}


def frontier(
    ws: Workspace,
    *,
    max_budget: float | None = None,
    points: int = 25,
    target: float | None = None,
    metric: str = "mroas",
) -> dict[str, Any]:
    """Efficiency frontier: the optimal outcome at each total budget from 0 to ``max_budget``
    (default: twice the current total); with ``target``, the largest budget keeping ``metric``
    (mroas | iroas) at or above it (``max_budget``)."""
    from spendlab.plan.frontier import efficiency_frontier

    ctx = context(ws)
    cur = ctx.current_list()
    f = efficiency_frontier(ctx.cs.curves(), max_budget=max_budget, points=points, current=cur)
    out = {"period": ctx.cs.period, "current_budget": sum(cur), **f.to_dict()}
    if target is not None:
        out["max_budget"] = jsonable(f.max_budget(target, metric))
    return out


def optimize_file(
    path: Path | str | Sequence[Mapping[str, Any]],
    budget: float | None = None,
    *,
    goal: str = "response",
    target: float | None = None,
    risk: str = "mean",
    max_change: float | None = None,
    max_change_rel: float | None = None,
    locked: Sequence[str] = (),
    groups: Sequence[Any] = (),
) -> dict[str, Any]:
    """The optimizer on a CURVES.json file (see docs/planning.md): per-entity ``min``/``max``,
    ``current`` (change limits and uplift need it for every entity) and observed spend ranges
    from the file; group caps (:class:`spendlab.plan.constraints.GroupCap`), locks and change
    limits from the caller."""
    from spendlab.plan.curves import curves_from_json
    from spendlab.plan.optimizer import optimize as run_optimizer

    curves, extra = curves_from_json(path)
    cur = extra["current"].to_numpy(dtype=float)
    obs = extra[["observed_min", "observed_max"]].to_numpy(dtype=float)
    observed = None
    if np.isfinite(obs).any():
        observed = (np.nan_to_num(obs[:, 0], nan=0.0), np.nan_to_num(obs[:, 1], nan=np.inf))
    cons = Constraints(
        min=extra["min"].to_numpy(dtype=float),
        max=extra["max"].to_numpy(dtype=float),
        max_change=max_change,
        max_change_rel=max_change_rel,
        locked=tuple(locked),
        groups=tuple(groups),
    )
    res = run_optimizer(
        curves,
        budget,
        goal=goal,
        target=target,
        constraints=cons,
        current=cur if bool(np.isfinite(cur).all()) else None,
        observed=observed,
        risk=risk,
    )
    return res.to_dict()


# --- prediction from the fitted MMM --------------------------------------------------------------
def predict_roi(
    ws: Workspace, spend: Mapping[str, float], run_id: str | None = None
) -> dict[str, Any]:
    """Per channel response, iROAS and mROAS with 90% intervals at the planned ``spend`` per
    period (channels left out keep their average spend), and the expected outcome of a period
    once the plan's carry-over has built up, from the workspace's MMM run ``run_id`` (default:
    its latest successful one). :class:`NotFittedError` when it has none."""
    from spendlab.measure.mmm import store as runs
    from spendlab.measure.mmm.roi import predict_roi as predict

    if run_id is not None:
        run = runs.get_run(ws, run_id)
    else:
        run = runs.latest_run(ws)
        if run is None:
            raise NotFittedError(
                "prediction is not configured for this workspace yet: fit a marketing-mix model "
                "on this workspace first (spendlab mmm fit --workspace PATH, or POST "
                "/api/v1/workspaces/{workspace}/mmm/fits)"
            )
    result = predict(runs.load_model(ws, run), dict(spend))
    return runs.jsonable({"run_id": run["id"], **result})


__all__ = [
    "NOT_CONFIGURED",
    "PlanContext",
    "TrustRegion",
    "activate_curve_set",
    "compare_scenarios",
    "context",
    "create_scenario",
    "curve_set",
    "delete_scenario",
    "find_scenario",
    "frontier",
    "get_scenario",
    "import_curves",
    "list_curve_sets",
    "list_scenarios",
    "optimize",
    "optimize_file",
    "pending_actions",
    "predict_roi",
    "read_curve_file",
    "recommend",
]
