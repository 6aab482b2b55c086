"""The vectorized path at scale: the per-scope row index against brute-force masks, batched
action building against the row-by-row builder (identical actions, reasons, values, skips),
and many narrowly scoped rules against the reference evaluator."""

from __future__ import annotations

import json
import re
from datetime import date

import ibis
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendlab.automate.rules import evaluate, parse_rules
from spendlab.automate.rules.compile import glob_regex
from spendlab.automate.rules.features import FeatureKey
from spendlab.automate.rules.spec import Feature
from spendlab.automate.rules.vector import VectorEvaluator
from spendlab.core.hierarchy import Level

from .conftest import AS_OF
from .test_evaluate_reference import _key, ref  # noqa: F401  (module fixture)

N = 20_000  # rows of the synthetic table: 400 campaigns x 50 keywords


def _table(seed: int = 0) -> tuple[pa.Table, dict[FeatureKey, str]]:
    rng = np.random.default_rng(seed)
    kw = np.arange(N)
    camp = kw % 400
    names = np.array(["Generic - shoes", "Brand", "generic - Bags", "Promo*", None], object)
    labels = np.array(['["a"]', '["b", "a"]', "[]", None, '["x\'y"]'], object)
    status = np.array(["enabled", "paused", "removed", None], object)
    feats = {
        "f0": rng.normal(size=N),
        "f1": np.where(rng.random(N) < 0.1, np.nan, rng.normal(size=N)),
    }
    t = pa.table(
        {
            "platform": np.where(camp % 3 == 0, "meta", "google_ads").astype(object),
            "account_id": (camp % 7).astype(str).astype(object),
            "campaign_id": camp.astype(str).astype(object),
            "keyword_id": kw.astype(str).astype(object),
            "business_unit": np.array(["A", "B", None], object)[camp % 3],
            "campaign_name": names[camp % len(names)],
            "labels": labels[kw % len(labels)],
            "status": status[(kw // 7) % len(status)],
            **feats,
        }
    )
    f0 = Feature(kpi="spend")
    f1 = Feature(kpi="clicks")
    cols = {
        FeatureKey.of(f0, Level.KEYWORD, AS_OF): "f0",
        FeatureKey.of(f1, Level.KEYWORD, AS_OF): "f1",
    }
    return t, cols


TABLE, COLUMNS = _table()
PD = TABLE.to_pandas()
NAMES = PD["campaign_name"].tolist()
LABELS = [json.loads(v) if v else [] for v in PD["labels"]]


def _brute(scope: dict, alert: bool) -> np.ndarray:
    """The scope as a full-table mask, written directly from the spec's definitions."""
    m = np.ones(N, bool)
    for name, col in [
        ("platform", "platform"),
        ("account", "account_id"),
        ("campaign", "campaign_id"),
        ("business_unit", "business_unit"),
        ("status", "status"),
    ]:
        if name in scope:
            m &= PD[col].isin(scope[name]).to_numpy()

    def glob(p: str) -> np.ndarray:
        return np.array([isinstance(v, str) and re.fullmatch(glob_regex(p), v) is not None
                         for v in NAMES])  # fmt: skip

    if scope.get("campaign_name"):  # an empty list is no filter
        m &= np.logical_or.reduce([glob(p) for p in scope["campaign_name"]] + [np.zeros(N, bool)])
    for p in scope.get("exclude_campaign_name", []):
        m &= ~glob(p)
    if "labels" in scope:
        m &= np.array([any(lb in ls for lb in scope["labels"]) for ls in LABELS])
    if not alert:
        m &= PD["status"].notna().to_numpy() & (PD["status"] != "removed").to_numpy()
    return m


_ids = st.integers(0, 420).map(str)
SCOPES = st.fixed_dictionaries(
    {},
    optional={
        "platform": st.lists(st.sampled_from(["meta", "google_ads", "bing"]), min_size=1),
        "account": st.lists(st.integers(0, 8).map(str), min_size=1, max_size=3),
        "campaign": st.lists(_ids, min_size=1, max_size=4),
        "business_unit": st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=2),
        "status": st.lists(st.sampled_from(["enabled", "paused", "removed"]), min_size=1),
        "campaign_name": st.lists(st.sampled_from(["generic*", "*a*", "Promo\\*", "?rand"])),
        "exclude_campaign_name": st.lists(st.sampled_from(["*bags", "brand"]), max_size=1),
        "labels": st.lists(st.sampled_from(["a", "b", "x'y", "zz"]), min_size=1, max_size=2),
    },
)


@settings(max_examples=60, deadline=None)
@given(scope=SCOPES, alert=st.booleans(), op=st.sampled_from([">", "<=", "!="]))
def test_scope_index_and_conditions_match_brute_force(scope, alert, op):
    rule = parse_rules(
        {
            "id": "r",
            "scope": {"level": "keyword", **scope},
            "min_data": {"kpi": "clicks", "op": op, "value": -0.5},
            "conditions": {"kpi": "spend", "op": ">", "factor": 0.5, "other": {"kpi": "clicks"}},
            "action": {"type": "alert" if alert else "pause"},
        }
    )[0]
    vec = VectorEvaluator(TABLE, COLUMNS, AS_OF)
    want = _brute(scope, alert)
    assert np.array_equal(vec.candidates(rule), np.flatnonzero(want))
    f0, f1 = PD["f0"].to_numpy(), PD["f1"].to_numpy()
    with np.errstate(invalid="ignore"):
        guard = {">": f1 > -0.5, "<=": f1 <= -0.5, "!=": (f1 != -0.5) & ~np.isnan(f1)}[op]
        cond = f0 > 0.5 * f1
    assert np.array_equal(vec.rows(rule), np.flatnonzero(want & guard & cond))


ACTION_SPECS = [
    ("keyword", {"type": "bid", "mode": "percent", "value": 15, "max": 2.0, "max_step": 0.3}),
    ("keyword", {"type": "bid", "mode": "target_cpa", "value": 25, "window": {"days": 14}}),
    ("keyword", {"type": "bid", "mode": "target_roas", "value": 3, "min": 0.1}),
    ("keyword", {"type": "bid", "mode": "set", "value": 1.0}),
    ("campaign", {"type": "budget", "mode": "absolute", "value": -5}),
    ("keyword", {"type": "pause"}),
    ("keyword", {"type": "pause_until", "days": 3}),
    ("keyword", {"type": "enable"}),
    ("keyword", {"type": "label", "label": "review ü'"}),
    ("ad_group", {"type": "alert", "message": "look"}),
    ("code", {"type": "alert"}),
    ("business_unit", {"type": "alert"}),
]


def test_batched_actions_identical_to_row_by_row(market_ws):
    specs = []
    for i, (level, action) in enumerate(ACTION_SPECS):
        specs.append(
            {
                "id": f"a{i}",
                "scope": {"level": level},
                "min_data": {"kpi": "clicks", "window": {"days": 14}, "op": ">=", "value": 1},
                "conditions": {
                    "any": [
                        {"kpi": "spend", "window": {"days": 14}, "op": ">", "value": 5},
                        {
                            "kpi": "cpa",
                            "window": {"days": 7},
                            "op": ">",
                            "factor": 1.5,
                            "other": {"kpi": "cpa", "window": {"days": 7, "shift": 1}},
                        },
                        {"kpi": "ctr", "analytic": "min", "op": "<", "factor": 2, "value": 0.02},
                    ]
                },
                "action": action,
            }
        )
    rules = parse_rules(specs)
    args = (market_ws.con, market_ws.table("ad_performance"), market_ws.table("entities"))
    vec = evaluate(*args, rules, AS_OF, run_id="run-1")
    row = evaluate(*args, rules, AS_OF, run_id="run-1", method="ibis")
    assert vec.actions == row.actions
    assert vec.matches == row.matches
    key = json.dumps
    assert sorted(map(key, vec.skipped)) == sorted(map(key, row.skipped))
    kinds = {a.kind for a in vec.actions}
    assert len(kinds) >= 5 and len({a.rule_id for a in vec.actions}) >= 8
    assert any(";" in a.reason for a in vec.actions)  # several conditions held, joined
    assert {s["why"].split(" ")[0] for s in vec.skipped} >= {"status"}


def test_narrow_scopes_match_reference(market_ws, ref):  # noqa: F811
    ap = ref.ap
    camps = sorted(ap.loc[ap.campaign_id != "", "campaign_id"].unique())
    accts = sorted(ap.loc[ap.account_id != "", "account_id"].unique())
    plats = sorted(ap.platform.unique())
    specs = []
    for i, c in enumerate(camps):
        for lvl in ("keyword", "ad_group", "campaign"):
            specs.append(
                {
                    "id": f"c{i}-{lvl}",
                    "scope": {"level": lvl, "campaign": [c, "no-such-campaign"]},
                    "min_data": {"kpi": "clicks", "window": {"days": 14}, "op": ">=", "value": 5},
                    "conditions": {"kpi": "roas", "window": {"days": 14}, "op": ">", "value": 1},
                    "action": {"type": "alert"},
                }
            )
    for i, a in enumerate(accts):
        for p in plats:
            specs.append(
                {
                    "id": f"a{i}-{p}",
                    "scope": {"level": "keyword", "account": [a], "platform": [p]},
                    "conditions": {"kpi": "cpc", "window": {"days": 7}, "op": "<", "value": 1.5},
                    "action": {"type": "pause"},
                }
            )
    rules = parse_rules(specs)
    ev = evaluate(
        market_ws.con, market_ws.table("ad_performance"), market_ws.table("entities"), rules, AS_OF
    )
    got = {(a.rule_id, _key(a)) for a in ev.actions}
    want = set().union(*(ref.matches(r, AS_OF) for r in rules))
    assert got == want
    assert len({r for r, _ in got}) >= len(camps)  # most narrow rules do match something


@pytest.mark.parametrize("values", [["nope"], []])
def test_unknown_scope_values_match_nothing(values):
    scope = {"level": "keyword", "campaign": ["nope", *values]}
    rule = parse_rules(
        {"id": "r", "scope": scope, "conditions": {"kpi": "spend", "op": ">", "value": -9}}
        | {"action": {"type": "alert"}}
    )[0]
    vec = VectorEvaluator(TABLE, COLUMNS, AS_OF)
    assert len(vec.rows(rule)) == 0


def test_sums_do_not_depend_on_the_order_rows_are_added():
    # 0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1 in floating point; sums are rounded to 1e-6 so a
    # re-run (a parallel warehouse adds in no fixed order) gives the same matches
    con = ibis.duckdb.connect(threads=1)
    spend = [0.1, 0.2, 0.3, 0.3, 0.2, 0.1]
    ap = ibis.memtable(
        {
            "date": [date(2024, 2, d) for d in (18, 19, 20, 18, 19, 20)],
            "platform": ["google_ads"] * 6,
            "account_id": ["1"] * 6,
            "campaign_id": ["c"] * 6,
            "ad_group_id": ["g"] * 6,
            "keyword_id": ["k1"] * 3 + ["k2"] * 3,
            "impressions": [10] * 6,
            "clicks": [1] * 6,
            "spend": spend,
            "conversions": [0.0] * 6,
            "conversion_value": [0.0] * 6,
        }
    )
    assert sum(spend[:3]) != sum(spend[3:])
    rules = parse_rules(
        [
            {
                "id": f"eq-{analytic}",
                "scope": {"level": "keyword"},
                "conditions": {"kpi": "spend", "analytic": analytic, "op": "==", "value": v},
                "action": {"type": "alert"},
            }
            for analytic, v in (("sum", 0.6), ("avg", 0.6 / 7))
        ]
    )
    ev = evaluate(con, ap, None, rules, AS_OF)
    hits = {(a.rule_id, a.entity.keyword_id) for a in ev.actions}
    assert hits == {("eq-sum", "k1"), ("eq-sum", "k2"), ("eq-avg", "k1"), ("eq-avg", "k2")}
