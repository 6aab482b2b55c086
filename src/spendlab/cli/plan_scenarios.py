"""Planning commands over a workspace's curve sets: ``spendlab plan curves import|list``,
``spendlab plan scenario create|list|show|compare|delete`` and ``spendlab plan frontier``.

They use the workspace's app store (``--store``, else ``$SPENDLAB_STORE_URL``, else ``app.db``
inside the workspace: the one ``spendlab demo`` and the server use) and read current spend from
the workspace's warehouse (average per period over the last 28 days)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from spendlab.cli.data import JsonOpt, WorkspaceOpt, workspace_path
from spendlab.cli.output import emit_json, out, run
from spendlab.config import get_settings
from spendlab.errors import DataError

curves_app = typer.Typer(
    help="Curve sets: the response curves planning uses.", no_args_is_help=True
)
scenario_app = typer.Typer(help="What-if scenarios on the active curve set.", no_args_is_help=True)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store URL (default: $SPENDLAB_STORE_URL, else sqlite:///WORKSPACE/app.db).",
    ),
]


def _engine(url: str | None, ws: Path) -> Any:
    from spendlab.app.store import open_store

    return open_store(url or get_settings().workspace_store_url(ws)).engine


def _context(workspace: Path | None, store: str | None) -> tuple[Any, str, Any, dict[str, float]]:
    """(engine, workspace key, active curve set, current spend per entity)."""
    from spendlab.data.warehouse import Warehouse
    from spendlab.plan.curvesets import current_spend, load_curve_set
    from spendlab.plan.store import workspace_key

    ws = workspace_path(workspace)
    engine = _engine(store, ws)
    key = workspace_key(ws)
    cs = load_curve_set(engine, key)
    with Warehouse.open(ws, read_only=True) as wh:
        cur = current_spend(wh, cs)
    return engine, key, cs, dict(zip(cur["id"], cur["current"].astype(float), strict=True))


def read_curve_file(path: Path) -> pd.DataFrame:
    """A curve frame from CSV (tidy: id/channel, type, beta, half, s, lam, scale, optional draw
    and current) or JSON (the CURVES list of ``spendlab plan optimize``)."""
    if not path.exists():
        raise DataError(f"curves file {path} not found")
    if path.suffix.lower() == ".json":
        from spendlab.plan.curves import curves_from_json

        items = json.loads(path.read_text())
        curves_from_json(items if isinstance(items, list) else [])  # checks the format
        rows = [
            {"id": str(it["id"]), "type": str(it["curve"]["type"]).lower(),
             **{k: float(v) for k, v in it["curve"]["params"].items()},
             "current": it.get("current")}
            for it in items
        ]  # fmt: skip
        return pd.DataFrame(rows)
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DataError(f"{path}: not a readable CSV curve frame: {e}") from None


@curves_app.command("import")
def curves_import(
    file: Annotated[Path, typer.Argument(help="Curve frame (.csv) or CURVES list (.json).")],
    name: Annotated[str, typer.Option(help="Name of the curve set.")],
    period: Annotated[str, typer.Option(help="Spend unit the curves take: day | week.")] = "day",
    source: Annotated[str, typer.Option(help="mmm | manual | simulator.")] = "manual",
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a curve set for the workspace; it becomes the active one."""

    def body() -> dict[str, Any]:
        from spendlab.plan.curvesets import save_curve_set
        from spendlab.plan.store import workspace_key

        ws = workspace_path(workspace)
        cs = save_curve_set(
            _engine(store, ws), workspace_key(ws), name, read_curve_file(file), period, source
        )
        return cs.summary()

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
    else:
        out.print(f"Saved curve set {result['id']} {result['name']!r} (active): "
                  f"{', '.join(result['entities'])}")  # fmt: skip


