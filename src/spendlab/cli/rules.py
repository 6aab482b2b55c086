"""Rules commands: ``spendlab rules validate | save | run | backtest | approve | undo | log``
(``export`` in :mod:`spendlab.cli.rules_export`).

Each command parses its options, opens the workspace's handle and calls one use case of
:mod:`spendlab.automate.service`; the rules, runs and action log are the workspace's rows of its
store (``WORKSPACE/app.db``, or ``$SPENDLAB_STORE_URL`` for one shared database), the same rows
``spendlab serve`` shows. Heavy libraries load inside the commands.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from spendlab.cli.data import JsonOpt, WorkspaceOpt
from spendlab.cli.output import emit_json, out, run
from spendlab.cli.rules_export import register_export
from spendlab.errors import ConfigError

if TYPE_CHECKING:
    from spendlab.workspace import Workspace

rules_app = typer.Typer(
    help="Rules engine: validate, save, preview, run, approve, undo and backtest rules.",
    no_args_is_help=True,
)

AsOfOpt = Annotated[
    datetime | None,
    typer.Option("--as-of", formats=["%Y-%m-%d"], help="Run date (default: today)."),
]


def _open(workspace: Path | None) -> Workspace:
    from spendlab.workspace import Workspace

    return Workspace.open(workspace)


def _day(value: datetime | None, ws: Workspace) -> date:
    from spendlab.automate import service

    return value.date() if value is not None else service.today(ws)


def _print_actions(rows: list[dict]) -> None:
    from rich.table import Table

    t = Table("id", "rule", "level", "entity", "action", "old", "new", "status", "reason")
    for d in rows:
        t.add_row(
            str(d.get("action_id") or ""),
            str(d["rule_id"]),
            d["level"],
            d["entity_id"],
            d["action"],
            str(d["old_value"]),
            str(d["new_value"]),
            d["status"],
            d["reason"][:100],
        )
    out.print(t)


def _print_refused(refused: list[dict]) -> None:
    for r in refused:
        out.print(f"[yellow]refused[/]: {r['message']}")


def validate(
    file: Annotated[Path, typer.Argument(help="Rule file (YAML/JSON) or folder of them.")],
    as_json: JsonOpt = False,
) -> None:
    """Check a rule file: prints the rules it holds, or what is wrong and how to fix it."""

    def body() -> None:
        from spendlab.automate.rules.spec import load_rules

        rules = load_rules(file)
        info = {
            "file": str(file),
            "rules": [
                {
                    "id": r.id,
                    "version": r.version,
                    "level": r.scope.level.value,
                    "action": r.action.type,
                    "schedule": r.schedule.every,
                }
                for r in rules
            ],
        }
        if as_json:
            emit_json(info)
        else:
            out.print(f"{len(rules)} valid rule(s) in {file}: {', '.join(r.id for r in rules)}")

    run(body, as_json=as_json)


def save_cmd(
    file: Annotated[Path, typer.Argument(help="Rule file (YAML/JSON) or folder of them.")],
    workspace: WorkspaceOpt = None,
    mode: Annotated[
        str | None,
        typer.Option(help="Mode of its scheduled runs: suggest or auto (default: kept)."),
    ] = None,
    author: Annotated[str, typer.Option(help="Who saves (recorded on new versions).")] = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Save rules into the workspace's library (a changed spec becomes its next version), as
    the REST API and the Automate page do; `spendlab serve` schedules them."""

    def body() -> list[dict]:
        from spendlab.automate import service
        from spendlab.automate.rules.spec import load_rules

        rules = load_rules(file)
        ws = _open(workspace)
        return [service.save(ws, r, author=author, mode=mode) for r in rules]

    saved = run(body, as_json=as_json)
    if as_json:
        emit_json(saved)
        return
    for s in saved:
        out.print(f"saved {s['id']} version {s['version']} ({s['mode']})")


