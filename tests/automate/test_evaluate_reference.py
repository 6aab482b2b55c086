"""The engine against the naive row-by-row reference evaluator: identical matches for every
analytic, window, comparison kind, level and scope filter on simulator data."""

from __future__ import annotations

import json
from datetime import date

import pytest

from spendlab.automate.rules import evaluate, parse_rules
from spendlab.automate.rules.spec import Feature

from .conftest import AS_OF
from .reference import Reference

WINDOWS = [
    {"days": 7},
    {"days": 1},
    {"days": 14, "lag": 3},
    {"days": 7, "shift": 1},
    {"kind": "this_week"},
    {"kind": "last_week"},
    {"kind": "month_to_date"},
    {"kind": "last_month"},
]
KPIS = ["spend", "conversions", "profit", "ctr", "cpa", "roas"]
ANALYTICS = ["sum", "avg", "min", "max", "last", "trend"]


@pytest.fixture(scope="module")
def ref(market_ws):
    ap = market_ws.table("ad_performance").to_pandas()
    ents = market_ws.table("entities").to_pandas()
    ents["labels"] = ents["labels"].map(
        lambda v: v if v is None or isinstance(v, str) else json.dumps(v)
    )
    return Reference(ap, ents)


def _threshold(ref: Reference, f: Feature, level: str) -> float:
    """A threshold between two distinct values of the feature (no ties with float noise)."""
    vals = sorted(
        {
            v
            for ent in ref.days(level)
            if (v := ref.feature(f, level, ent, AS_OF, ((), ()))) is not None
            and v not in (float("inf"), float("-inf"))
        }
    )
    if len(vals) < 2:
        return 0.5
    mid = len(vals) // 2
    return (vals[mid - 1] + vals[mid]) / 2


def _engine(ws, rules, as_of=AS_OF, method="vector"):
    ev = evaluate(
        ws.con, ws.table("ad_performance"), ws.table("entities"), rules, as_of, method=method
    )
    return {(a.rule_id, _key(a)) for a in ev.actions}, ev


def _key(a) -> tuple:
    e = a.entity
    lvl = e.level.value
    from .reference import KEYS

    if lvl in ("code", "business_unit"):
        return (e.account_id,)
    return tuple(getattr(e, c) for c in KEYS[lvl])


def _run(ws, ref, specs, as_of=AS_OF):
    rules = parse_rules(specs)
    got, ev = _engine(ws, rules, as_of)
    want = set().union(*(ref.matches(r, as_of) for r in rules))
    assert got == want
    return got, ev


def test_every_analytic_and_window_matches_reference(market_ws, ref):
    specs = []
    for w in WINDOWS:
        for analytic in ANALYTICS:
            for kpi in KPIS:
                f = Feature(kpi=kpi, analytic=analytic, window=w)
                thr = _threshold(ref, f, "keyword")
                specs.append(
                    {
                        "id": f"{kpi}-{analytic}-{len(specs)}",
                        "scope": {"level": "keyword"},
                        "conditions": {
                            "kpi": kpi,
                            "analytic": analytic,
                            "window": w,
                            "op": ">",
                            "value": thr,
                        },
                        "action": {"type": "alert"},
                    }
                )
    got, ev = _run(market_ws, ref, specs)
    assert ev.feature_tables == 1
    # the battery is not vacuous: most rules match some but not all keywords
    per_rule = {r for r, _ in got}
    assert len(per_rule) > 0.7 * len(specs)


def test_days_share_days_and_null_inf_cases(market_ws, ref):
    specs = []
    for w in [{"days": 14}, {"days": 3}, {"kind": "month_to_date"}]:
        for kpi, op, v in [
            ("conversions", "==", 0),
            ("cpa", ">", 20),
            ("ctr", "<", 0.05),
            ("spend", ">", 0),
        ]:
            for analytic, thr in [("days", 2), ("share_days", 0.5)]:
                specs.append(
                    {
                        "id": f"d{len(specs)}",
                        "scope": {"level": "keyword"},
                        "conditions": {
                            "kpi": kpi,
                            "analytic": analytic,
                            "window": w,
                            "op": ">=",
                            "value": thr,
                            "daily": {"op": op, "value": v},
                        },
                        "action": {"type": "alert"},
                    }
                )
    # +inf CPA (spend, no conversions) is above any constant; NULL ROAS matches nothing
    specs.append(
        {
            "id": "inf-cpa",
            "scope": {"level": "keyword"},
            "conditions": {"kpi": "cpa", "window": {"days": 60}, "op": ">", "value": 1e12},
            "action": {"type": "alert"},
        }
    )
    specs.append(
        {
            "id": "null-roas",
            "scope": {"level": "keyword"},
            "conditions": {
                "any": [
                    {"kpi": "roas", "window": {"days": 5}, "op": "<", "value": 1e12},
                    {"kpi": "roas", "window": {"days": 5}, "op": ">=", "value": 1e12},
                ]
            },
            "action": {"type": "alert"},
        }
    )
    got, _ = _run(market_ws, ref, specs)
    assert any(r == "inf-cpa" for r, _ in got)
    quiet = {e for r, e in got if r == "null-roas"}
    all_kw = set(ref.days("keyword"))
    assert len(all_kw - quiet) >= 1  # the keyword without delivery has an undefined ROAS


