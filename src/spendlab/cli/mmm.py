"""``spendlab mmm``: fit a marketing-mix model, save the run, write its one-page report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from spendlab.cli.data import JsonOpt, WorkspaceOpt
from spendlab.cli.output import emit_json, out, run, status
from spendlab.errors import ConfigError, DataError

mmm_app = typer.Typer(help="Marketing-mix model: fit, list runs, report.", no_args_is_help=True)


def _workspace(path: Path | None, *, required: bool = True) -> Any:
    """The workspace of ``--workspace`` (else $SPENDLAB_WORKSPACE); None when neither is given
    and ``required`` is False."""
    from spendlab.config import get_settings
    from spendlab.workspace import Workspace

    if path is None and get_settings().workspace is None and not required:
        return None
    return Workspace.open(path)


def _fit_csv(data: Path, cfg: Any, out_dir: Path | None) -> dict[str, Any]:
    """A CSV file fitted as is (no workspace, nothing indexed); saved with --out."""
    import pandas as pd

    from spendlab.core.jsonsafe import jsonable
    from spendlab.measure.mmm import make_mmm

    if not data.exists():
        raise DataError(f"{data} does not exist")
    model = make_mmm(cfg).fit(pd.read_csv(data))
    payload = model.to_json()
    if out_dir is not None:
        payload["run"] = str(model.save(out_dir).resolve())
    return jsonable(payload)


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
    activate: Annotated[
        bool,
        typer.Option(
            "--activate",
            help="Workspace: make the curves the active set even when the model fails its gate "
            "(recorded in the run and the curve set).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fit the Bayesian MMM; print per channel iROAS / mROAS with 90% intervals.

    With --workspace and no --table the data come from the workspace's ad_performance,
    outcomes and controls, and its response curves become the workspace's active curve set for
    planning when the model passes its gate (convergence, holdout error, plausible iROAS and
    curve shapes; a fast fit never does): otherwise they are stored, not activated, and the
    output says why (--activate forces it). A workspace fit is saved in WORKSPACE/mmm/runs/
    and indexed in the workspace's store (see `spendlab mmm runs`)."""

    def body() -> dict[str, Any]:
        opts = {"chains": chains, "draws": draws, "warmup": warmup, "fast": fast,
                "holdout": holdout, "seed": seed, "yearly_order": yearly_order,
                "baseline": baseline}  # fmt: skip
        if workspace is None and data is not None:
            from spendlab.measure.mmm import MMMConfig

            cfg = MMMConfig(date=date, target=target or "revenue", channels=tuple(channel or ()),
                            controls=tuple(control or ()), events=tuple(event or ()), geo=geo,
                            population=population, **opts)  # fmt: skip
            with status("Fitting the MMM", quiet=as_json):
                return _fit_csv(data, cfg, out_dir)
        ws = _workspace(workspace, required=False)
        if ws is None:
            raise ConfigError(
                "give DATA.csv or --workspace PATH (with --table NAME for a ready table)"
            )
        if geo is not None:
            raise ConfigError("--geo works on a CSV file (DATA.csv); drop --workspace")
        from spendlab.measure.mmm import service
        from spendlab.plan.mmm_fit import fit_plan

        if table:
            columns = {"target": target or "revenue", "date": date, "channels": channel or ()}
            columns |= {"controls": control or (), "events": event or ()}
            plan = service.prepare_table_fit(ws, table, **columns, **opts)
        else:
            inputs = {"kpi": target, "channel_by": channel_by, "frequency": frequency}
            inputs |= {"channels": channel or None, "controls": control}
            plan = service.prepare_fit(ws, **inputs, **opts)
        with status("Fitting the MMM", quiet=as_json):
            return fit_plan(ws, plan, run_dir=out_dir, progress_bar=True, activate=activate)

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
    if payload.get("curve_set_error"):
        out.print(f"  warning: the curves were not published for planning: "
                  f"{payload['curve_set_error']}")  # fmt: skip
    _print_gate(payload)
    if "run" in payload:
        rid = f" (run {payload['run_id']})" if "run_id" in payload else ""
        out.print(f"Saved run to {payload['run']}{rid}")


def _print_gate(payload: dict[str, Any]) -> None:
    """The gate's verdict and what happened to the curves (workspace fits)."""
    gate, cs = payload.get("gate"), payload.get("curve_set")
    if not gate or not cs:
        return
    if gate["passed"]:
        out.print(f"Gate: PASS; curve set {cs['id']} ({cs['name']}) is now active for planning")
        return
    out.print("Gate: FAIL")
    for c in gate["checks"]:
        if c["status"] == "FAIL":
            where = f"[{c['channel']}]" if c.get("channel") else ""
            value = c["value"]
            shown = f"{value:.4g}" if isinstance(value, float) else value
            out.print(f"  FAIL {c['check']}{where} = {shown} (bound {c['bound']}): {c['advice']}")
    if payload.get("activated"):
        out.print(f"Curve set {cs['id']} activated anyway (--activate; recorded)")
    else:
        out.print(f"Curve set {cs['id']} stored, NOT activated: {payload.get('advice', '')}")


@mmm_app.command("runs")
def list_runs(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List a workspace's model runs, newest first."""

    def body() -> list[dict[str, Any]]:
        from spendlab.measure.mmm import service

        return service.list_runs(_workspace(workspace))

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
    as_json: JsonOpt = False,
) -> None:
    """Write the one-page report of a saved run (no refitting)."""

    def body() -> dict[str, Any]:
        from spendlab.measure.mmm import load_mmm, service
        from spendlab.report.mmm import write_report

        folder = Path(run_ref)
        ws = None if folder.is_dir() else _workspace(workspace, required=False)
        model = service.load_model(ws, run_ref) if ws is not None else load_mmm(folder)
        return {"report": str(write_report(model, out_file).resolve())}

    payload = run(body, as_json=as_json)
    if as_json:
        emit_json(payload)
    else:
        out.print(f"Wrote {payload['report']}")


def register(app: typer.Typer) -> None:
    app.add_typer(mmm_app, name="mmm")
