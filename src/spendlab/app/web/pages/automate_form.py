"""The Automate page's rule editor: a structured form in the order Scope -> Conditions ->
Action -> Limits -> Schedule -> Notify that builds the rule spec, and back.

The form edits a *base* spec: fields overwrite only the parts they show, so anything the form
cannot show (nested all/any groups, windows with a lag or shift, daily conditions) is kept as
it is and edited in the YAML view. Every field has the id ``{"type": "au-f", "name": NAME}``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from dash import dcc, html

from spendlab.automate.rules.spec import KPIS, RULE_LEVELS, ancestors

MAX_ROWS = 4
OPS = [">", ">=", "<", "<=", "==", "!="]
ANALYTICS = ["sum", "avg", "min", "max", "last", "trend"]
ACTIONS = ["bid", "budget", "pause", "enable", "pause_until", "label", "alert"]
MODES = ["percent", "absolute", "set", "target_cpa", "target_roas"]
PARENTS = sorted({lv.value for lv in RULE_LEVELS for lv in ancestors(lv)})
SCOPE_LISTS = ("campaign_name", "labels", "country", "device")
ACTION_NUMS = ("value", "min", "max", "max_step_pct", "max_step", "days")
LIMITS = ("cooldown_days", "max_executions", "max_actions_per_run")

DEFAULT_SPEC: dict[str, Any] = {
    "id": "my-rule",
    "name": "",
    "scope": {"level": "keyword", "status": ["enabled"]},
    "conditions": {"kpi": "roas", "window": {"days": 14}, "op": ">", "value": 1.5},
    "action": {"type": "bid", "mode": "percent", "value": 10},
}


def fid(name: str) -> dict[str, str]:
    return {"type": "au-f", "name": name}


def _row_names(i: int) -> list[str]:
    return [
        f"c{i}.{k}"
        for k in (
            "kpi",
            "analytic",
            "level",
            "days",
            "op",
            "value",
            "factor",
            "other_kpi",
            "other_level",
            "other_days",
        )
    ]


GUARD = ["guard.kpi", "guard.days", "guard.op", "guard.value"]
CONDITION_FIELDS = ["cond.join", *[n for i in range(MAX_ROWS) for n in _row_names(i)]]


# -- spec -> form ------------------------------------------------------------------------------
def _plain_window(w: dict[str, Any] | None) -> bool:
    w = w or {}
    return w.get("kind", "last_days") == "last_days" and w.get("lag", 1) == 1 and not w.get("shift")


def _plain(c: Any) -> bool:
    """A condition the form can show."""
    if not isinstance(c, dict) or "kpi" not in c or c.get("daily"):
        return False
    if c.get("analytic", "sum") not in ANALYTICS or not _plain_window(c.get("window")):
        return False
    o = c.get("other")
    if o is not None:
        if (
            o.get("analytic", "sum") != "sum"
            or o.get("daily")
            or not _plain_window(o.get("window"))
        ):
            return False
    return True


def condition_rows(spec: dict[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
    """(join, conditions) when the conditions are one flat all/any group of plain conditions."""
    node = spec.get("conditions")
    if node is None:
        return "all", []
    if isinstance(node, dict) and "kpi" in node:
        return ("all", [node]) if _plain(node) else None
    for join in ("all", "any"):
        if isinstance(node, dict) and isinstance(node.get(join), list):
            kids = node[join]
            if len(kids) <= MAX_ROWS and all(_plain(k) for k in kids):
                return join, kids
    return None


def guard_row(spec: dict[str, Any]) -> dict[str, Any] | None | bool:
    """The minimum-data guard as one plain condition with a value; None when absent; False when
    the form cannot show it."""
    g = spec.get("min_data")
    if g is None:
        return None
    if _plain(g) and g.get("other") is None and g.get("analytic", "sum") == "sum":
        return g
    return False


def _csv(values: list[Any] | None) -> str:
    return ", ".join(str(v) for v in values or [])


def spec_to_form(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Form values for a spec, and notes on what only the YAML view can edit."""
    notes = []
    sc = spec.get("scope") or {}
    act = spec.get("action") or {}
    lim = spec.get("limits") or {}
    sch = spec.get("schedule") or {}
    v: dict[str, Any] = {
        "id": spec.get("id", ""),
        "name": spec.get("name", ""),
        "priority": spec.get("priority", 0),
        "enabled": ["on"] if spec.get("enabled", True) else [],
        "scope.level": sc.get("level", "keyword"),
        "scope.platform": list(sc.get("platform") or []),
        "scope.status": list(sc.get("status") or []),
        **{f"scope.{k}": _csv(sc.get(k)) for k in SCOPE_LISTS},
        "action.type": act.get("type", "bid"),
        "action.mode": act.get("mode", "percent"),
        **{f"action.{k}": act.get(k) for k in ACTION_NUMS},
        "action.label": act.get("label") or "",
        "action.message": act.get("message") or "",
        **{f"limits.{k}": lim.get(k) for k in LIMITS},
        "schedule.every": sch.get("every", "daily"),
        "schedule.on": sch.get("on") or "",
        "schedule.days": _csv(sch.get("days")),
        "schedule.start": sch.get("start") or "",
        "schedule.end": sch.get("end") or "",
        "schedule.timezone": sch.get("timezone", "UTC"),
        "notify": _csv(spec.get("notify")),
    }
    g = guard_row(spec)
    if g is False:
        notes.append("The minimum-data guard is more than one plain condition: edit it as YAML.")
        g = None
    g = g or {}
    v.update(
        {
            "guard.kpi": g.get("kpi"),
            "guard.days": (g.get("window") or {}).get("days", 14),
            "guard.op": g.get("op", ">="),
            "guard.value": g.get("value"),
        }
    )
    rows = condition_rows(spec)
    if rows is None:
        notes.append(
            "The conditions are nested or use windows the form does not show (lag, shift, "
            "weeks, months, daily counts): edit them in the YAML view."
        )
        rows = ("all", [])
    join, conds = rows
    v["cond.join"] = join
    for i in range(MAX_ROWS):
        c = conds[i] if i < len(conds) else {}
        o = c.get("other") or {}
        days = (c.get("window") or {}).get("days", 7 if not c else 7)
        v.update(
            {
                f"c{i}.kpi": c.get("kpi"),
                f"c{i}.analytic": c.get("analytic", "sum"),
                f"c{i}.level": c.get("level"),
                f"c{i}.days": days,
                f"c{i}.op": c.get("op", ">"),
                f"c{i}.value": c.get("value"),
                f"c{i}.factor": c.get("factor", 1.0),
                f"c{i}.other_kpi": o.get("kpi"),
                f"c{i}.other_level": o.get("level"),
                f"c{i}.other_days": (o.get("window") or {}).get("days") if o else None,
            }
        )
    return v, notes