def test_comparisons_levels_and_scope_match_reference(market_ws, ref):
    specs = [
        {
            "id": "vs-parent",
            "scope": {"level": "keyword"},
            "conditions": {
                "kpi": "cpa",
                "window": {"days": 14},
                "op": ">",
                "factor": 1.5,
                "other": {"kpi": "cpa", "level": "campaign", "window": {"days": 14}},
            },
            "action": {"type": "alert"},
        },
        {
            "id": "vs-window",
            "scope": {"level": "keyword"},
            "conditions": {
                "kpi": "cost",
                "window": {"days": 7},
                "op": ">",
                "factor": 1.2,
                "other": {"kpi": "cost", "window": {"days": 7, "shift": 1}},
            },
            "action": {"type": "alert"},
        },
        {
            "id": "vs-kpi",
            "scope": {"level": "ad_group"},
            "conditions": {
                "kpi": "revenue",
                "window": {"days": 14},
                "op": "<",
                "factor": 2,
                "other": {"kpi": "spend", "window": {"days": 14}},
            },
            "action": {"type": "alert"},
        },
        {
            "id": "multi-level",
            "scope": {
                "level": "keyword",
                "campaign_name": ["*e*"],
                "exclude_campaign_name": ["brand*"],
            },
            "min_data": {"kpi": "clicks", "window": {"days": 14}, "op": ">=", "value": 20},
            "conditions": {
                "all": [
                    {
                        "kpi": "roas",
                        "level": "business_unit",
                        "window": {"days": 30},
                        "op": ">",
                        "value": 0.5,
                    },
                    {
                        "kpi": "spend",
                        "level": "code",
                        "window": {"days": 30},
                        "op": ">",
                        "value": 10,
                    },
                    {
                        "any": [
                            {"kpi": "ctr", "op": ">", "value": 0.04},
                            {"kpi": "cvr", "level": "ad_group", "op": "<", "value": 0.05},
                        ]
                    },
                ]
            },
            "action": {"type": "alert"},
        },
        {
            "id": "campaigns",
            "scope": {"level": "campaign", "platform": ["google_ads"]},
            "conditions": {
                "kpi": "roas",
                "analytic": "trend",
                "window": {"days": 7},
                "op": ">",
                "value": 0,
            },
            "action": {"type": "alert"},
        },
        {
            "id": "codes",
            "scope": {"level": "code"},
            "conditions": {
                "kpi": "spend",
                "window": {"days": 7},
                "op": ">",
                "factor": 0.2,
                "other": {"kpi": "spend", "level": "business_unit", "window": {"days": 7}},
            },
            "action": {"type": "alert"},
        },
        {
            "id": "bu",
            "scope": {"level": "business_unit"},
            "conditions": {"kpi": "conversions", "analytic": "avg", "op": ">", "value": 1},
            "action": {"type": "alert"},
        },
        {
            "id": "ads",
            "scope": {"level": "ad", "labels": ["bu:Apparel"]},
            "conditions": {"kpi": "ctr", "window": {"days": 7}, "op": "<", "value": 0.05},
            "action": {"type": "alert"},
        },
        {
            "id": "status",
            "scope": {"level": "keyword", "status": ["enabled"]},
            "conditions": {"kpi": "spend", "op": ">", "value": 50},
            "action": {"type": "pause"},
        },
    ]
    got, _ = _run(market_ws, ref, specs)
    hit = {r for r, _ in got}
    assert {"vs-parent", "vs-window", "vs-kpi", "codes", "bu"} <= hit
    # the in-warehouse Ibis predicates give the same matches as the vectorized path
    by_ibis, _ = _engine(market_ws, parse_rules(specs), method="ibis")
    assert by_ibis == got


def test_hostile_rule_text_is_data(market_ws, ref):
    hostile = ["x'); DROP TABLE entities; --", 'Ünïcødé "quoted" \\ %_*', "' OR 1=1 --"]
    specs = [
        {
            "id": "hostile",
            "name": hostile[0],
            "description": hostile[1],
            "scope": {"level": "keyword", "campaign_name": hostile, "labels": hostile},
            "conditions": {"kpi": "spend", "op": ">=", "value": 0},
            "action": {"type": "label", "label": hostile[0]},
        },
        {
            "id": "hostile-label",
            "scope": {"level": "keyword"},
            "conditions": {"kpi": "spend", "window": {"days": 60}, "op": ">", "value": 0},
            "action": {"type": "label", "label": hostile[1]},
        },
    ]
    for method in ("vector", "ibis"):
        got, ev = _engine(market_ws, parse_rules(specs), method=method)
        assert not any(r == "hostile" for r, _ in got)  # the patterns match nothing literally
        assert {a.new_value for a in ev.actions} and all(
            json.loads(a.new_value)[-1] == hostile[1] for a in ev.actions
        )
    assert "entities" in {t for t in market_ws.con.list_tables()}
    assert market_ws.table("entities").count().execute() > 0


@pytest.mark.parametrize("as_of", [date(2024, 2, 26), date(2024, 3, 1), date(2024, 1, 20)])
def test_other_run_dates_match_reference(market_ws, ref, as_of):
    specs = [
        {
            "id": f"w{i}",
            "scope": {"level": "keyword"},
            "conditions": {"kpi": "spend", "window": w, "op": ">", "value": 30},
            "action": {"type": "alert"},
        }
        for i, w in enumerate(WINDOWS)
    ]
    _run(market_ws, ref, specs, as_of)
