"""Planning commands: ``spendlab plan optimize``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from spendlab.cli.data import JsonOpt
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
        from spendlab.plan.constraints import Constraints
        from spendlab.plan.curves import curves_from_json
        from spendlab.plan.optimizer import optimize

        curves, extra = curves_from_json(curves_file)
        cur = extra["current"].to_numpy(dtype=float)
        has_cur = bool(np.isfinite(cur).all())
        obs = extra[["observed_min", "observed_max"]].to_numpy(dtype=float)
        observed = None
        if np.isfinite(obs).any():
            observed = (np.nan_to_num(obs[:, 0], nan=0.0), np.nan_to_num(obs[:, 1], nan=np.inf))
        cons = Constraints(
            min=extra["min"].to_numpy(dtype=float),
            max=extra["max"].to_numpy(dtype=float),
            max_change=max_change,
            max_change_rel=max_change_rel,
            locked=tuple(lock or ()),
            groups=tuple(parse_group(g) for g in group or ()),
        )
        res = optimize(
            curves,
            budget,
            goal=goal,
            target=target,
            constraints=cons,
            current=cur if has_cur else None,
            observed=observed,
            risk=risk,
        )
        return res.to_dict()

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


def register(app: typer.Typer) -> None:
    from spendlab.cli import plan_scenarios

    plan_app.command("optimize")(optimize_cmd)
    plan_scenarios.register(plan_app)
    app.add_typer(plan_app, name="plan")