@curves_app.command("list")
def curves_list(
    workspace: WorkspaceOpt = None, store: StoreOpt = None, as_json: JsonOpt = False
) -> None:
    """The workspace's curve sets, newest first; the active one is marked."""

    def body() -> list[dict[str, Any]]:
        from spendlab.plan.curvesets import list_curve_sets
        from spendlab.plan.scenarios import jsonable
        from spendlab.plan.store import workspace_key

        ws = workspace_path(workspace)
        return jsonable(list_curve_sets(_engine(store, ws), workspace_key(ws)))

    rows = run(body, as_json=as_json)
    if as_json:
        emit_json(rows)
        return
    t = Table("id", "name", "period", "source", "entities", "draws", "created", "active")
    for r in rows:
        cells = [r["id"], r["name"], r["period"], r["source"], r["n_entities"], r["draws"] or ""]
        t.add_row(*map(str, cells), r["created_at"][:19], "*" if r["active"] else "")
    out.print(t)


@scenario_app.command("create")
def scenario_create(
    name: Annotated[str, typer.Argument(help="Scenario name.")],
    op: Annotated[
        list[str] | None,
        typer.Option(
            "--op",
            help="'scale tv by -20%', 'shift 20% from tv to social', "
            "'set tv to 1000' (repeatable, applied in order).",
        ),  # fmt: skip
    ] = None,
    budget: Annotated[float | None, typer.Option(help="Rescale the result to this total.")] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Store the scenario.")] = True,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict a what-if allocation from current spend (and save it)."""

    def body() -> dict[str, Any]:
        from spendlab.plan.scenarios import build_scenario, save_scenario

        engine, key, cs, cur = _context(workspace, store)
        sc = build_scenario(cs, cur, name, operations=list(op or []), budget=budget)
        if not save:
            return sc
        return save_scenario(engine, key, sc, {"operations": list(op or []), "budget": budget})

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
    else:
        _print_scenario(result)


def _fmt_iv(v: dict[str, Any]) -> str:
    if v["mean"] is None:
        return "-"
    if v["lo"] == v["hi"]:
        return f"{v['mean']:,.2f}"
    return f"{v['mean']:,.2f} ({v['lo']:,.2f} to {v['hi']:,.2f})"


def _print_scenario(sc: dict[str, Any]) -> None:
    p, b = sc["predicted"], sc["baseline"]
    head = f"Scenario {sc.get('id', '(not saved)')} {sc['name']!r}"
    out.print(f"{head}: spend per {sc['period']}, curve set {sc['curve_set']['name']!r}")
    t = Table("entity", "current", "scenario", "outcome")
    for e in p["entities"]:
        t.add_row(e["id"], f"{sc['current'][e['id']]:,.2f}", f"{e['spend']:,.2f}",
                  f"{e['outcome']:,.2f}")  # fmt: skip
    out.print(t)
    iv = f"{p['interval']:.0%} interval" if p["point"] != "point" else "no draws"
    out.print(f"outcome {_fmt_iv(p['outcome'])} vs current {_fmt_iv(b['outcome'])} "
              f"(change {_fmt_iv(sc['change']['outcome'])}; {p['point']}, {iv})")  # fmt: skip
    out.print(f"iROAS {_fmt_iv(p['iroas'])}  mROAS {_fmt_iv(p['mroas'])}")


@scenario_app.command("list")
def scenario_list(
    workspace: WorkspaceOpt = None, store: StoreOpt = None, as_json: JsonOpt = False
) -> None:
    """Saved scenarios, newest first."""

    def body() -> list[dict[str, Any]]:
        from spendlab.plan.scenarios import list_scenarios
        from spendlab.plan.store import workspace_key

        ws = workspace_path(workspace)
        return list_scenarios(_engine(store, ws), workspace_key(ws))

    rows = run(body, as_json=as_json)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        out.print(f"{r['id']:>5}  {r['name']:<30} outcome {_fmt_iv(r['predicted']['outcome'])}  "
                  f"spend {r['predicted']['spend']:,.2f}  {r['created_at'][:19]}")  # fmt: skip


@scenario_app.command("show")
def scenario_show(
    scenario_id: int,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One saved scenario."""

    def body() -> dict[str, Any]:
        from spendlab.plan.scenarios import get_scenario
        from spendlab.plan.store import workspace_key

        ws = workspace_path(workspace)
        return get_scenario(_engine(store, ws), scenario_id, workspace_key(ws))

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
    else:
        _print_scenario(result)


@scenario_app.command("compare")
def scenario_compare(
    ids: Annotated[list[int], typer.Argument(help="Scenario ids.")],
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Saved scenarios side by side (JSON: the tidy rows)."""

    def body() -> list[dict[str, Any]]:
        from spendlab.plan.scenarios import compare, get_scenario, jsonable
        from spendlab.plan.store import workspace_key

        ws = workspace_path(workspace)
        eng, key = _engine(store, ws), workspace_key(ws)
        return jsonable(compare([get_scenario(eng, i, key) for i in ids]).to_dict("records"))

    rows = run(body, as_json=as_json)
    if as_json:
        emit_json(rows)
        return
    from spendlab.plan.scenarios import compare_table

    table = compare_table(pd.DataFrame(rows))
    t = Table(*[str(c) for c in table.columns])
    for r in table.itertuples(index=False):
        t.add_row(*[f"{v:,.2f}" if isinstance(v, float) else str(v) for v in r])
    out.print(t)


@scenario_app.command("delete")
def scenario_delete(
    scenario_id: int,
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a saved scenario."""

    def body() -> dict[str, Any]:
        from spendlab.plan.scenarios import delete_scenario
        from spendlab.plan.store import workspace_key

        ws = workspace_path(workspace)
        delete_scenario(_engine(store, ws), workspace_key(ws), scenario_id)
        return {"deleted": scenario_id}

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
    else:
        out.print(f"Deleted scenario {scenario_id}.")


def frontier_cmd(
    max_budget: Annotated[
        float | None, typer.Option(help="Largest budget (default: 2x current).")
    ] = None,
    points: Annotated[int, typer.Option(min=2, max=500, help="Budgets on the grid.")] = 25,
    target: Annotated[
        float | None, typer.Option(help="Find the largest budget keeping METRIC >= this.")
    ] = None,
    metric: Annotated[str, typer.Option(help="mroas | iroas (for --target).")] = "mroas",
    workspace: WorkspaceOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Efficiency frontier: optimal outcome vs total budget on the active curve set."""

    def body() -> dict[str, Any]:
        from spendlab.plan.frontier import efficiency_frontier
        from spendlab.plan.scenarios import jsonable

        _, _, cs, cur = _context(workspace, store)
        curves = cs.curves()
        c = [cur[i] for i in curves.ids]
        f = efficiency_frontier(curves, max_budget=max_budget, points=points, current=c)
        res = {"period": cs.period, "current_budget": sum(c), **f.to_dict()}
        if target is not None:
            res["max_budget"] = jsonable(f.max_budget(target, metric))
        return res

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
        return
    t = Table("budget", "outcome", "interval", "mROAS", "iROAS", "kkt_gap")
    for p in result["points"]:
        iroas = "-" if p["iroas"] is None else f"{p['iroas']:.4g}"
        t.add_row(f"{p['budget']:,.2f}", f"{p['outcome']:,.2f}",
                  f"{p['lo']:,.2f} to {p['hi']:,.2f}", f"{p['mroas']:.4g}", iroas,
                  f"{p['kkt_gap']:.1e}")  # fmt: skip
    out.print(f"Per {result['period']}; current budget {result['current_budget']:,.2f}")
    out.print(t)
    if "max_budget" in result:
        m = result["max_budget"]
        out.print(f"Largest budget with {m['metric']} >= {m['target']}: {m['budget']:,.2f} "
                  f"(outcome {m['outcome']:,.2f})")  # fmt: skip


def register(plan_app: typer.Typer) -> None:
    plan_app.add_typer(curves_app, name="curves")
    plan_app.add_typer(scenario_app, name="scenario")
    plan_app.command("frontier")(frontier_cmd)
