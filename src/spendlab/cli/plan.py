"""Planning commands: ``spendlab plan optimize`` (a CURVES file), ``spendlab plan recommend`` (a
workspace's active curve set, inside the trust region) and ``spendlab plan allocate``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from spendlab.cli.data import JsonOpt, WorkspaceOpt
from spendlab.cli.output import emit_json, out, run
from spendlab.errors import ConfigError

plan_app = typer.Typer(help="Plan budgets: optimize an allocation over response curves.")


def optimize_cmd(
    curves_file: Annotated[Path, typer.Argument(help="CURVES.json (see docs/planning.md).")],
    budget: Annotated[float | None, typer.Option(help="Total budget to allocate.")] = None,
    goal: Annotated[
        str, typer.Option(help="response | revenue | conversions | profit | target | roas | cpa")
    ] = "response",
    target: Annotated[float | None, typer.Option(help="Target for target/roas/cpa.")] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            help="Group cap NAME=ID,ID,...:CAP (repeatable; groups must nest, e.g. channel > "
            "campaign).",
        ),
    ] = None,
    risk: Annotated[
        str, typer.Option(help="With posterior draws: mean | quantile | mean_sd.")
    ] = "mean",
    max_change: Annotated[
        float | None, typer.Option(help="Largest absolute change from current spend.")
    ] = None,
    max_change_rel: Annotated[
        float | None, typer.Option(help="Largest change as a fraction of current spend.")
    ] = None,
    lock: Annotated[
        list[str] | None, typer.Option("--lock", help="Keep this id at current spend.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Allocate BUDGET across the entities of CURVES.json (exact for concave curves)."""

    def body() -> dict[str, Any]:
        from spendlab.plan.service import optimize_file

        return optimize_file(
            curves_file,
            budget,
            goal=goal,
            target=target,
            risk=risk,
            max_change=max_change,
            max_change_rel=max_change_rel,
            locked=tuple(lock or ()),
            groups=tuple(parse_group(g) for g in group or ()),
        )

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
        return
    e = result["expected"]
    out.print(f"goal {result['goal']}: expected {e['mean']:.6g}  kkt_gap {result['kkt_gap']:.2e}")
    for k, v in result["allocation"].items():
        out.print(f"  {k}: {v:.2f}")
    for line in result["binding"] + result["notes"]:
        out.print(f"- {line}")


def allocate_cmd(
    date_: Annotated[
        datetime,
        typer.Option("--date", formats=["%Y-%m-%d"], help="Day to allocate (uses data before it)."),
    ],
    workspace: WorkspaceOpt = None,
    budget: Annotated[
        float | None, typer.Option(help="Total daily budget (default: sum of current budgets).")
    ] = None,
    max_change: Annotated[
        float, typer.Option(help="Largest change of a campaign's budget per day (fraction).")
    ] = 0.2,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Preview: log nothing in the action log.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed (exploration draws).")] = 0,
    kpi: Annotated[str, typer.Option(help="revenue | conversions")] = "revenue",
    group_by: Annotated[
        str, typer.Option(help="Comma-separated columns of the pooling groups.")
    ] = "platform",
    explore: Annotated[str, typer.Option(help="targeted | thompson | mean")] = "targeted",
    window: Annotated[int, typer.Option(help="Days of history the curves are fitted on.")] = 56,
    as_json: JsonOpt = False,
) -> None:
    """Allocate a day's budget across the workspace's campaigns; log budget changes for approval.

    Without --dry-run the actions go to the action log as proposed (approve them with
    `spendlab rules approve`); a date already allocated is not logged twice.
    """

    def body() -> dict[str, Any]:
        from spendlab.plan.allocator import AllocatorConfig
        from spendlab.plan.daily import allocate_and_log
        from spendlab.workspace import Workspace

        return allocate_and_log(
            Workspace.open(workspace),
            date_.date(),
            budget=budget,
            config=AllocatorConfig(max_change=max_change, explore=explore, window=window),
            seed=seed,
            kpi=kpi,
            group_by=tuple(c.strip() for c in group_by.split(",") if c.strip()),
            dry_run=dry_run,
        )

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
        return
    e, u = result["expected"], result["uplift"]
    out.print(
        f"{result['as_of']}: budget {result['budget']:.2f} over {result['campaigns']} campaigns, "
        f"{len(result['actions'])} change(s); expected {result['kpi']} {e['mean']:.2f} "
        f"[{e['lo']:.2f}, {e['hi']:.2f}] ({e['interval']:.0%} interval), uplift {u['mean']:+.2f} "
        f"[{u['lo']:+.2f}, {u['hi']:+.2f}]; kkt_gap {result['kkt_gap']:.1e}"
    )
    for a in result["actions"][:20]:
        out.print(
            f"  {a['entity_id']}: {a['old_value']:.2f} -> {a['new_value']:.2f}  {a['reason']}"
        )
    if len(result["actions"]) > 20:
        out.print(f"  ... {len(result['actions']) - 20} more (use --json)")
    logged = result["logged"]
    out.print(f"logged {len(logged)} proposed action(s)" if logged else "nothing logged")
    for line in result["notes"]:
        out.print(f"- {line}")


