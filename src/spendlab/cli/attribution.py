"""Attribution commands: ``spendlab attribution run`` and ``spendlab attribution compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from spendlab.cli.data import JsonOpt, WorkspaceOpt, workspace_path
from spendlab.cli.output import emit_json, out, run, status
from spendlab.errors import ConfigError

PathsArg = Annotated[
    Path | None,
    typer.Argument(
        help="Path table (CSV/Parquet: path with ' > ' separators, conversions, nulls, value). "
        "Omit it and pass --workspace to build journeys from touchpoints and conversions."
    ),
]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="markov, shapley, shapley_ordered, last_touch, first_touch, last_non_direct, "
        "linear, time_decay, position, w_shaped or data_driven.",
    ),
]
OrderOpt = Annotated[int, typer.Option("--order", min=1, max=4, help="Markov order (1-4).")]
BootOpt = Annotated[
    int, typer.Option("--bootstrap", min=0, help="Bootstrap draws for intervals (0 = none).")
]
LevelOpt = Annotated[float, typer.Option("--level", help="Interval level (default 90%).")]
LookbackOpt = Annotated[
    float, typer.Option("--lookback-days", help="Journey lookback window (with --workspace).")
]
HalfLifeOpt = Annotated[
    float, typer.Option("--half-life", help="time_decay half-life in touches (path tables).")
]
HalfLifeDaysOpt = Annotated[
    float | None,
    typer.Option(
        "--half-life-days",
        help="time_decay half-life in days, from touch times (needs --workspace).",
    ),
]
GranOpt = Annotated[
    str, typer.Option("--granularity", help="channel or campaign (with --workspace).")
]


def _paths(  # type: ignore[no-untyped-def]
    paths: Path | None,
    workspace: Path | None,
    lookback: float,
    granularity: str,
    *,
    with_times: bool = False,
):
    from spendlab.measure.attribution import (
        JourneyConfig,
        build_journeys,
        build_paths,
        read_paths,
    )

    if paths is not None and workspace is not None:
        raise ConfigError("give either a PATHS file or --workspace, not both")
    if paths is not None:
        if with_times:
            raise ConfigError(
                "--half-life-days needs touch times and a path table has none; build journeys "
                "from a workspace (--workspace) or give the half-life in touches (--half-life)"
            )
        return read_paths(paths)
    from spendlab.data.warehouse import Warehouse

    cfg = JourneyConfig(lookback_days=lookback, granularity=granularity)
    with Warehouse.open(workspace_path(workspace), read_only=True) as wh:
        return build_journeys(wh, cfg) if with_times else build_paths(wh, cfg)


def run_cmd(
    paths: PathsArg = None,
    model: ModelOpt = "markov",
    order: OrderOpt = 1,
    bootstrap: BootOpt = 0,
    level: LevelOpt = 0.9,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    lookback_days: LookbackOpt = 30.0,
    granularity: GranOpt = "channel",
    half_life: HalfLifeOpt = 2.0,
    half_life_days: HalfLifeDaysOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Attribute conversions and value to channels with one model."""

    def body() -> dict[str, Any]:
        from spendlab.measure.attribution import run_attribution

        if half_life_days is not None and model != "time_decay":
            raise ConfigError("--half-life-days applies to --model time_decay only")
        with status("Attributing", quiet=as_json):
            p = _paths(
                paths, workspace, lookback_days, granularity, with_times=half_life_days is not None
            )
            return run_attribution(
                p,
                model,
                order=order,
                bootstrap=bootstrap,
                level=level,
                seed=seed,
                half_life=half_life,
                half_life_days=half_life_days,
            )

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
        return
    table = Table(title=f"{result['model']}: {result['total_conversions']:,.1f} conversions")
    cols = ["channel", "conversions", "value", "share"]
    extra = [
        c
        for c in ("removal_effect", "conversions_lo", "conversions_hi")
        if c in result["channels"][0]
    ]
    for c in cols + extra:
        table.add_column(c, justify="left" if c == "channel" else "right")
    for row in result["channels"]:
        table.add_row(
            row["channel"],
            *(f"{row[c]:.1%}" if c == "share" else f"{row[c]:,.4g}" for c in cols[1:] + extra),
        )
    out.print(table)
    if result["interval_level"]:
        out.print(f"Intervals: {result['interval_level']:.0%} bootstrap percentiles; point = fit.")


def compare_cmd(
    paths: PathsArg = None,
    order: OrderOpt = 1,
    bootstrap: BootOpt = 0,
    level: LevelOpt = 0.9,
    lookback_days: LookbackOpt = 30.0,
    granularity: GranOpt = "channel",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every model's credits side by side against last touch."""

    def body() -> list[dict[str, Any]]:
        from spendlab.measure.attribution import compare_models

        p = _paths(paths, workspace, lookback_days, granularity)
        frame = compare_models(p, order=order, bootstrap=bootstrap, level=level)
        return frame.to_dict(orient="records")  # type: ignore[return-value]

    rows = run(body, as_json=as_json)
    if as_json:
        emit_json(rows)
        return
    import pandas as pd

    wide = pd.DataFrame(rows).pivot(index="channel", columns="model", values="share")
    table = Table(title="share of conversions by model")
    table.add_column("channel")
    for m in wide.columns:
        table.add_column(str(m), justify="right")
    for ch, r in wide.iterrows():
        table.add_row(str(ch), *(f"{v:.1%}" for v in r))
    out.print(table)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Attribution and customer journeys.", no_args_is_help=True)
    group.command("run")(run_cmd)
    group.command("compare")(compare_cmd)
    app.add_typer(group, name="attribution")
