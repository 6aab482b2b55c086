"""Attribution commands: ``spendlab attribution run`` and ``spendlab attribution compare``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from spendlab.cli.data import JsonOpt, WorkspaceOpt, workspace_path
from spendlab.cli.output import emit_json, out, run, status
from spendlab.errors import ConfigError, DataError

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
SpendOpt = Annotated[
    Path | None,
    typer.Option(
        "--spend",
        help="CSV with columns channel,spend: adds spend, CPA and ROAS per channel (with "
        "--workspace the spend comes from ad_performance unless this is given).",
    ),
]
LiftOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--lift",
        help="CHANNEL=INCREMENTAL_CONVERSIONS from a lift test (repeatable): caps the channel's "
        "credit and moves the rest to a (baseline) row.",
    ),
]
IroasOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--iroas",
        help="CHANNEL=VALUE, the channel's incremental ROAS from an MMM or experiment "
        "(repeatable; needs spend): caps the credited value at iROAS x spend.",
    ),
]


def _paths(  # type: ignore[no-untyped-def]
    paths: Path | None,
    workspace: Path | None,
    lookback: float,
    granularity: str,
    *,
    with_times: bool = False,
    with_spend: bool = False,
):
    """The path counts, and with ``with_spend`` also the workspace's spend per channel (None for
    a path table)."""
    from spendlab.measure.attribution import paths_and_spend, read_paths

    if paths is not None and workspace is not None:
        raise ConfigError("give either a PATHS file or --workspace, not both")
    if paths is not None:
        if with_times:
            raise ConfigError(
                "--half-life-days needs touch times and a path table has none; build journeys "
                "from a workspace (--workspace) or give the half-life in touches (--half-life)"
            )
        p = read_paths(paths)
        return (p, None) if with_spend else p
    from spendlab.workspace import Workspace

    ws = Workspace.open(workspace_path(workspace))
    p, spend = paths_and_spend(
        ws, lookback, granularity, with_times=with_times, with_spend=with_spend, read_only=True
    )
    return (p, spend) if with_spend else p


def _pairs(values: list[str] | None, option: str, what: str) -> dict[str, float]:
    """Parse repeatable ``CHANNEL=NUMBER`` options (the last ``=`` splits, so channel names may
    hold one)."""
    out: dict[str, float] = {}
    for raw in values or []:
        channel, sep, number = raw.rpartition("=")
        channel = channel.strip()
        usage = f"use {option} CHANNEL={what}, e.g. {option} retargeting=0"
        if not sep or not channel:
            raise ConfigError(f"{option} {raw!r} is not CHANNEL={what}; {usage}")
        try:
            value = float(number)
        except ValueError:
            raise ConfigError(f"{option} {raw!r}: {number!r} is not a number; {usage}") from None
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{option} {raw!r}: {what} must be a finite number >= 0")
        if channel in out:
            raise ConfigError(f"{option} names {channel!r} twice; give each channel once")
        out[channel] = value
    return out


def _check_channels(table: dict[str, float], option: str, known: tuple[str, ...]) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(
            f"{option} names channel(s) {', '.join(map(repr, unknown))} not in the journeys; "
            f"channels are: {', '.join(known)}"
        )


def read_spend(path: Path, known: tuple[str, ...]) -> dict[str, float]:
    """Spend per channel from a ``channel,spend`` CSV; every row checked, errors name the line."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"{path}: no such spend file; give a CSV with columns channel,spend")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable CSV ({e}); use columns channel,spend") from None
    missing = {"channel", "spend"} - set(frame.columns)
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(sorted(missing))} (has "
            f"{', '.join(map(str, frame.columns))}); use a header line channel,spend"
        )
    spend: dict[str, float] = {}
    for i, (channel, raw) in enumerate(zip(frame["channel"], frame["spend"], strict=True)):
        where = f"{path}, line {i + 2}"  # the header is line 1
        channel = str(channel).strip()
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not (math.isfinite(value) and value >= 0):
            raise DataError(
                f"{where}, column 'spend': {raw!r} is not an amount >= 0; fix the value"
            )
        if channel not in known:
            raise DataError(
                f"{where}, column 'channel': {channel!r} is not in the journeys (channels: "
                f"{', '.join(known)}); fix the name or drop the row"
            )
        if channel in spend:
            raise DataError(f"{where}, column 'channel': {channel!r} appears twice; sum the rows")
        spend[channel] = value
    return spend


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
    spend: SpendOpt = None,
    lift: LiftOpt = None,
    iroas: IroasOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Attribute conversions and value to channels with one model; spend, CPA and ROAS with
    --workspace or --spend; calibrated to lift tests (--lift) or iROAS (--iroas)."""

    def body() -> dict[str, Any]:
        from spendlab.measure.attribution import run_attribution

        if half_life_days is not None and model != "time_decay":
            raise ConfigError("--half-life-days applies to --model time_decay only")
        lifts, iroases = (
            _pairs(lift, "--lift", "INCREMENTAL_CONVERSIONS"),
            _pairs(iroas, "--iroas", "VALUE"),
        )
        with status("Attributing", quiet=as_json):
            p, cost = _paths(
                paths,
                workspace,
                lookback_days,
                granularity,
                with_times=half_life_days is not None,
                with_spend=True,
            )
            _check_channels(lifts, "--lift", p.channels)
            _check_channels(iroases, "--iroas", p.channels)
            if spend is not None:
                cost = read_spend(spend, p.channels)
            if iroases and cost is None:
                raise ConfigError(
                    "--iroas needs spend per channel: pass --spend FILE.csv (channel,spend) or "
                    "build journeys from a workspace (--workspace)"
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
                spend=cost,
                lift=lifts,
                iroas=iroases,
            )

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
        return
    _print_run(result)


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) >= 1 or v == 0 else f"{v:.3g}"


def _table(title: str, rows: list[dict[str, Any]], cols: list[tuple[str, str, str]]) -> Table:
    """One Rich table; ``cols`` are (header, key, kind) with kind ``num``, ``pct`` or ``iv``
    (the ``key_lo`` to ``key_hi`` interval in one column)."""

    def cell(row: dict[str, Any], key: str, kind: str) -> str:
        if kind == "iv":
            lo, hi = row.get(f"{key}_lo"), row.get(f"{key}_hi")
            return "-" if lo is None and hi is None else f"{_num(lo)} to {_num(hi)}"
        v = row.get(key)
        if kind == "pct":
            return "-" if v is None else f"{v:.1%}"
        return _num(v)

    table = Table(title=title)
    table.add_column("channel", no_wrap=True)
    for header, _, _ in cols:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(row["channel"], *(cell(row, key, kind) for _, key, kind in cols))
    return table


def _print_run(result: dict[str, Any]) -> None:
    rows = result["channels"]
    first = rows[0]
    title = f"{result['model']}: {result['total_conversions']:,.1f} conversions"
    if result.get("calibrated"):
        title += " (calibrated)"
    cols = [("conversions", "conversions", "num")]
    if "conversions_lo" in first:
        cols.append(("interval", "conversions", "iv"))
    cols += [("value", "value", "num"), ("share", "share", "pct")]
    if "removal_effect" in first:
        cols.append(("removal effect", "removal_effect", "num"))
    if "factor" in first:
        cols.append(("kept", "factor", "pct"))
    out.print(_table(title, rows, cols))
    if "factor" in first:
        out.print("kept = part of the credit the lift test / iROAS supports; the rest: (baseline).")
    if "spend" in first:
        cols = [("spend", "spend", "num"), ("CPA", "cpa", "num")]
        if "cpa_lo" in first:
            cols.append(("CPA interval", "cpa", "iv"))
        cols.append(("ROAS", "roas", "num"))
        if "roas_lo" in first:
            cols.append(("ROAS interval", "roas", "iv"))
        money_rows = [r for r in rows if r.get("spend") is not None]
        out.print(_table(f"money: {result['total_spend']:,.2f} spend", money_rows, cols))
        out.print("CPA = spend / credited conversions ('-': none); ROAS = credited value / spend.")
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
