"""The rules domain's use cases, once, for every interface: the CLI (``spendlab rules ...``),
the REST routes, the Automate page and the server's scheduler call these and only parse input
and format output.

Every use case takes a :class:`~spendlab.workspace.Workspace`. Rule versions, settings, runs
and the action log are read through :meth:`RuleStore.of(ws) <spendlab.automate.store.RuleStore.
of>` (the workspace's store, its rows only, keyed by its stable id, so moving the folder keeps
them); the warehouse is opened with ``ws.warehouse()`` for as long as one step needs it and
closed after, so a server and a CLI command on the same workspace take turns. A backtest opens
it once per replayed day.

Specs from the outside (JSON or YAML, with located issues) are parsed by
:mod:`spendlab.automate.specs`; what a rule does is :mod:`spendlab.automate.pipeline`'s.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

import pandas as pd

from spendlab.automate import monitor, pipeline, store
from spendlab.automate.guardrails import Guardrails
from spendlab.automate.rules.spec import Rule
from spendlab.automate.store import RuleStore
from spendlab.core.actions import Action, ActionStatus
from spendlab.core.jsonsafe import jsonable
from spendlab.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from spendlab.data.warehouse import Warehouse
    from spendlab.workspace import Workspace

#: ``progress(fraction done, message)``: how a long use case reports where it is.
Progress = Callable[[float, str], None]

#: Names of the REST API's fixed paths under .../rules/ (a rule may not be called so).
RESERVED_IDS = frozenset(
    "templates validate preview run backtest schedule queue actions undo runs export "
    "effectiveness activity".split()
)

#: The columns of a backtest (:func:`spendlab.automate.pipeline.backtest`).
BACKTEST_COLUMNS = (
    "as_of rule_id level entity_id action old_value new_value reason kpi_before kpi_after "
    "kpi_change".split()
)


def rules_of(ws: Workspace) -> RuleStore:
    """The workspace's rows of its store (rule versions, settings, runs, the action log)."""
    return RuleStore.of(ws)


def _missing(rule_id: str) -> NotFoundError:
    return NotFoundError(f"no rule {rule_id!r} in this workspace; list them with GET .../rules")


def _mode(settings: dict[str, Any] | None) -> str:
    return (settings or {}).get("mode") or "suggest"


# -- the library -------------------------------------------------------------------------------
def summary(rule: Rule, settings: dict[str, Any] | None) -> dict[str, Any]:
    """A saved rule as the interfaces list it: its spec, version and run mode."""
    return {
        "id": rule.id,
        "version": rule.version,
        "name": rule.name,
        "enabled": rule.enabled,
        "mode": _mode(settings),
        "level": rule.scope.level.value,
        "action": rule.action.type,
        "schedule": rule.schedule.model_dump(mode="json"),
        "priority": rule.priority,
        "spec": rule.model_dump(mode="json"),
    }


def list_rules(ws: Workspace) -> list[dict[str, Any]]:
    """The latest version of every saved (not deleted) rule, with its run mode."""
    rs = rules_of(ws)
    settings = store.rule_settings_of(rs)
    return [summary(r, settings.get(r.id)) for r in store.active_rules(rs)]


def get_rule(ws: Workspace, rule_id: str) -> Rule:
    """The latest version of a saved rule (``NotFoundError`` when none or deleted)."""
    for r in store.active_rules(rules_of(ws)):
        if r.id == rule_id:
            return r
    raise _missing(rule_id)


def describe(ws: Workspace, rule_id: str) -> dict[str, Any]:
    """One saved rule's :func:`summary`."""
    rule = get_rule(ws, rule_id)
    return summary(rule, store.rule_settings_of(rules_of(ws)).get(rule_id))


def mode_of(ws: Workspace, rule_id: str) -> str:
    """The mode a rule's scheduled runs use: ``suggest`` unless an admin set ``auto``."""
    return _mode(store.rule_settings_of(rules_of(ws)).get(rule_id))