def locked(spec: dict[str, Any]) -> set[str]:
    """Fields the form must not change for this spec (shown only in YAML)."""
    out: set[str] = set()
    if condition_rows(spec) is None:
        out |= set(CONDITION_FIELDS)
    if guard_row(spec) is False:
        out |= set(GUARD)
    return out


# -- form -> spec ------------------------------------------------------------------------------
def _num(x: Any) -> float | int | None:
    if x is None or x == "":
        return None
    f = float(x)
    return int(f) if f.is_integer() else f


def _list(text: Any) -> list[str]:
    return [s.strip() for s in str(text or "").split(",") if s.strip()]


def _cond(v: dict[str, Any], p: str) -> dict[str, Any]:
    c: dict[str, Any] = {"kpi": v[f"{p}.kpi"], "window": {"days": int(_num(v[f"{p}.days"]) or 7)}}
    if v.get(f"{p}.analytic") and v[f"{p}.analytic"] != "sum":
        c["analytic"] = v[f"{p}.analytic"]
    if v.get(f"{p}.level"):
        c["level"] = v[f"{p}.level"]
    c["op"] = v.get(f"{p}.op") or ">"
    if v.get(f"{p}.other_kpi"):
        other: dict[str, Any] = {"kpi": v[f"{p}.other_kpi"]}
        if v.get(f"{p}.other_level"):
            other["level"] = v[f"{p}.other_level"]
        other["window"] = {"days": int(_num(v.get(f"{p}.other_days")) or c["window"]["days"])}
        c["other"] = other
        c["factor"] = _num(v.get(f"{p}.factor")) or 1
    else:
        c["value"] = _num(v.get(f"{p}.value"))
    return c