def parse_group(text: str) -> Any:
    """``NAME=ID,ID,...:CAP`` -> GroupCap; the error shows the expected form."""
    from spendlab.plan.constraints import GroupCap

    name, sep, rest = text.partition("=")
    ids, sep2, cap = rest.rpartition(":")
    try:
        value = float(cap)
    except ValueError:
        value = None
    if not sep or not sep2 or not name.strip() or not ids.strip() or value is None:
        raise ConfigError(f"--group {text!r} is not NAME=ID,ID,...:CAP; e.g. social=fb,ig:500")
    return GroupCap(name.strip(), [i.strip() for i in ids.split(",") if i.strip()], value)


def recommend_cmd(
    budget: Annotated[
        float | None, typer.Option(help="Total budget per period (default: the current total).")
    ] = None,
    trust_region: Annotated[
        bool,
        typer.Option(
            "--trust-region/--no-trust-region",
            help="Stay within the spend range each entity ran at (see docs/trust.md).",
        ),
    ] = True,
    trust_margin: Annotated[
        float, typer.Option(min=0, max=10, help="Widen the observed range by this fraction.")
    ] = 0.1,
    max_step: Annotated[
        float,
        typer.Option(min=0, max=100, help="Largest move from current where history is flat."),
    ] = 0.3,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The recommended allocation on the workspace's active curve set: each entity's bounds and
    why, the uplift with its interval and P(uplift > 0), and whether to test before moving."""

    def body() -> dict[str, Any]:
        from spendlab.plan.constraints import TrustRegion
        from spendlab.plan.service import optimize
        from spendlab.workspace import Workspace

        trust = TrustRegion(margin=trust_margin, max_step=max_step) if trust_region else False
        return optimize(Workspace.open(workspace), budget=budget, trust=trust)

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
        return
    from rich.table import Table

    t = Table("entity", "current", "recommended", "lo", "hi", "why", "binds", "observed?")
    for e in result["trust"]["entities"]:
        hi = "-" if e["hi"] is None else f"{e['hi']:,.2f}"
        why = e["lo_why"] if e["lo_why"] == e["hi_why"] else f"{e['lo_why']} / {e['hi_why']}"
        seen = "OUTSIDE" if e["outside_observed"] else "yes"
        cells = (e["current"], e["recommended"], e["lo"])
        t.add_row(e["id"], *(f"{v:,.2f}" for v in cells), hi, why, e["binds"] or "", seen)
    out.print(t)
    up = result["uplift"]
    p = "" if up["p_positive"] is None else f", P(uplift > 0) = {up['p_positive']:.2f}"
    out.print(
        f"Uplift {up['mean']:,.2f} per {result['period']} ({up['interval']:.0%} interval "
        f"{up['lo']:,.2f} to {up['hi']:,.2f}{p})"
    )
    for line in result["notes"]:
        out.print(line)
    out.print(result["trust"]["advice"])


def register(app: typer.Typer) -> None:
    from spendlab.cli import plan_scenarios

    plan_app.command("optimize")(optimize_cmd)
    plan_app.command("allocate")(allocate_cmd)
    plan_app.command("recommend")(recommend_cmd)

    plan_scenarios.register(plan_app)
    app.add_typer(plan_app, name="plan")
