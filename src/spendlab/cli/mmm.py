"""``spendlab mmm``: fit a marketing-mix model, save the run, write its one-page report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from spendlab.cli.data import JsonOpt, WorkspaceOpt
from spendlab.cli.output import emit_json, out, run, status
from spendlab.errors import ConfigError, DataError

mmm_app = typer.Typer(help="Marketing-mix model: fit, list runs, report.", no_args_is_help=True)


StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="SQLAlchemy URL of the run index (default: $SPENDLAB_STORE_URL, else "
        "sqlite:///WORKSPACE/app.db).",
    ),
]


def _load_data(data: Path | None, workspace: Path | None, table: str | None, ws_opts: dict):
    """(frame, target, channels, controls, source): the CSV, a workspace table as is, or the
    frame built from the workspace's canonical tables (``measure.mmm.workspace``)."""
    import pandas as pd

    if workspace is not None:
        from spendlab.data.warehouse import Warehouse

        with Warehouse.open(workspace, read_only=True) as wh:
            if table:
                return wh.table(table).to_pandas(), None, f"table:{table}"
            from spendlab.measure.mmm.workspace import build_input

            inp = build_input(wh, **ws_opts)
            return inp.frame, inp, "workspace"
    if data is None:
        raise ConfigError("give DATA.csv or --workspace PATH (with --table NAME for a ready table)")
    if not data.exists():
        raise DataError(f"{data} does not exist")
    return pd.read_csv(data), None, f"csv:{data.name}"


def _engine(url: str | None, ws: Path):
    from spendlab.app.store import open_store
    from spendlab.config import get_settings

    return open_store(url or get_settings().workspace_store_url(ws)).engine


def _publish_curves(store_url, workspace: Path, run_id: str, model, frequency, channel_by):
    """The run's response curves become the workspace's active curve set (plan optimize /
    scenarios / the Plan page use it)."""
    from spendlab.data.warehouse import Warehouse
    from spendlab.measure.mmm.workspace import channel_members
    from spendlab.plan.curvesets import save_mmm_curves
    from spendlab.plan.store import workspace_key

    with Warehouse.open(workspace, read_only=True) as wh:
        members = channel_members(wh, channel_by)
    cs = save_mmm_curves(
        _engine(store_url, workspace), workspace_key(workspace), run_id, model, frequency, members
    )
    return {"id": cs.id, "name": cs.name, "period": cs.period}