def form_to_spec(base: dict[str, Any], v: dict[str, Any]) -> dict[str, Any]:
    """The base spec with the parts the form shows replaced by the form's values."""
    spec = copy.deepcopy(base)
    keep = locked(base)
    spec["id"] = (v.get("id") or "").strip()
    spec["name"] = v.get("name") or ""
    spec["priority"] = int(_num(v.get("priority")) or 0)
    spec["enabled"] = bool(v.get("enabled"))
    sc = dict(spec.get("scope") or {})
    sc["level"] = v.get("scope.level") or "keyword"
    for k in ("platform", "status"):
        sc[k] = list(v.get(f"scope.{k}") or [])
    for k in SCOPE_LISTS:
        sc[k] = _list(v.get(f"scope.{k}"))
    spec["scope"] = {k: x for k, x in sc.items() if x not in ([], None)}
    if not set(GUARD) & keep:
        if v.get("guard.kpi"):
            spec["min_data"] = _cond(
                {
                    "g.kpi": v["guard.kpi"],
                    "g.days": v.get("guard.days"),
                    "g.op": v.get("guard.op"),
                    "g.value": v.get("guard.value"),
                },
                "g",
            )
        else:
            spec.pop("min_data", None)
    if not set(CONDITION_FIELDS) & keep:
        rows = [_cond(v, f"c{i}") for i in range(MAX_ROWS) if v.get(f"c{i}.kpi")]
        join = v.get("cond.join") or "all"
        if len(rows) == 1 and join == "all":
            spec["conditions"] = rows[0]
        elif rows:
            spec["conditions"] = {join: rows}
        else:
            spec.pop("conditions", None)
    act: dict[str, Any] = {"type": v.get("action.type") or "alert"}
    if act["type"] in ("bid", "budget"):
        act["mode"] = v.get("action.mode") or "percent"
        old_window = (base.get("action") or {}).get("window")
        if old_window and act["mode"] in ("target_cpa", "target_roas"):
            act["window"] = old_window
    for k in ACTION_NUMS:
        if _num(v.get(f"action.{k}")) is not None:
            act[k] = _num(v.get(f"action.{k}"))
    for k in ("label", "message"):
        if v.get(f"action.{k}"):
            act[k] = v[f"action.{k}"]
    spec["action"] = act
    spec["limits"] = {
        k: int(_num(v.get(f"limits.{k}"))) for k in LIMITS if _num(v.get(f"limits.{k}")) is not None
    }
    sch: dict[str, Any] = {"every": v.get("schedule.every") or "daily"}
    if v.get("schedule.on"):
        sch["on"] = v["schedule.on"]
    days = [int(d) for d in _list(v.get("schedule.days")) if re.fullmatch(r"-?[0-9]+", d)]
    if days:
        sch["days"] = days
    for k in ("start", "end"):
        if v.get(f"schedule.{k}"):
            sch[k] = v[f"schedule.{k}"]
    sch["timezone"] = v.get("schedule.timezone") or "UTC"
    spec["schedule"] = sch
    spec["notify"] = _list(v.get("notify"))
    return spec


# -- layout ------------------------------------------------------------------------------------
def _opts(values: list[str]) -> list[dict[str, str]]:
    return [{"label": x, "value": x} for x in values]


