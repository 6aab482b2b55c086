"""Planning commands over a workspace's curve sets: ``spendlab plan curves
import|list|activate``, ``spendlab plan scenario create|list|show|compare|delete`` and
``spendlab plan frontier``.

Each parses its options, calls :mod:`spendlab.plan.service` (curve sets and scenarios live in
the workspace's store, current spend comes from its warehouse: the average per period over the
last 28 days) and prints the result."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from spendlab.cli.data import JsonOpt, WorkspaceOpt
from spendlab.cli.output import emit_json, out, run

if TYPE_CHECKING:
    from spendlab.workspace import Workspace

curves_app = typer.Typer(
    help="Curve sets: the response curves planning uses.", no_args_is_help=True
)
scenario_app = typer.Typer(help="What-if scenarios on the active curve set.", no_args_is_help=True)


def _open(workspace: Path | None) -> Workspace:
    from spendlab.workspace import Workspace

    return Workspace.open(workspace)


@curves_app.command("import")
def curves_import(
    file: Annotated[Path, typer.Argument(help="Curve frame (.csv) or CURVES list (.json).")],
    name: Annotated[str, typer.Option(help="Name of the curve set.")],
    period: Annotated[str, typer.Option(help="Spend unit the curves take: day | week.")] = "day",
    source: Annotated[str, typer.Option(help="mmm | manual | simulator.")] = "manual",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a curve set for the workspace; it becomes the active one."""

    def body() -> dict[str, Any]:
        from spendlab.plan.service import import_curves

        return import_curves(_open(workspace), file, name, period, source)

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
    else:
        out.print(f"Saved curve set {result['id']} {result['name']!r} (active): "
                  f"{', '.join(result['entities'])}")  # fmt: skip


@curves_app.command("list")
def curves_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """The workspace's curve sets, newest first; the active one is marked."""

    def body() -> list[dict[str, Any]]:
        from spendlab.plan.service import list_curve_sets

        return list_curve_sets(_open(workspace))

    rows = run(body, as_json=as_json)
    if as_json:
        emit_json(rows)
        return
    t = Table("id", "name", "period", "source", "entities", "draws", "created", "active")
    for r in rows:
        cells = [r["id"], r["name"], r["period"], r["source"], r["n_entities"], r["draws"] or ""]
        t.add_row(*map(str, cells), r["created_at"][:19], "*" if r["active"] else "")
    out.print(t)


@curves_app.command("activate")
def curves_activate(
    ref: Annotated[str, typer.Argument(help="Curve set id or name (see `plan curves list`).")],
    workspace: WorkspaceOpt = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Activate an MMM curve set that failed its gate (recorded)."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make a stored curve set the active one (scenarios and the optimizer use it). An MMM
    curve set whose model failed its gate is refused unless --force."""

    def body() -> dict[str, Any]:
        from spendlab.plan.service import activate_curve_set

        return activate_curve_set(_open(workspace), ref, force=force)

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
    else:
        out.print(f"Curve set {result['id']} {result['name']!r} is now active.")


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
    as_json: JsonOpt = False,
) -> None:
    """Predict a what-if allocation from current spend (and save it)."""

    def body() -> dict[str, Any]:
        from spendlab.plan.service import create_scenario

        return create_scenario(
            _open(workspace), name, operations=list(op or []), budget=budget, save=save
        )

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
def scenario_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Saved scenarios, newest first."""

    def body() -> list[dict[str, Any]]:
        from spendlab.plan.service import list_scenarios

        return list_scenarios(_open(workspace))

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
    as_json: JsonOpt = False,
) -> None:
    """One saved scenario."""

    def body() -> dict[str, Any]:
        from spendlab.plan.service import get_scenario

        return get_scenario(_open(workspace), scenario_id)

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
    else:
        _print_scenario(result)


@scenario_app.command("compare")
def scenario_compare(
    ids: Annotated[list[int], typer.Argument(help="Scenario ids.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Saved scenarios side by side (JSON: the tidy rows)."""

    def body() -> list[dict[str, Any]]:
        from spendlab.plan.service import compare_scenarios

        return compare_scenarios(_open(workspace), ids)

    rows = run(body, as_json=as_json)
    if as_json:
        emit_json(rows)
        return
    import pandas as pd

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
    as_json: JsonOpt = False,
) -> None:
    """Delete a saved scenario."""

    def body() -> dict[str, Any]:
        from spendlab.plan.service import delete_scenario

        delete_scenario(_open(workspace), scenario_id)
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
    as_json: JsonOpt = False,
) -> None:
    """Efficiency frontier: optimal outcome vs total budget on the active curve set."""

    def body() -> dict[str, Any]:
        from spendlab.plan.service import frontier

        return frontier(
            _open(workspace), max_budget=max_budget, points=points, target=target, metric=metric
        )

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
