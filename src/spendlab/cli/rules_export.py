"""``spendlab rules export``: turn the actions ``spendlab rules run --json`` printed into the bulk
files a user uploads (Google Ads Editor, Microsoft Advertising bulk, Meta), plus undo files.

The rules command group calls :func:`register_export` on its Typer sub-app; the files are
written by :func:`spendlab.automate.service.export_files`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from spendlab.cli.data import JsonOpt, WorkspaceOpt
from spendlab.cli.output import emit_json, out, run
from spendlab.errors import ConfigError, Issue, SourceFormatError


def load_actions(path: Path) -> list[Any]:
    """Actions from a JSON file: a list of ``Action.to_dict()`` dicts, or ``{"actions": [...]}``."""
    from spendlab.core.actions import Action

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; pass the JSON `spendlab rules run --json` printed"
        ) from None
    except json.JSONDecodeError as e:
        raise SourceFormatError(
            Issue(
                problem=f"not valid JSON ({e.msg})",
                fix="pass the JSON `spendlab rules run --json` printed",
                file=str(path),
                row=e.lineno,
            )
        ) from None
    if isinstance(data, dict):
        data = data.get("actions", [])
    if not isinstance(data, list):
        raise SourceFormatError(
            Issue(
                problem="expected a list of actions",
                fix="pass the JSON `spendlab rules run --json` printed",
                file=str(path),
            )
        )
    actions = []
    for i, d in enumerate(data):
        try:
            actions.append(Action.from_dict(d))
        except (KeyError, TypeError, ValueError, ArithmeticError) as e:
            raise SourceFormatError(
                Issue(
                    problem=f"action {i} is not an action ({type(e).__name__}: {e})",
                    fix="each item needs entity, action, old_value, new_value, as_of",
                    file=str(path),
                )
            ) from None
    return actions


def export(
    actions_file: Annotated[
        Path, typer.Argument(help="JSON printed by `spendlab rules run --json`.")
    ],
    fmt: Annotated[
        str,
        typer.Option("--format", help="google_ads_editor, microsoft_bulk or meta."),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the change and undo files.")],
    workspace: WorkspaceOpt = None,
    currency: Annotated[
        str | None,
        typer.Option(help="Currency of the amounts (default: the workspace's, else USD)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write bulk upload files with absolute new values, and undo files with the old values."""

    def body() -> dict[str, Any]:
        from spendlab.automate import service
        from spendlab.automate.connectors.bulk import get_format
        from spendlab.workspace import Workspace

        get_format(fmt)  # fail early on a typo, before reading the file
        actions = load_actions(actions_file)
        ws = Workspace.open(workspace) if workspace is not None else None
        return service.export_files(actions, out_dir, fmt, ws=ws, currency=currency)

    result = run(body, as_json=as_json)
    if as_json:
        emit_json(result)
        return
    out.print(f"Exported {result['exported']} actions to [bold]{result['out']}[/]:")
    for f in result["files"]:
        out.print(f"  {f['changes']}  ({f['rows']} rows)   undo: {f['undo']}")
    for s in result["skipped"]:
        out.print(f"  skipped {s['action']} {s['level']} {s['entity_id']}: {s['message']}")
    for w in result["warnings"]:
        out.print(f"[yellow]warning[/]: {w}")


def register_export(rules_app: typer.Typer) -> None:
    """Add ``export`` to the ``spendlab rules`` group."""
    rules_app.command("export")(export)


__all__ = ["export", "load_actions", "register_export"]
