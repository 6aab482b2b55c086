"""The rules domain as the server uses it: each workspace's rule store, spec parsing with
located issues, the template library, and the operations the REST routes, the Automate page and
the scheduler share (preview, run, approve, undo, log, export, effectiveness). Every operation
calls :mod:`spendlab.automate`; nothing here decides what a rule does.

Rule versions, runs and the action log of a workspace live in the store
``Settings.workspace_store_url(workspace)`` (the workspace's ``app.db`` unless
``SPENDLAB_STORE_URL`` is set), the same one ``spendlab rules ...`` uses, so the CLI and the
server see one log. Every operation takes the workspace's :class:`RuleStore` (its rows only), so
workspaces sharing one store never see each other's rules, queue or log.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
import yaml

import spendlab.automate
from spendlab.automate import monitor, pipeline, store
from spendlab.automate.rules.spec import Rule
from spendlab.automate.store import RuleStore
from spendlab.core.actions import Action, ActionStatus
from spendlab.core.jsonsafe import jsonable
from spendlab.data.warehouse import Warehouse
from spendlab.errors import ConfigError, Issue, NotFoundError, ValidationError

TEMPLATES = Path(spendlab.automate.__file__).parent / "templates"
MAX_SPEC_CHARS = 200_000


# -- specs -------------------------------------------------------------------------------------
_BRANCHES = {"All": "all", "Any_": "any"}


def _branch_ok(tag: str, obj: Any) -> bool:
    """Whether a union branch tag in a pydantic location is the one the input meant."""
    want = "All" if isinstance(obj, dict) and "all" in obj else None
    want = "Any_" if isinstance(obj, dict) and "any" in obj and want is None else want
    if tag in _BRANCHES:
        return tag == want
    return want is None  # the Condition branch


def _clean_loc(loc: tuple, data: Any) -> list[Any] | None:
    """The location without union branch tags, or None when the error is about a branch the
    input did not mean (a condition reported as a failed ``all`` group)."""
    out: list[Any] = []
    obj = data
    for part in loc:
        if isinstance(part, str) and (part in _BRANCHES or part.startswith("function-")):
            if not _branch_ok(part, obj):
                return None
            continue
        out.append(part)
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and isinstance(part, int) and 0 <= part < len(obj):
            obj = obj[part]
        else:
            obj = None
    return out


def _yaml_line(text: str | None, loc: list[Any]) -> int | None:
    """1-based line of ``loc`` in YAML ``text`` (the deepest part that exists)."""
    if not text:
        return None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if 0 <= part < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


_FIXES = {
    "missing": "add this field",
    "extra_forbidden": "remove it or check its spelling",
    "literal_error": "use one of the values listed",
    "enum": "use one of the values listed",
}


def spec_issues(e: pydantic.ValidationError, data: Any, text: str | None) -> list[dict[str, Any]]:
    """Pydantic errors of a rule spec as located issues: ``location`` (dotted path), ``line``
    (for YAML input), ``problem`` and ``fix``."""
    out, seen = [], set()
    for err in e.errors():
        loc = _clean_loc(tuple(err["loc"]), data)
        if loc is None:
            continue
        where = ".".join(str(x) for x in loc) or "rule"
        problem = str(err["msg"]).removeprefix("Value error, ")
        if (where, problem) in seen:
            continue
        seen.add((where, problem))
        fix = _FIXES.get(err["type"], "see docs/rules.md for the rule grammar")
        out.append(
            {"location": where, "line": _yaml_line(text, loc), "problem": problem, "fix": fix}
        )
    return out


def load_spec(
    spec: dict[str, Any] | None = None, text: str | None = None
) -> tuple[Any, str | None]:
    """The spec's data from a JSON object or YAML/JSON text (exactly one)."""
    if (spec is None) == (text is None):
        raise ConfigError("send the rule as 'spec' (a JSON object) or as 'yaml' (text), not both")
    if spec is not None:
        return spec, None
    if len(text or "") > MAX_SPEC_CHARS:
        raise ConfigError(f"the rule text is over {MAX_SPEC_CHARS:,} characters")
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ValidationError(
            [
                Issue(
                    problem=f"not valid YAML: {getattr(e, 'problem', None) or e}",
                    fix="fix the YAML syntax (indentation, quotes, colons)",
                    row=mark.line + 1 if mark else None,
                )
            ]
        ) from None
    return data, text


