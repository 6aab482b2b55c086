"""Planning commands: ``spendlab plan optimize``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from spendlab.cli.data import JsonOpt
from spendlab.cli.output import emit_json, out, run

plan_app = typer.Typer(help="Plan budgets: optimize an allocation over response curves.")


def optimize_cmd(
    curves_file: Annotated[Path, typer.Argument(help="CURVES.json (see docs/planning.md).")],
    budget: Annotated[float | None, typer.Option(help="Total budget to allocate.")] = None,
    goal: Annotated[
        str, typer.Option(help="response | revenue | conversions | profit | target | roas | cpa")
    ] = "response",
    target: Annotated[float | None, typer.Option(help="Target for target/roas/cpa.")] = None,
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
            min=extra["min"].to_numpy(dtype=float), max=extra["max"].to_numpy(dtype=float)
        )
        res = optimize(
            curves,
            budget,
            goal=goal,
            target=target,
            constraints=cons,
            current=cur if has_cur else None,
            observed=observed,
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


def register(app: typer.Typer) -> None:
    plan_app.command("optimize")(optimize_cmd)
    app.add_typer(plan_app, name="plan")
