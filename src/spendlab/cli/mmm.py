"""``spendlab mmm``: fit a marketing-mix model, save the run, write its one-page report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from spendlab.cli.data import JsonOpt, WorkspaceOpt
from spendlab.cli.output import emit_json, out, run, status
from spendlab.errors import ConfigError, DataError

mmm_app = typer.Typer(help="Marketing-mix model: fit, report.", no_args_is_help=True)


def _load_data(data: Path | None, workspace: Path | None, table: str | None):
    import pandas as pd

    if workspace is not None:
        if not table:
            raise ConfigError("--workspace needs --table NAME (one row per period)")
        from spendlab.data.warehouse import Warehouse

        with Warehouse.open(workspace, read_only=True) as wh:
            return wh.table(table).to_pandas()
    if data is None:
        raise ConfigError("give DATA.csv or --workspace PATH --table NAME")
    if not data.exists():
        raise DataError(f"{data} does not exist")
    return pd.read_csv(data)


@mmm_app.command("fit")
def fit(
    data: Annotated[Path | None, typer.Argument(help="CSV with one row per period.")] = None,
    date: Annotated[str, typer.Option("--date", help="Date column.")] = "date",
    target: Annotated[str, typer.Option("--target", help="Outcome column.")] = "revenue",
    channel: Annotated[list[str] | None, typer.Option("--channel", help="Spend column.")] = None,
    control: Annotated[list[str] | None, typer.Option("--control", help="Control column.")] = None,
    chains: Annotated[int, typer.Option(min=1)] = 2,
    draws: Annotated[int, typer.Option(min=10)] = 500,
    warmup: Annotated[int, typer.Option(min=10)] = 500,
    fast: Annotated[bool, typer.Option("--fast", help="Laplace approximation (preview).")] = False,
    holdout: Annotated[int, typer.Option(help="Final periods kept out to score fit.")] = 0,
    seed: int = 0,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Run folder to save.")] = None,
    workspace: WorkspaceOpt = None,
    table: Annotated[str | None, typer.Option("--table", help="Workspace table.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit the Bayesian MMM; print per channel iROAS / mROAS with 90% intervals."""

    def body() -> dict[str, Any]:
        from spendlab.measure.mmm import MMM, MMMConfig

        df = _load_data(data, workspace, table)
        cfg = MMMConfig(date=date, target=target, channels=tuple(channel or ()),
                        controls=tuple(control or ()), chains=chains, draws=draws,
                        warmup=warmup, fast=fast, holdout=holdout, seed=seed,
                        progress_bar=True)  # fmt: skip
        with status("Fitting the MMM", quiet=as_json):
            model = MMM(cfg).fit(df)
        payload = model.to_json()
        if out_dir is not None:
            payload["run"] = str(model.save(out_dir).resolve())
        return payload

    payload = run(body, as_json=as_json)
    if as_json:
        emit_json(payload)
        return
    pct = int(payload["interval"] * 100)
    out.print(f"iROAS per channel (mean, {pct}% interval), fit in {payload['fit_seconds']:.1f} s:")
    for ch, r in payload["channels"].items():
        i = r["iroas"]
        out.print(f"  {ch}: {i['mean']:.3g} [{i['lo']:.3g}, {i['hi']:.3g}], "
                  f"share of effect {r['contribution_share']:.1%}")  # fmt: skip
    for h in payload["health"]:
        out.print(f"  {h['status']:6s} {h['check']}: {h['advice']}")
    if "run" in payload:
        out.print(f"Saved run to {payload['run']}")


@mmm_app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run folder from `mmm fit --out`.")],
    out_file: Annotated[Path, typer.Option("--out", help="FILE.png or FILE.pdf")],
    as_json: JsonOpt = False,
) -> None:
    """Write the one-page report of a saved run (no refitting)."""

    def body() -> dict[str, Any]:
        from spendlab.measure.mmm import MMM
        from spendlab.report.mmm import write_report

        return {"report": str(write_report(MMM.load(run_dir), out_file).resolve())}

    payload = run(body, as_json=as_json)
    if as_json:
        emit_json(payload)
    else:
        out.print(f"Wrote {payload['report']}")


def register(app: typer.Typer) -> None:
    app.add_typer(mmm_app, name="mmm")