def _input(
    name: str, v: dict[str, Any], *, kind: str = "text", width: str = "110px", placeholder: str = ""
) -> dcc.Input:
    return dcc.Input(
        id=fid(name),
        type=kind,
        value=v.get(name),
        debounce=True,
        placeholder=placeholder,
        style={"width": width},
    )


def _drop(
    name: str,
    v: dict[str, Any],
    options: list[str],
    *,
    multi: bool = False,
    width: str = "130px",
    clearable: bool = False,
) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=fid(name),
        options=_opts(options),
        value=v.get(name),
        multi=multi,
        clearable=clearable or multi,
        style={"width": width},
    )


def _field(label: str, comp: Any) -> html.Label:
    return html.Label([html.Span(label, className="muted"), comp], className="field")


def _section(n: int, title: str, *rows: Any) -> html.Fieldset:
    return html.Fieldset(
        [html.Legend(f"{n}. {title}"), *rows],
        className="au-section",
        id=f"au-sec-{title.lower().replace(' ', '-')}",
    )


def _cond_row(i: int, v: dict[str, Any]) -> html.Div:
    """KPI, analytic, level, window, operator; then a value, or factor x another feature."""
    p = f"c{i}"
    kpis = list(KPIS)
    muted = {"className": "muted"}
    return html.Div(
        className="au-cond",
        id=f"au-cond-{i}",
        children=[
            html.Div(
                className="form-row",
                children=[
                    html.Span(f"{i + 1}.", **muted),
                    _drop(f"{p}.kpi", v, kpis, width="150px", clearable=True),
                    _drop(f"{p}.analytic", v, ANALYTICS, width="100px"),
                    _drop(f"{p}.level", v, PARENTS, width="150px", clearable=True),
                    html.Span("last", **muted),
                    _input(f"{p}.days", v, kind="number", width="60px"),
                    html.Span("days", **muted),
                    _drop(f"{p}.op", v, OPS, width="80px"),
                    _input(f"{p}.value", v, kind="number", width="90px", placeholder="value"),
                ],
            ),
            html.Div(
                className="form-row au-other",
                children=[
                    html.Span("or compare with", **muted),
                    _input(f"{p}.factor", v, kind="number", width="60px"),
                    html.Span("x", **muted),
                    _drop(f"{p}.other_kpi", v, kpis, width="150px", clearable=True),
                    _drop(f"{p}.other_level", v, PARENTS, width="150px", clearable=True),
                    html.Span("last", **muted),
                    _input(f"{p}.other_days", v, kind="number", width="60px", placeholder="days"),
                    html.Span("days", **muted),
                ],
            ),
        ],
    )


