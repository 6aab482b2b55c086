"""Simulator and demo commands."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from spendlab.cli.data import JsonOpt
from spendlab.cli.output import emit_json, err, out, run, status
from spendlab.errors import WorkspaceError


def simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the files into.")],
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same market.")] = 0,
    days: Annotated[int, typer.Option(min=28, help="Days of history.")] = 365,
    campaigns: Annotated[int, typer.Option(min=4, help="Number of campaigns.")] = 60,
    geos: Annotated[int, typer.Option(min=1, help="Number of geos (1 = national).")] = 1,
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD).")] = "2024-01-01",
    as_json: JsonOpt = False,
) -> None:
    """Simulate a market with known ground truth; write platform-shaped files and truth.json."""

    def body() -> dict[str, Any]:
        from spendlab.simulate import SimConfig, write_market
        from spendlab.simulate import simulate as run_sim

        with status("Simulating market", quiet=as_json) as say:
            cfg = SimConfig(seed=seed, days=days, campaigns=campaigns, geos=geos, start=start)
            market = run_sim(cfg)
            say("Writing files")
            manifest = write_market(market, out_dir)
        return {"out": str(out_dir.resolve()), "manifest": manifest}

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
        return
    out.print(f"Wrote a simulated market to [bold]{out_dir}[/]:")
    for entry in _files(result["manifest"]):
        out.print(f"  {entry['file']}  (--source {entry['source']})")
    out.print("Ground truth: truth.json. Load them all at once with `spendlab demo`.")


def _files(manifest: Any) -> list[dict[str, Any]]:
    return manifest["files"] if isinstance(manifest, dict) else list(manifest)


def build_demo(
    workspace: Path, *, seed: int = 7, force: bool = False, quiet: bool = False, **sim: Any
) -> dict[str, Any]:
    """Simulate a market and ingest every file through the real readers into a new workspace."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from spendlab.config import WORKSPACE_FILE
    from spendlab.data.ingest import ingest_file
    from spendlab.data.warehouse import Warehouse
    from spendlab.simulate import SimConfig, simulate, write_market

    t0 = time.perf_counter()
    if workspace.exists() and any(workspace.iterdir()):
        if not force:
            raise WorkspaceError(
                f"{workspace} already exists; pass --force to rebuild the demo there"
            )
        if not (workspace / WORKSPACE_FILE).exists():
            raise WorkspaceError(
                f"{workspace} is not a SpendLab workspace; refusing to delete it with --force"
            )
        shutil.rmtree(workspace)
    market = simulate(SimConfig(seed=seed, **sim))
    with Warehouse.init(workspace, currency=market.config.currency, name="SpendLab demo") as wh:
        raw = workspace / "raw"
        manifest = write_market(market, raw)
        loads = []
        files = _files(manifest)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=quiet or not err.is_terminal,
        ) as bar:
            task = bar.add_task("Ingesting", total=len(files))
            for entry in files:
                bar.update(task, description=f"Ingesting {entry['file']}")
                report = ingest_file(
                    wh, raw / entry["file"], entry["source"], entry.get("options") or {}
                )
                loads.append(
                    {"file": entry["file"], "source": entry["source"], **report.to_dict()["rows"]}
                )
                bar.advance(task)
        tables = [t.to_dict() for t in wh.list_tables()]
    return {
        "workspace": str(workspace.resolve()),
        "seed": seed,
        "loads": loads,
        "tables": tables,
        "truth": str((raw / "truth.json").resolve()),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def register_truth_curves(workspace: Path, truth: Path) -> list[dict[str, Any]]:
    """Save the simulator's true curves as the workspace's curve sets: per campaign (exact) and
    per media channel (active; "simulator truth"), so the demo's Plan page works at once."""
    from spendlab.plan.curvesets import save_curve_set, truth_frames
    from spendlab.workspace import Workspace

    frames = truth_frames(json.loads(truth.read_text()))
    ws = Workspace.open(workspace)
    saved = []
    for kind, name in (("campaigns", "simulator truth (campaigns)"),
                       ("channels", "simulator truth")):  # fmt: skip
        frame, meta = frames[kind]
        cs = save_curve_set(ws.store.engine, ws.id, name, frame, "day", "simulator", meta)
        saved.append({"id": cs.id, "name": cs.name, "entities": len(cs.ids)})
    return saved


def _describe_demo(workspace: Path, result: dict[str, Any]) -> None:
    out.print(f"Demo workspace ready at [bold]{workspace}[/] in {result['seconds']:.0f} s:")
    for t in result["tables"]:
        if t["rows"]:
            out.print(
                f"  {t['name']:<16} {t['rows']:>10,} rows  "
                f"{t['first_date'] or ''} .. {t['last_date'] or ''}"
            )
    out.print("\nTry:")
    out.print(f"  spendlab tables --workspace {workspace}")
    out.print(f"  spendlab loads --workspace {workspace}")
    out.print(f"  ground truth of the simulated market: {workspace}/raw/truth.json", soft_wrap=True)


def demo(
    workspace: Annotated[
        Path, typer.Option("--workspace", "-w", help="Folder for the demo workspace.")
    ] = Path("demo-workspace"),
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    force: Annotated[bool, typer.Option(help="Rebuild if the demo workspace exists.")] = False,
    days: Annotated[int, typer.Option(min=28, help="Days of simulated history.")] = 365,
    campaigns: Annotated[int, typer.Option(min=4, help="Simulated campaigns.")] = 60,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the dashboard afterwards.")
    ] = True,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the dashboard in a browser.")
    ] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8000,
    as_json: JsonOpt = False,
) -> None:
    """Build a demo workspace from the simulator, ingesting through the real readers."""

    def body() -> dict[str, Any]:
        from spendlab.cli.app import demo_admin
        from spendlab.workspace import server_store_url

        built = build_demo(
            workspace, seed=seed, force=force, quiet=as_json, days=days, campaigns=campaigns
        )
        # the demo admin lives in the server's store, like every user; the workspace's runs,
        # curve sets, scenarios and rules in the workspace's own store (spendlab.workspace)
        store_url = server_store_url()
        user, password = demo_admin(store_url)
        curve_sets = register_truth_curves(workspace, Path(built["truth"]))
        return {
            **built,
            "store_url": store_url,
            "curve_sets": curve_sets,
            "admin": {"user": user, "password": password},
        }

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
    else:
        _describe_demo(workspace, result)
    if serve:
        from spendlab.cli.app import serve_app

        serve_app(
            [workspace],
            host=host,
            port=port,
            store_url=result["store_url"],
            browser=browser,
            ephemeral_secret=True,
            banner=[
                f"\nDemo admin: user [bold]{result['admin']['user']}[/], "
                f"password [bold]{result['admin']['password']}[/]"
            ],
        )


def register(app: typer.Typer) -> None:
    app.command()(simulate)
    app.command()(demo)


__all__ = ["build_demo", "register_truth_curves"]