@mmm_app.command("fit")
def fit(
    data: Annotated[Path | None, typer.Argument(help="CSV with one row per period.")] = None,
    date: Annotated[str, typer.Option("--date", help="Date column.")] = "date",
    target: Annotated[
        str | None,
        typer.Option("--target", help="Outcome column (CSV, default revenue) or KPI (workspace)."),
    ] = None,
    channel: Annotated[list[str] | None, typer.Option("--channel", help="Spend column.")] = None,
    control: Annotated[list[str] | None, typer.Option("--control", help="Control column.")] = None,
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="Event / holiday column (0/1 or days in the period)."),
    ] = None,
    baseline: Annotated[
        str, typer.Option("--baseline", help="additive (default; floored at 0) or multiplicative.")
    ] = "additive",
    chains: Annotated[int, typer.Option(min=1, help="NUTS chains (spread over the cores).")] = 4,
    draws: Annotated[int, typer.Option(min=10, help="Draws per chain kept.")] = 1000,
    warmup: Annotated[int, typer.Option(min=10, help="Warm-up (tuning) draws per chain.")] = 1000,
    fast: Annotated[bool, typer.Option("--fast", help="Laplace approximation (preview).")] = False,
    holdout: Annotated[int, typer.Option(help="Final periods kept out to score fit.")] = 0,
    yearly_order: Annotated[
        int, typer.Option(min=0, max=10, help="Yearly Fourier order (0 under a year of data).")
    ] = 3,
    seed: int = 0,
    geo: Annotated[
        str | None,
        typer.Option("--geo", help="Geo column: long data (date, geo), hierarchical geo model."),
    ] = None,
    population: Annotated[
        str | None,
        typer.Option("--population", help="Geo: per-capita scaling by this column (per geo)."),
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Run folder to save.")] = None,
    workspace: WorkspaceOpt = None,
    table: Annotated[str | None, typer.Option("--table", help="Workspace table.")] = None,
    channel_by: Annotated[
        str, typer.Option("--channel-by", help="Workspace: ad_performance column = channel.")
    ] = "platform",
    frequency: Annotated[
        str, typer.Option("--frequency", help="Workspace: auto, daily or weekly.")
    ] = "auto",
    store_url: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit the Bayesian MMM; print per channel iROAS / mROAS with 90% intervals.

    With --workspace and no --table the data come from the workspace's ad_performance,
    outcomes and controls; a workspace fit is saved in WORKSPACE/mmm/runs/ and indexed in the
    store (see `spendlab mmm runs`)."""

    def body() -> dict[str, Any]:
        from spendlab.measure.mmm import MMM, MMMConfig
        from spendlab.measure.mmm import store as runs

        ws_opts = {"kpi": target, "channel_by": channel_by, "frequency": frequency,
                   "channels": channel or None, "controls": control}  # fmt: skip
        if geo is not None and workspace is not None:
            raise ConfigError("--geo works on a CSV file (DATA.csv); drop --workspace")
        df, inp, source = _load_data(data, workspace, table, ws_opts)
        opts = {"chains": chains, "draws": draws, "warmup": warmup, "fast": fast,
                "holdout": holdout, "seed": seed, "yearly_order": yearly_order,
                "baseline": baseline, "progress_bar": True}  # fmt: skip
        if inp is not None:
            cfg = inp.config(**opts)
        else:
            cfg = MMMConfig(date=date, target=target or "revenue", channels=tuple(channel or ()),
                            controls=tuple(control or ()), events=tuple(event or ()), geo=geo,
                            population=population, **opts)  # fmt: skip
        with status("Fitting the MMM", quiet=as_json):
            model = MMM(cfg).fit(df)
        payload = model.to_json()
        if inp is not None:
            payload["input"] = inp.describe()
        if workspace is not None:
            run = runs.record_run(_engine(store_url, workspace), workspace, model,
                                  run_dir=out_dir, summary=payload, source=source)  # fmt: skip
            payload["run_id"] = run["id"]
            payload["run"] = str(runs.run_path(run))
            if inp is not None:  # canonical tables: publish the curves for planning
                payload["curve_set"] = _publish_curves(
                    store_url, workspace, run["id"], model, inp.frequency, channel_by
                )
        elif out_dir is not None:
            payload["run"] = str(model.save(out_dir).resolve())
        return runs.jsonable(payload)

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
    if "geos" in payload:
        out.print(f"  {len(payload['geos'])} geos, partially pooled; per-geo iROAS: --json (geos)")
    for h in payload["health"]:
        out.print(f"  {h['status']:6s} {h['check']}: {h['advice']}")
    for note in payload.get("input", {}).get("notes", []):
        out.print(f"  note: {note}")
    if "run" in payload:
        rid = f" (run {payload['run_id']})" if "run_id" in payload else ""
        out.print(f"Saved run to {payload['run']}{rid}")


@mmm_app.command("runs")
def list_runs(
    workspace: WorkspaceOpt = None, store_url: StoreOpt = None, as_json: JsonOpt = False
) -> None:
    """List a workspace's model runs, newest first."""

    def body() -> list[dict[str, Any]]:
        from spendlab.cli.data import workspace_path
        from spendlab.measure.mmm import store as runs

        ws = workspace_path(workspace)
        return runs.list_runs(_engine(store_url, ws), ws)

    rows = run(body, as_json=as_json)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        out.print(f"{r['id']}  {r['created_at'][:19]}  {r['status']:9s}  {r['method']:4s}  "
                  f"{r['target']} ~ {', '.join(r['channels'])}")  # fmt: skip


@mmm_app.command("report")
def report(
    run_ref: Annotated[str, typer.Argument(help="Run folder (`mmm fit --out`) or run id.")],
    out_file: Annotated[Path, typer.Option("--out", help="FILE.png or FILE.pdf")],
    workspace: WorkspaceOpt = None,
    store_url: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the one-page report of a saved run (no refitting)."""

    def body() -> dict[str, Any]:
        from spendlab.measure.mmm import MMM
        from spendlab.measure.mmm import store as runs
        from spendlab.report.mmm import write_report

        folder = Path(run_ref)
        if not folder.is_dir() and workspace is not None:
            rec = runs.get_run(_engine(store_url, workspace), run_ref, workspace)
            model = runs.load_model(rec)
        else:
            model = MMM.load(folder)
        return {"report": str(write_report(model, out_file).resolve())}

    payload = run(body, as_json=as_json)
    if as_json:
        emit_json(payload)
    else:
        out.print(f"Wrote {payload['report']}")


def register(app: typer.Typer) -> None:
    app.add_typer(mmm_app, name="mmm")
