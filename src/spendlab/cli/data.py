"""Workspace and data commands: init, ingest, tables, loads, sources."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from spendlab.cli.output import emit_json, out, run, status
from spendlab.errors import ConfigError

if TYPE_CHECKING:
    from spendlab.data.ingest import LoadReport
    from spendlab.workspace import Workspace

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: $SPENDLAB_WORKSPACE)."),
]


def workspace_path(path: Path | None) -> Path:
    """``--workspace``, else ``SPENDLAB_WORKSPACE`` (:func:`spendlab.workspace.workspace_path`)."""
    from spendlab.workspace import workspace_path as resolve

    return resolve(path)


def open_workspace(path: Path | None) -> Workspace:
    """The workspace a command works on (``--workspace``, else ``SPENDLAB_WORKSPACE``)."""
    from spendlab.workspace import Workspace

    return Workspace.open(path)


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """``["decimal=,", "table=outcomes"]`` -> dict; the error names the malformed pair."""
    opts: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {pair!r} is not KEY=VALUE; e.g. --option decimal=,")
        opts[key.strip()] = value
    return opts


def init(
    path: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
    currency: Annotated[str, typer.Option(help="Reporting currency (ISO 4217).")] = "USD",
    name: Annotated[str | None, typer.Option(help="Display name (default: folder name).")] = None,
    warehouse: Annotated[
        str | None, typer.Option(help="Ibis URL of another warehouse backend.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a workspace: a folder with spendlab.toml and an empty DuckDB warehouse."""

    def body() -> None:
        from spendlab.workspace import Workspace

        ws = Workspace.init(path, currency=currency, name=name, warehouse=warehouse)
        with ws.warehouse(read_only=True) as wh:
            info = {
                "workspace": str(ws.path),
                "id": ws.id,
                "currency": ws.currency,
                "schema_version": wh.schema_version(),
            }
        if as_json:
            emit_json(info)
        else:
            out.print(f"Created workspace [bold]{path}[/] (reporting currency {currency}).")
            out.print(f"Next: spendlab ingest FILE --source NAME --workspace {path}")

    run(body, as_json=as_json)


def ingest(
    file: Annotated[Path, typer.Argument(help="File to load.")],
    source: Annotated[str, typer.Option("--source", "-s", help="Reader: see `spendlab sources`.")],
    workspace: WorkspaceOpt = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Reader option KEY=VALUE (repeatable)."),
    ] = None,
    on_error: Annotated[
        str, typer.Option(help="abort: reject the file on any bad row; skip: load good rows.")
    ] = "abort",
    dry_run: Annotated[bool, typer.Option(help="Validate and count, write nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Load a file into the workspace: validated, idempotent, all-or-nothing.

    Prints rows added / replaced / unchanged / rejected. Exit code 3 when the data is rejected.
    """

    def body() -> LoadReport:
        from spendlab.data.ingest import ingest_file

        opts = parse_options(option)
        with open_workspace(workspace).warehouse() as wh:
            with status(f"Loading {file.name}", quiet=as_json) as say:
                return ingest_file(
                    wh,
                    file,
                    source,
                    opts,
                    on_error=on_error,  # type: ignore[arg-type]
                    dry_run=dry_run,
                    progress=say,
                )

    report = run(body, as_json=as_json)
    if as_json:
        emit_json(report.to_dict())
        return
    verb = "Would load" if dry_run else "Loaded"
    out.print(
        f"{verb} {file.name}: [green]{report.added:,} added[/], {report.replaced:,} replaced, "
        f"{report.unchanged:,} unchanged, [red]{report.rejected:,} rejected[/] "
        f"({report.seconds:.1f} s)"
    )
    for issue in report.issues:
        out.print(
            f"  [{'yellow' if issue.severity == 'warning' else 'red'}]{issue.severity}[/]: {issue}",
            highlight=False,
        )


def tables(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List the workspace's tables with row counts and date ranges."""

    def body() -> list[dict[str, object]]:
        with open_workspace(workspace).warehouse(read_only=True) as wh:
            return [t.to_dict() for t in wh.list_tables()]

    rows = run(body, as_json=as_json)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    t = Table("table", "rows", "first date", "last date")
    for r in rows:
        t.add_row(
            str(r["name"]), f"{r['rows']:,}", str(r["first_date"] or ""), str(r["last_date"] or "")
        )
    out.print(t)


def loads(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Show the load log, newest first."""

    def body() -> list[dict[str, object]]:
        with open_workspace(workspace).warehouse(read_only=True) as wh:
            return wh.loads()

    rows = run(body, as_json=as_json)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    t = Table("loaded at", "source", "file", "added", "replaced", "unchanged", "rejected")
    for r in rows:
        t.add_row(
            str(r["loaded_at"])[:19],
            str(r["source"]),
            Path(str(r["file"])).name,
            f"{r['added']:,}",
            f"{r['replaced']:,}",
            f"{r['unchanged']:,}",
            f"{r['rejected']:,}",
        )
    out.print(t)


def sources(as_json: JsonOpt = False) -> None:
    """List the readers, the files they accept and the tables they fill."""
    from spendlab.data.sources import describe_sources

    rows = run(describe_sources, as_json=as_json)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    t = Table("source", "files", "fills", "reads")
    for r in rows:
        t.add_row(
            str(r["name"]), " ".join(r["suffixes"]), ", ".join(r["tables"]), str(r["description"])
        )
    out.print(t)


def register(app: typer.Typer) -> None:
    for fn in (init, ingest, tables, loads, sources):
        app.command()(fn)