def editor_sections(v: dict[str, Any]) -> list[Any]:
    """Scope -> Conditions -> Action -> Limits -> Schedule -> Notify, filled with ``v``."""
    levels = [lv.value for lv in RULE_LEVELS]
    return [
        _section(
            1,
            "Scope",
            html.Div(
                className="form-row",
                children=[
                    _field("Rule id", _input("id", v, width="220px")),
                    _field("Name", _input("name", v, width="360px")),
                    _field("Priority", _input("priority", v, kind="number", width="70px")),
                    dcc.Checklist(
                        id=fid("enabled"),
                        options=[{"label": " enabled", "value": "on"}],
                        value=v.get("enabled"),
                    ),
                ],
            ),
            html.Div(
                className="form-row",
                children=[
                    _field("Level", _drop("scope.level", v, levels)),
                    _field(
                        "Platforms",
                        _drop(
                            "scope.platform",
                            v,
                            ["google_ads", "microsoft_ads", "meta"],
                            multi=True,
                            width="260px",
                        ),
                    ),
                    _field(
                        "Status",
                        _drop(
                            "scope.status",
                            v,
                            ["enabled", "paused", "removed"],
                            multi=True,
                            width="220px",
                        ),
                    ),
                ],
            ),
            html.Div(
                className="form-row",
                children=[
                    _field(
                        "Campaign name patterns",
                        _input(
                            "scope.campaign_name", v, width="220px", placeholder="Generic*, Brand*"
                        ),
                    ),
                    _field("Labels", _input("scope.labels", v, width="160px")),
                    _field("Countries", _input("scope.country", v, width="100px")),
                    _field("Devices", _input("scope.device", v, width="100px")),
                ],
            ),
        ),
        _section(
            2,
            "Conditions",
            html.Div(
                className="form-row",
                children=[
                    html.Span("Minimum data:", className="muted"),
                    _drop("guard.kpi", v, list(KPIS), width="150px", clearable=True),
                    html.Span("last", className="muted"),
                    _input("guard.days", v, kind="number", width="60px"),
                    html.Span("days", className="muted"),
                    _drop("guard.op", v, OPS, width="80px"),
                    _input("guard.value", v, kind="number", width="90px"),
                ],
            ),
            html.Div(
                className="form-row",
                children=[
                    html.Span("Match", className="muted"),
                    dcc.RadioItems(
                        id=fid("cond.join"),
                        options=[
                            {"label": " all", "value": "all"},
                            {"label": " any", "value": "any"},
                        ],
                        value=v.get("cond.join"),
                        inline=True,
                    ),
                    html.Span(
                        "of: KPI, analytic, level (empty: the rule's), window, comparison with "
                        "a value or factor x another KPI",
                        className="muted",
                    ),
                ],
            ),
            *[_cond_row(i, v) for i in range(MAX_ROWS)],
        ),
        _section(
            3,
            "Action",
            html.Div(
                className="form-row",
                children=[
                    _field("Do", _drop("action.type", v, ACTIONS)),
                    _field("Mode", _drop("action.mode", v, MODES, width="140px")),
                    _field("Value", _input("action.value", v, kind="number", width="80px")),
                    _field("Min", _input("action.min", v, kind="number", width="70px")),
                    _field("Max", _input("action.max", v, kind="number", width="70px")),
                    _field(
                        "Max step %", _input("action.max_step_pct", v, kind="number", width="70px")
                    ),
                    _field("Max step", _input("action.max_step", v, kind="number", width="70px")),
                    _field(
                        "Days (pause until)", _input("action.days", v, kind="number", width="70px")
                    ),
                    _field("Label", _input("action.label", v, width="120px")),
                    _field("Message (alert)", _input("action.message", v, width="200px")),
                ],
            ),
        ),
        _section(
            4,
            "Limits",
            html.Div(
                className="form-row",
                children=[
                    _field(
                        "Cooldown days",
                        _input("limits.cooldown_days", v, kind="number", width="70px"),
                    ),
                    _field(
                        "Max executions per entity",
                        _input("limits.max_executions", v, kind="number", width="70px"),
                    ),
                    _field(
                        "Max actions per run",
                        _input("limits.max_actions_per_run", v, kind="number", width="80px"),
                    ),
                ],
            ),
        ),
        _section(
            5,
            "Schedule",
            html.Div(
                className="form-row",
                children=[
                    _field(
                        "Every", _drop("schedule.every", v, ["once", "daily", "weekly", "monthly"])
                    ),
                    _field(
                        "On (once)",
                        _input("schedule.on", v, width="110px", placeholder="YYYY-MM-DD"),
                    ),
                    _field(
                        "Days (weekly 1-7, monthly 1-31)", _input("schedule.days", v, width="120px")
                    ),
                    _field("Start", _input("schedule.start", v, width="110px")),
                    _field("End", _input("schedule.end", v, width="110px")),
                    _field("Time zone", _input("schedule.timezone", v, width="160px")),
                ],
            ),
        ),
        _section(
            6,
            "Notify",
            html.Div(
                className="form-row",
                children=[
                    _field(
                        "E-mail addresses or webhook names (comma-separated)",
                        _input("notify", v, width="420px"),
                    ),
                ],
            ),
        ),
    ]