def check_spec(spec: dict[str, Any] | None = None, text: str | None = None) -> dict[str, Any]:
    """Validate a rule: ``{"valid", "rule" (normalised spec or None), "issues"}``."""
    try:
        data, text = load_spec(spec, text)
    except ValidationError as e:  # YAML syntax
        issues = [{"location": "rule", "line": i.row, "problem": i.problem, "fix": i.fix}
                  for i in e.issues]  # fmt: skip
        return {"valid": False, "rule": None, "issues": issues}
    if not isinstance(data, dict):
        issue = {"location": "rule", "line": 1 if text else None,
                 "problem": "a rule is a mapping (id, scope, conditions, action, ...)",
                 "fix": "start from a template (GET .../rules/templates)"}  # fmt: skip
        return {"valid": False, "rule": None, "issues": [issue]}
    try:
        rule = Rule.model_validate(data)
    except pydantic.ValidationError as e:
        return {"valid": False, "rule": None, "issues": spec_issues(e, data, text)}
    return {"valid": True, "rule": rule.model_dump(mode="json"), "issues": []}


def parse_spec(spec: dict[str, Any] | None = None, text: str | None = None) -> Rule:
    """A :class:`Rule`, or a ``ValidationError`` whose issues locate each problem."""
    checked = check_spec(spec, text)
    if not checked["valid"]:
        issues = [
            Issue(problem=i["problem"], fix=i["fix"], column=i["location"], row=i["line"])
            for i in checked["issues"]
        ]
        raise ValidationError(issues)
    return Rule.model_validate(checked["rule"])


