"""Rules commands: ``spendlab rules validate | run | backtest | approve | undo | log``."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from spendlab.automate import store
from spendlab.automate.guardrails import Guardrails
from spendlab.automate.pipeline import approve, backtest, reject, run_rules, undo
from spendlab.automate.rules.spec import load_rules
from spendlab.cli.data import JsonOpt, WorkspaceOpt, workspace_path
from spendlab.cli.output import emit_json, out, run
from spendlab.cli.rules_export import register_export
from spendlab.config import get_settings
from spendlab.core.actions import ActionStatus
from spendlab.data.warehouse import Warehouse
from spendlab.errors import ConfigError

rules_app = typer.Typer(
    help="Rules engine: validate, preview, run, approve, undo and backtest rules.",
    no_args_is_help=True,
)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="SQLAlchemy URL of the action log (default: $SPENDLAB_STORE_URL, else "
        "sqlite:///WORKSPACE/app.db).",
    ),
]
AsOfOpt = Annotated[
    datetime | None,
    typer.Option("--as-of", formats=["%Y-%m-%d"], help="Run date (default: today)."),
]


def _store(url: str | None, ws: Path) -> store.RuleStore:
    """The workspace's rows of the app store (migrated by Alembic, the same one the server
    uses): --store, else $SPENDLAB_STORE_URL, else ``app.db`` inside the workspace (as the demo
    does)."""
    from spendlab.app.store import open_store

    engine = open_store(url or get_settings().workspace_store_url(ws)).engine
    return store.RuleStore.of(engine, ws)


def _as_of(value: datetime | None, wh: Warehouse) -> date:
    if value is not None:
        return value.date()
    return datetime.now(ZoneInfo(wh.config.timezone)).date()


def _print_actions(rows: list[dict]) -> None:
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


def validate(
    file: Annotated[Path, typer.Argument(help="Rule file (YAML/JSON) or folder of them.")],
    as_json: JsonOpt = False,
) -> None:
    """Check a rule file: prints the rules it holds, or what is wrong and how to fix it."""

    def body() -> None:
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
                }  # fmt: skip
                for r in rules
            ],
        }
        if as_json:
            emit_json(info)
        else:
            out.print(f"{len(rules)} valid rule(s) in {file}: {', '.join(r.id for r in rules)}")

    run(body, as_json=as_json)


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
    store_url: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate rules on a date and preview, suggest or execute the actions."""

    def body() -> None:
        if (file is None) == (not all_rules):
            raise ConfigError("give a rule FILE or --all (every saved rule), not both")
        ws = workspace_path(workspace)
        with Warehouse.open(ws) as wh:
            rs = _store(store_url, ws)
            rules = load_rules(file) if file else store.active_rules(rs)
            if not dry_run:
                rules = [store.save_rule(rs, r) for r in rules]
            mode = "preview" if dry_run else ("suggest" if suggest else "auto")
            g = Guardrails(kill_switch=kill_switch, max_actions_per_run=max_actions)
            res = run_rules(
                wh, rules, _as_of(as_of, wh), mode=mode, rs=rs, guardrails=g,
                respect_schedule=not ignore_schedule,
            )  # fmt: skip
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
        ws = workspace_path(workspace)
        with Warehouse.open(ws) as wh:
            frame = backtest(
                wh, load_rules(file), end=_as_of(end, wh), days=days, horizon=horizon, kpi=kpi
            )
        rows = frame.assign(as_of=frame.as_of.astype(str)).to_dict("records")
        if as_json:
            emit_json(rows)
        else:
            out.print(frame.groupby("rule_id").agg(actions=("entity_id", "count"),
                      kpi_change=("kpi_change", "mean")).to_string())  # fmt: skip

    run(body, as_json=as_json)


def approve_cmd(
    ids: Annotated[list[int], typer.Argument(help="Action ids to approve (see `rules log`).")],
    workspace: WorkspaceOpt = None,
    approver: Annotated[str, typer.Option(help="Who approves.")] = "cli",
    reject_: Annotated[bool, typer.Option("--reject", help="Reject instead.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Approve even when the entity changed since.")
    ] = False,
    store_url: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Execute (or reject) proposed actions. An action whose entity no longer holds its old
    value is refused (with why) unless --force."""

    def body() -> None:
        ws = workspace_path(workspace)
        refused = []
        with Warehouse.open(ws) as wh:
            rs = _store(store_url, ws)
            if reject_:
                done = reject(rs, ids, approver=approver)
            else:
                done = approve(wh, rs, ids, approver=approver, force=force)
                refused = [r.to_dict() for r in done.refused]
        if as_json:
            emit_json({"rejected" if reject_ else "executed": list(done), "refused": refused})
        else:
            out.print(f"{'rejected' if reject_ else 'executed'} {len(done)} action(s)")
            for r in refused:
                out.print(f"[yellow]refused[/]: {r['message']}")

    run(body, as_json=as_json)


def undo_cmd(
    action: Annotated[list[int] | None, typer.Option("--action", help="Action id.")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Undo a whole run.")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Undo all a rule did.")] = None,
    workspace: WorkspaceOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Undo even when the entity changed since.")
    ] = False,
    store_url: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Restore the old values of executed actions. An entity that no longer holds the action's
    new value is left alone (with why) unless --force."""

    def body() -> None:
        ws = workspace_path(workspace)
        with Warehouse.open(ws) as wh:
            done = undo(
                wh, _store(store_url, ws), ids=action or None, run_id=run_id, rule_id=rule,
                force=force,
            )  # fmt: skip
        refused = [r.to_dict() for r in done.refused]
        if as_json:
            emit_json({"undone": list(done), "refused": refused})
        else:
            out.print(f"undid {len(done)} action(s)")
            for r in refused:
                out.print(f"[yellow]refused[/]: {r['message']}")

    run(body, as_json=as_json)


def log_cmd(
    workspace: WorkspaceOpt = None,
    run_id: Annotated[str | None, typer.Option("--run")] = None,
    rule: Annotated[str | None, typer.Option("--rule")] = None,
    status: Annotated[list[str] | None, typer.Option("--status")] = None,
    store_url: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The action log (newest last)."""

    def body() -> None:
        ws = workspace_path(workspace)
        for s in status or []:
            ActionStatus(s)
        rows = []
        for i, a, r in store.select_actions(
            _store(store_url, ws), run_id=run_id, rule_id=rule, status=status
        ):
            d = a.to_dict()
            d.update(action_id=i, approver=r["approver"])
            rows.append(d)
        if as_json:
            emit_json(rows)
        else:
            _print_actions(rows)

    run(body, as_json=as_json)


def register(app: typer.Typer) -> None:
    rules_app.command("validate")(validate)
    rules_app.command("run")(run_cmd)
    rules_app.command("backtest")(backtest_cmd)
    rules_app.command("approve")(approve_cmd)
    rules_app.command("undo")(undo_cmd)
    rules_app.command("log")(log_cmd)
    register_export(rules_app)
    app.add_typer(rules_app, name="rules")