def run_cmd(
    file: Annotated[Path | None, typer.Argument(help="Rule file or folder.")] = None,
    all_rules: Annotated[bool, typer.Option("--all", help="Run every saved rule.")] = False,
    workspace: WorkspaceOpt = None,
    as_of: AsOfOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Preview: change nothing.")] = False,
    suggest: Annotated[
        bool, typer.Option("--suggest", help="Log as proposed; execute later with approve.")
    ] = False,
    ignore_schedule: Annotated[
        bool, typer.Option("--ignore-schedule", help="Run rules even when not due.")
    ] = False,
    kill_switch: Annotated[bool, typer.Option(help="Block every change.")] = False,
    max_actions: Annotated[int | None, typer.Option(help="Cap on changes per run.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate rules on a date and preview, suggest or execute the actions."""

    def body() -> None:
        from spendlab.automate import service
        from spendlab.automate.guardrails import Guardrails
        from spendlab.automate.rules.spec import load_rules

        if (file is None) == (not all_rules):
            raise ConfigError("give a rule FILE or --all (every saved rule), not both")
        ws = _open(workspace)
        rules = load_rules(file) if file else service.pick_rules(ws)
        mode = "preview" if dry_run else ("suggest" if suggest else "auto")
        res = service.run_rules(
            ws,
            rules,
            _day(as_of, ws),
            mode=mode,
            guardrails=Guardrails(kill_switch=kill_switch, max_actions_per_run=max_actions),
            respect_schedule=not ignore_schedule,
        )
        rows = res.to_dicts()
        if as_json:
            emit_json(rows)
        else:
            _print_actions(rows)
            out.print(f"run {res.run_id} ({mode}): {len(rows)} action(s)")

    run(body, as_json=as_json)


def backtest_cmd(
    file: Annotated[Path, typer.Argument(help="Rule file or folder.")],
    workspace: WorkspaceOpt = None,
    end: Annotated[
        datetime | None,
        typer.Option("--end", formats=["%Y-%m-%d"], help="Last day replayed (default: today)."),
    ] = None,
    days: Annotated[int, typer.Option(help="Days of history to replay.")] = 90,
    horizon: Annotated[int, typer.Option(help="Days before/after to compare the KPI.")] = 7,
    kpi: Annotated[str, typer.Option(help="KPI: spend, revenue, conversions, roas, cpa.")] = "roas",
    as_json: JsonOpt = False,
) -> None:
    """What the rules would have done on each past day, and the KPI before and after."""

    def body() -> None:
        from spendlab.automate import service
        from spendlab.automate.rules.spec import load_rules

        rules = load_rules(file)
        ws = _open(workspace)
        frame = service.backtest_frame(
            ws, rules, end=_day(end, ws), days=days, horizon=horizon, kpi=kpi
        )
        if as_json:
            emit_json(frame.assign(as_of=frame.as_of.astype(str)).to_dict("records"))
        else:
            per_rule = frame.groupby("rule_id").agg(
                actions=("entity_id", "count"), kpi_change=("kpi_change", "mean")
            )
            out.print(per_rule.to_string())

    run(body, as_json=as_json)


def approve_cmd(
    ids: Annotated[list[int], typer.Argument(help="Action ids to approve (see `rules log`).")],
    workspace: WorkspaceOpt = None,
    approver: Annotated[str, typer.Option(help="Who approves.")] = "cli",
    reject_: Annotated[bool, typer.Option("--reject", help="Reject instead.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Approve even when the entity changed since.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Execute (or reject) proposed actions. An action whose entity no longer holds its old
    value is refused (with why) unless --force."""

    def body() -> None:
        from spendlab.automate import service

        ws = _open(workspace)
        if reject_:
            res = service.reject(ws, ids, approver=approver)
        else:
            res = service.approve(ws, ids, approver=approver, force=force)
        key = "rejected" if reject_ else "executed"
        if as_json:
            emit_json(res)
        else:
            out.print(f"{key} {len(res[key])} action(s)")
            _print_refused(res["refused"])

    run(body, as_json=as_json)


def undo_cmd(
    action: Annotated[list[int] | None, typer.Option("--action", help="Action id.")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Undo a whole run.")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Undo all a rule did.")] = None,
    workspace: WorkspaceOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Undo even when the entity changed since.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Restore the old values of executed actions. An entity that no longer holds the action's
    new value is left alone (with why) unless --force."""

    def body() -> None:
        from spendlab.automate import service

        res = service.undo(
            _open(workspace), ids=action or None, run_id=run_id, rule_id=rule, force=force
        )
        if as_json:
            emit_json(res)
        else:
            out.print(f"undid {len(res['undone'])} action(s)")
            _print_refused(res["refused"])

    run(body, as_json=as_json)


def log_cmd(
    workspace: WorkspaceOpt = None,
    run_id: Annotated[str | None, typer.Option("--run")] = None,
    rule: Annotated[str | None, typer.Option("--rule")] = None,
    status: Annotated[list[str] | None, typer.Option("--status")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The action log (newest last)."""

    def body() -> None:
        from spendlab.automate import service

        rows = service.actions(_open(workspace), run_id=run_id, rule_id=rule, status=status)
        if as_json:
            emit_json(rows)
        else:
            _print_actions(rows)

    run(body, as_json=as_json)


def register(app: typer.Typer) -> None:
    rules_app.command("validate")(validate)
    rules_app.command("save")(save_cmd)
    rules_app.command("run")(run_cmd)
    rules_app.command("backtest")(backtest_cmd)
    rules_app.command("approve")(approve_cmd)
    rules_app.command("undo")(undo_cmd)
    rules_app.command("log")(log_cmd)
    register_export(rules_app)
    app.add_typer(rules_app, name="rules")