def templates() -> list[dict[str, Any]]:
    """The template library: id, name, description (the file's comment), YAML text, spec."""
    out = []
    for path in sorted(TEMPLATES.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        rule = Rule.model_validate(yaml.safe_load(text))
        first = text.splitlines()[0] if text else ""
        out.append(
            {
                "id": rule.id,
                "name": rule.name,
                "description": first.lstrip("# ").strip() if first.startswith("#") else "",
                "file": path.name,
                "yaml": text,
                "spec": rule.model_dump(mode="json", exclude_defaults=True),
            }
        )
    return out


# -- saved rules -------------------------------------------------------------------------------
def summary(rule: Rule, settings: dict[str, Any] | None) -> dict[str, Any]:
    s = settings or {}
    return {
        "id": rule.id,
        "version": rule.version,
        "name": rule.name,
        "enabled": rule.enabled,
        "mode": s.get("mode") or "suggest",
        "level": rule.scope.level.value,
        "action": rule.action.type,
        "schedule": rule.schedule.model_dump(mode="json"),
        "priority": rule.priority,
        "spec": rule.model_dump(mode="json"),
    }


def list_rules(rs: RuleStore) -> list[dict[str, Any]]:
    """The latest version of every saved (not deleted) rule, with its run mode."""
    settings = store.rule_settings_of(rs)
    return [summary(r, settings.get(r.id)) for r in store.active_rules(rs)]


def get_rule(rs: RuleStore, rule_id: str) -> Rule:
    for r in store.active_rules(rs):
        if r.id == rule_id:
            return r
    raise NotFoundError(f"no rule {rule_id!r} in this workspace; list them with GET .../rules")


def versions(rs: RuleStore, rule_id: str) -> list[dict[str, Any]]:
    rows = store.rule_versions_of(rs, rule_id)
    if not rows:
        raise NotFoundError(f"no rule {rule_id!r} in this workspace; list them with GET .../rules")
    return [
        {
            "version": r["version"],
            "created_at": r["created_at"].isoformat(),
            "author": r["author"],
            "spec": Rule.model_validate_json(r["spec"]).model_dump(mode="json"),
        }
        for r in rows
    ]


#: Names of the REST API's fixed paths under .../rules/ (a rule may not be called so).
RESERVED_IDS = frozenset({"templates", "validate", "preview", "run", "backtest", "schedule",
                          "queue", "actions", "undo", "runs", "export", "effectiveness",
                          "activity"})  # fmt: skip


def save(rs: RuleStore, rule: Rule, *, author: str, mode: str | None = None) -> dict[str, Any]:
    """Store a rule (a changed spec becomes its next version), undelete it, set its mode."""
    if rule.id in RESERVED_IDS:
        raise ConfigError(
            f"rule id {rule.id!r} is a name the API uses (.../rules/{rule.id}); pick another id"
        )
    stored = store.save_rule(rs, rule, author=author)
    store.set_rule_settings(rs, rule.id, by=author, mode=mode, deleted=False)
    return summary(stored, store.rule_settings_of(rs).get(rule.id))


def update(
    rs: RuleStore,
    rule_id: str,
    *,
    author: str,
    enabled: bool | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    """Enable or disable a rule (a new version) and/or change its run mode."""
    rule = get_rule(rs, rule_id)
    if enabled is not None and enabled != rule.enabled:
        rule = store.save_rule(rs, rule.model_copy(update={"enabled": enabled}), author)
    if mode is not None:
        store.set_rule_settings(rs, rule_id, by=author, mode=mode)
    return summary(rule, store.rule_settings_of(rs).get(rule_id))


def delete(rs: RuleStore, rule_id: str, *, by: str) -> None:
    """Soft delete: the rule stops running; its versions and actions stay in the log."""
    get_rule(rs, rule_id)
    store.set_rule_settings(rs, rule_id, by=by, deleted=True)


def pick_rules(rs: RuleStore, rule_ids: list[str] | None) -> list[Rule]:
    rules = store.active_rules(rs)
    if not rule_ids:
        return rules
    by_id = {r.id: r for r in rules}
    missing = [i for i in rule_ids if i not in by_id]
    if missing:
        raise NotFoundError(f"no saved rule(s) {', '.join(map(repr, missing))} in this workspace")
    return [by_id[i] for i in rule_ids]


# -- running -----------------------------------------------------------------------------------
def default_as_of(wh: Warehouse) -> date:
    """Today in the workspace's time zone, or the day after the last day with data when the
    data ends earlier (so windows ending yesterday hold data)."""
    today = datetime.now(ZoneInfo(wh.config.timezone)).date()
    ap = wh.table("ad_performance")
    last = ap.date.max().to_pyarrow().as_py()
    if last is None:
        return today
    last = last.date() if isinstance(last, datetime) else last
    return min(today, last + timedelta(days=1))


def action_dict(i: int | None, a: Action, row: dict[str, Any] | None = None) -> dict[str, Any]:
    d = a.to_dict()
    d["action_id"] = i
    if row is not None:
        d["approver"] = row.get("approver")
        for k in ("created_at", "executed_at", "undone_at"):
            v = row.get(k)
            d[k] = v.isoformat() if v is not None else None
    return jsonable(d)


def preview(
    wh: Warehouse, rules: list[Rule], as_of: date, *, respect_schedule: bool = False
) -> dict[str, Any]:
    """A dry run (nothing written): actions with matched values and reasons."""
    res = pipeline.run_rules(wh, rules, as_of, mode="preview", respect_schedule=respect_schedule)
    acts = [action_dict(None, a) for a in res.actions]
    return {
        "as_of": as_of.isoformat(),
        "entities": len({a.entity.key() for a in res.actions}),
        "actions": acts,
    }


def run(
    wh: Warehouse,
    rs: RuleStore,
    rules: list[Rule],
    as_of: date,
    *,
    mode: str,
    approver: str,
    respect_schedule: bool = True,
) -> dict[str, Any]:
    # the log's approver is who approved: the caller for auto runs, nobody yet for suggestions
    res = pipeline.run_rules(
        wh, rules, as_of, mode=mode, rs=rs,  # type: ignore[arg-type]
        approver=approver if mode == "auto" else None,
        respect_schedule=respect_schedule,
    )  # fmt: skip
    return {
        "run_id": res.run_id,
        "as_of": as_of.isoformat(),
        "mode": mode,
        "skipped_rules": res.skipped_rules,
        "actions": jsonable(res.to_dicts()),
    }


def runs(rs: RuleStore) -> list[dict[str, Any]]:
    """Rule runs, newest first: run id, date, mode, rule ids, start time, number of actions."""
    rows = store.list_runs(rs)
    return [
        {
            "run_id": r["run_id"],
            "as_of": r["as_of"].isoformat(),
            "mode": r["mode"],
            "rules": [x[0] for x in json.loads(r["rules"])],
            "started_at": r["started_at"].isoformat(),
            "n_actions": r["n_actions"],
        }
        for r in rows
    ]


def outcome(key: str, applied: pipeline.Applied) -> dict[str, Any]:
    return {key: list(applied), "refused": [r.to_dict() for r in applied.refused]}


def log(rs: RuleStore, *, offset: int, limit: int, **filters: Any) -> tuple[list[dict], int]:
    rows, total = store.query_actions(rs, offset=offset, limit=limit, **filters)
    return [action_dict(i, a, r) for i, a, r in rows], total


def export_zip(
    wh: Warehouse,
    rs: RuleStore,
    fmt: str,
    *,
    status: list[str],
    run_id: str | None = None,
    rule_id: str | None = None,
    ids: list[int] | None = None,
) -> tuple[bytes, int]:
    """The bulk upload files (changes, undo, manifest) of the selected actions, zipped."""
    from spendlab.automate.connectors import ResultStatus, directory_from_entities, export_bulk
    from spendlab.automate.connectors.bulk import get_format

    get_format(fmt)
    rows = store.select_actions(rs, ids=ids, run_id=run_id, rule_id=rule_id, status=status)
    acts = [a for _, a, _ in rows]
    directory = directory_from_entities(wh.table("entities").to_pyarrow().to_pylist())
    with tempfile.TemporaryDirectory(prefix="spendlab-export-") as tmp:
        result = export_bulk(acts, Path(tmp), fmt, directory=directory, currency=wh.currency)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(Path(tmp).iterdir()):
                z.write(f, f.name)
    return buf.getvalue(), sum(r.status is ResultStatus.EXPORTED for r in result.results)


def effectiveness(wh: Warehouse, rs: RuleStore, *, kpi: str, horizon: int) -> dict[str, Any]:
    """KPI before and after each executed action, and per rule (JOT's effectiveness)."""
    effects = monitor.action_effects(wh, rs, horizon=horizon, kpi=kpi)
    per_rule = monitor.rule_effectiveness(effects)
    eff = effects.assign(as_of=effects["as_of"].astype(str))
    return {
        "kpi": kpi,
        "horizon": horizon,
        "rules": jsonable(per_rule.astype(object).to_dict(orient="records")),
        "actions": jsonable(eff.astype(object).to_dict(orient="records")),
    }


def executed_actions(rs: RuleStore) -> list[Action]:
    done = [ActionStatus.EXECUTED.value, ActionStatus.UNDONE.value]
    return [a for _, a, _ in store.select_actions(rs, status=done)]


def activity(rs: RuleStore) -> dict[str, Any]:
    """Executed actions per day and per weekday (0 = Monday), by action kind."""
    acts = executed_actions(rs)
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


def backtest_frame_rows(frame: Any) -> list[dict[str, Any]]:
    return jsonable(frame.assign(as_of=frame.as_of.astype(str)).astype(object).to_dict("records"))