def versions(ws: Workspace, rule_id: str) -> list[dict[str, Any]]:
    """Every stored version of a rule, oldest first (also of a deleted rule)."""
    rows = store.rule_versions_of(rules_of(ws), rule_id)
    if not rows:
        raise _missing(rule_id)
    return [
        {
            "version": r["version"],
            "created_at": r["created_at"].isoformat(),
            "author": r["author"],
            "spec": Rule.model_validate_json(r["spec"]).model_dump(mode="json"),
        }
        for r in rows
    ]


def save(ws: Workspace, rule: Rule, *, author: str | None, mode: str | None = None) -> dict:
    """Store a rule (a changed spec becomes its next version), undelete it, set its mode."""
    if rule.id in RESERVED_IDS:
        raise ConfigError(
            f"rule id {rule.id!r} is a name the API uses (.../rules/{rule.id}); pick another id"
        )
    rs = rules_of(ws)
    stored = store.save_rule(rs, rule, author=author)
    store.set_rule_settings(rs, rule.id, by=author, mode=mode, deleted=False)
    return summary(stored, store.rule_settings_of(rs).get(rule.id))


def update(
    ws: Workspace,
    rule_id: str,
    *,
    author: str,
    enabled: bool | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    """Enable or disable a rule (a new version) and/or change its run mode."""
    rs = rules_of(ws)
    rule = get_rule(ws, rule_id)
    if enabled is not None and enabled != rule.enabled:
        rule = store.save_rule(rs, rule.model_copy(update={"enabled": enabled}), author)
    if mode is not None:
        store.set_rule_settings(rs, rule_id, by=author, mode=mode)
    return summary(rule, store.rule_settings_of(rs).get(rule_id))


def delete(ws: Workspace, rule_id: str, *, by: str) -> None:
    """Soft delete: the rule stops running; its versions and actions stay in the log."""
    get_rule(ws, rule_id)
    store.set_rule_settings(rules_of(ws), rule_id, by=by, deleted=True)


def pick_rules(ws: Workspace, rule_ids: list[str] | None = None) -> list[Rule]:
    """The saved rules named (all of them when none are named), in the order asked."""
    rules = store.active_rules(rules_of(ws))
    if not rule_ids:
        return rules
    by_id = {r.id: r for r in rules}
    missing = [i for i in rule_ids if i not in by_id]
    if missing:
        raise NotFoundError(f"no saved rule(s) {', '.join(map(repr, missing))} in this workspace")
    return [by_id[i] for i in rule_ids]


def scheduled(ws: Workspace) -> list[tuple[Rule, str]]:
    """The enabled saved rules and the mode of their scheduled runs."""
    rs = rules_of(ws)
    modes = store.rule_settings_of(rs)
    return [(r, _mode(modes.get(r.id))) for r in store.active_rules(rs) if r.enabled]


# -- run dates ---------------------------------------------------------------------------------
def today(ws: Workspace) -> date:
    """Today in the workspace's time zone."""
    return datetime.now(ZoneInfo(ws.config.timezone)).date()


def _default_as_of(wh: Warehouse) -> date:
    today_ = datetime.now(ZoneInfo(wh.config.timezone)).date()
    last = wh.table("ad_performance").date.max().to_pyarrow().as_py()
    if last is None:
        return today_
    last = last.date() if isinstance(last, datetime) else last
    return min(today_, last + timedelta(days=1))


def default_as_of(ws: Workspace) -> date:
    """Today in the workspace's time zone, or the day after the last day with data when the
    data ends earlier (so windows ending yesterday hold data)."""
    with ws.warehouse() as wh:
        return _default_as_of(wh)


# -- running -----------------------------------------------------------------------------------
def action_dict(i: int | None, a: Action, row: dict[str, Any] | None = None) -> dict[str, Any]:
    """An action as the REST API and the page show it: the log's id, approver and times."""
    d = a.to_dict()
    d["action_id"] = i
    if row is not None:
        d["approver"] = row.get("approver")
        for k in ("created_at", "executed_at", "undone_at"):
            v = row.get(k)
            d[k] = v.isoformat() if v is not None else None
    return jsonable(d)


def preview(
    ws: Workspace,
    rules: list[Rule],
    as_of: date | None = None,
    *,
    respect_schedule: bool = False,
) -> dict[str, Any]:
    """A dry run (nothing written): actions with matched values and reasons, on ``as_of``
    (default: :func:`default_as_of`)."""
    with ws.warehouse() as wh:
        day = as_of or _default_as_of(wh)
        res = pipeline.run_rules(wh, rules, day, mode="preview", respect_schedule=respect_schedule)
    return {
        "as_of": day.isoformat(),
        "entities": len({a.entity.key() for a in res.actions}),
        "actions": [action_dict(None, a) for a in res.actions],
    }


def run_rules(
    ws: Workspace,
    rules: list[Rule],
    as_of: date | None = None,
    *,
    mode: pipeline.Mode,
    approver: str | None = None,
    respect_schedule: bool = True,
    guardrails: Guardrails | None = None,
) -> pipeline.RunResult:
    """Run rules on ``as_of`` (default: :func:`default_as_of`) in the workspace's log: preview
    (guardrails read the log; nothing written), suggest (logged as proposed) or auto (logged and
    executed; ``approver``, else ``auto``). A run that writes first stores each rule (a rule
    from a file whose spec changed becomes its next version), so the log names the version
    that ran."""
    rs = rules_of(ws)
    if mode != "preview":
        rules = [store.save_rule(rs, r) for r in rules]
    with ws.warehouse() as wh:
        day = as_of or _default_as_of(wh)
        return pipeline.run_rules(
            wh,
            rules,
            day,
            mode=mode,
            rs=rs,
            guardrails=guardrails,
            approver=approver,
            respect_schedule=respect_schedule,
        )


def run_report(res: pipeline.RunResult) -> dict[str, Any]:
    """A run as the REST API returns it."""
    return {
        "run_id": res.run_id,
        "as_of": res.as_of.isoformat(),
        "mode": res.mode,
        "skipped_rules": res.skipped_rules,
        "actions": jsonable(res.to_dicts()),
    }


def run(
    ws: Workspace,
    rules: list[Rule],
    as_of: date | None = None,
    *,
    mode: pipeline.Mode,
    approver: str,
    respect_schedule: bool = True,
) -> dict[str, Any]:
    """Run saved rules as a person or the scheduler does: the log's approver is who approved
    (``approver`` for auto runs, nobody yet for suggestions). The :func:`run_report`."""
    by = approver if mode == "auto" else None
    res = run_rules(ws, rules, as_of, mode=mode, approver=by, respect_schedule=respect_schedule)
    return run_report(res)


def run_due(
    ws: Workspace, rule_id: str, day: date | None = None, *, approver: str = "scheduler"
) -> dict[str, Any] | None:
    """Run one saved rule for ``day`` (default: today in its schedule's time zone) in its mode,
    if it is enabled and due that day (else None). Idempotent: a second call for the same rule
    version and day adds nothing."""
    rule = get_rule(ws, rule_id)
    day = day or datetime.now(ZoneInfo(rule.schedule.timezone)).date()
    if not rule.enabled or not rule.schedule.is_due(day):
        return None
    mode = cast(pipeline.Mode, mode_of(ws, rule_id))
    return run(ws, [rule], day, mode=mode, approver=approver)


# -- the approval queue ------------------------------------------------------------------------
def _outcome(key: str, applied: pipeline.Applied) -> dict[str, Any]:
    return {key: list(applied), "refused": [r.to_dict() for r in applied.refused]}


def approve(ws: Workspace, ids: list[int], *, approver: str, force: bool = False) -> dict:
    """Execute proposed actions: ``{"executed": ids, "refused": [{action_id, message}]}`` (an
    action whose entity changed since it was proposed is refused unless ``force``)."""
    rs = rules_of(ws)
    with ws.warehouse() as wh:
        done = pipeline.approve(wh, rs, ids, approver=approver, force=force)
    return _outcome("executed", done)


def reject(ws: Workspace, ids: list[int], *, approver: str) -> dict[str, Any]:
    """Reject proposed actions: ``{"rejected": ids, "refused": []}``."""
    return {"rejected": pipeline.reject(rules_of(ws), ids, approver=approver), "refused": []}


def undo(
    ws: Workspace,
    *,
    ids: list[int] | None = None,
    run_id: str | None = None,
    rule_id: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Restore the old values of executed actions (by id, a run or a rule):
    ``{"undone": ids, "refused": [{action_id, message}]}``."""
    rs = rules_of(ws)
    with ws.warehouse() as wh:
        done = pipeline.undo(wh, rs, ids=ids, run_id=run_id, rule_id=rule_id, force=force)
    return _outcome("undone", done)


# -- the log -----------------------------------------------------------------------------------
def runs(ws: Workspace) -> list[dict[str, Any]]:
    """Rule runs, newest first: run id, date, mode, rule ids, start time, number of actions."""
    return [
        {
            "run_id": r["run_id"],
            "as_of": r["as_of"].isoformat(),
            "mode": r["mode"],
            "rules": [x[0] for x in json.loads(r["rules"])],
            "started_at": r["started_at"].isoformat(),
            "n_actions": r["n_actions"],
        }
        for r in store.list_runs(rules_of(ws))
    ]


def log(ws: Workspace, *, offset: int, limit: int, **filters: Any) -> tuple[list[dict], int]:
    """One page of the action log (newest first, :func:`action_dict`) and the total."""
    rows, total = store.query_actions(rules_of(ws), offset=offset, limit=limit, **filters)
    return [action_dict(i, a, r) for i, a, r in rows], total


def actions(
    ws: Workspace,
    *,
    run_id: str | None = None,
    rule_id: str | None = None,
    status: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The whole action log, oldest first: each action with its ``action_id`` and
    ``approver``."""
    known = [s.value for s in ActionStatus]
    for s in status or []:
        if s not in known:
            raise ConfigError(f"status {s!r} is not one of {', '.join(known)}")
    rows = store.select_actions(rules_of(ws), run_id=run_id, rule_id=rule_id, status=status)
    return [{**a.to_dict(), "action_id": i, "approver": r["approver"]} for i, a, r in rows]


def executed_actions(ws: Workspace) -> list[Action]:
    """Actions that were executed (and those undone since)."""
    done = [ActionStatus.EXECUTED.value, ActionStatus.UNDONE.value]
    return [a for _, a, _ in store.select_actions(rules_of(ws), status=done)]


# -- backtest ----------------------------------------------------------------------------------
def backtest_frame(
    ws: Workspace,
    rules: list[Rule],
    *,
    end: date,
    days: int,
    horizon: int = 7,
    kpi: str = "roas",
    progress: Progress | None = None,
) -> pd.DataFrame:
    """What the rules would have proposed on each of the ``days`` days up to ``end``, and the
    KPI before and after (:func:`spendlab.automate.pipeline.backtest`). The warehouse is opened
    once per day, so other processes and requests interleave."""
    frames = []
    for k in range(days):
        day = end - timedelta(days=days - 1 - k)
        with ws.warehouse() as wh:
            frames.append(pipeline.backtest(wh, rules, end=day, days=1, horizon=horizon, kpi=kpi))
        if progress is not None:
            progress((k + 1) / days, f"{day} ({k + 1}/{days} days)")
    found = [f for f in frames if len(f)]
    if not found:
        return frames[0] if frames else pd.DataFrame(columns=BACKTEST_COLUMNS)
    return pd.concat(found, ignore_index=True)


def backtest_by_rule(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per rule: the number of actions and the mean relative KPI change."""
    if not len(frame):
        return []
    per_rule = frame.groupby("rule_id").agg(
        actions=("entity_id", "count"), kpi_change=("kpi_change", "mean")
    )
    return jsonable(per_rule.reset_index().astype(object).to_dict("records"))


def backtest(
    ws: Workspace,
    rules: list[Rule],
    *,
    end: date,
    days: int,
    horizon: int = 7,
    kpi: str = "roas",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """:func:`backtest_frame` as the REST API's job returns it: per rule and per action."""
    frame = backtest_frame(
        ws, rules, end=end, days=days, horizon=horizon, kpi=kpi, progress=progress
    )
    rows = frame.assign(as_of=frame.as_of.astype(str)).astype(object).to_dict("records")
    return {
        "kpi": kpi,
        "horizon": horizon,
        "end": end.isoformat(),
        "days": days,
        "rules": backtest_by_rule(frame),
        "actions": jsonable(rows),
    }


# -- bulk files --------------------------------------------------------------------------------
def _directory_and_currency(wh: Warehouse) -> tuple[Any, str]:
    from spendlab.automate.connectors import directory_from_entities

    rows = wh.table("entities").to_pyarrow().to_pylist()
    return directory_from_entities(rows), wh.currency


def export_files(
    acts: list[Action],
    out_dir: Path,
    fmt: str,
    *,
    ws: Workspace | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """Write bulk upload files (absolute new values) and undo files (old values) of ``acts``
    to ``out_dir``. With a workspace, its entities name the accounts and campaigns and its
    currency is the default."""
    from spendlab.automate.connectors import export_bulk
    from spendlab.automate.connectors.bulk import get_format

    get_format(fmt)  # fail early on a typo
    directory, cur = None, currency
    if ws is not None:
        with ws.warehouse(read_only=True) as wh:
            directory, wh_currency = _directory_and_currency(wh)
        cur = cur or wh_currency
    try:
        result = export_bulk(acts, out_dir, fmt, directory=directory, currency=cur or "USD")
    except OSError as e:
        raise ConfigError(f"cannot write to {out_dir}: {e.strerror}; pick another --out") from e
    return {"out": str(out_dir.resolve()), "format": fmt, **result.to_dict()}


def export_zip(
    ws: Workspace,
    fmt: str,
    *,
    status: list[str],
    run_id: str | None = None,
    rule_id: str | None = None,
    ids: list[int] | None = None,
) -> tuple[bytes, int]:
    """The bulk upload files (changes, undo, manifest) of the logged actions selected, zipped,
    and how many actions they hold."""
    from spendlab.automate.connectors import ResultStatus, export_bulk
    from spendlab.automate.connectors.bulk import get_format

    get_format(fmt)
    rs = rules_of(ws)
    rows = store.select_actions(rs, ids=ids, run_id=run_id, rule_id=rule_id, status=status)
    with ws.warehouse() as wh:
        directory, currency = _directory_and_currency(wh)
    with tempfile.TemporaryDirectory(prefix="spendlab-export-") as tmp:
        acts = [a for _, a, _ in rows]
        result = export_bulk(acts, Path(tmp), fmt, directory=directory, currency=currency)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(Path(tmp).iterdir()):
                z.write(f, f.name)
    return buf.getvalue(), sum(r.status is ResultStatus.EXPORTED for r in result.results)


# -- monitoring --------------------------------------------------------------------------------
def rule_effectiveness(
    ws: Workspace, *, kpi: str, horizon: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per action, per rule): the KPI before and after each executed action, and per rule
    (:func:`spendlab.automate.monitor.rule_effectiveness`)."""
    with ws.warehouse() as wh:
        effects = monitor.action_effects(wh, rules_of(ws), horizon=horizon, kpi=kpi)
    return effects, monitor.rule_effectiveness(effects)


def effectiveness(ws: Workspace, *, kpi: str, horizon: int) -> dict[str, Any]:
    """KPI before and after each executed action, and per rule (JOT's effectiveness)."""
    effects, per_rule = rule_effectiveness(ws, kpi=kpi, horizon=horizon)
    eff = effects.assign(as_of=effects["as_of"].astype(str))
    return {
        "kpi": kpi,
        "horizon": horizon,
        "rules": jsonable(per_rule.astype(object).to_dict(orient="records")),
        "actions": jsonable(eff.astype(object).to_dict(orient="records")),
    }


def activity(ws: Workspace) -> dict[str, Any]:
    """Executed actions per day and per weekday (0 = Monday), by action kind."""
    acts = executed_actions(ws)
    day = monitor.actions_per_day(acts)
    wd = monitor.actions_per_weekday(acts)
    day = day.assign(day=day["day"].astype(str))
    return {
        "per_day": [{**r, "n": int(r["n"])} for r in day.to_dict(orient="records")],
        "per_weekday": [
            {"weekday": int(r["weekday"]), "action": r["action"], "n": int(r["n"])}
            for r in wd.to_dict(orient="records")
        ],
    }
