"""Impression share (where the platform reports it) and the language scope filter, against the
naive reference evaluator; NULL where absent never matches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spendlab.automate.rules import evaluate, parse_rules
from spendlab.automate.rules.spec import Feature
from spendlab.data.ingest import ingest_frames
from spendlab.data.warehouse import Warehouse

from .conftest import AS_OF, market_frames
from .reference import Reference
from .test_evaluate_reference import _key, _threshold


@pytest.fixture(scope="module")
def ws_ref(tmp_path_factory):
    ap, ents = market_frames()
    rng = np.random.default_rng(7)
    share = rng.uniform(0.05, 1.0, len(ap)).round(4)
    share[rng.random(len(ap)) < 0.1] = 0.0  # a reported 0 carries no eligible impressions
    day = ap.date.astype("datetime64[ns]").dt.day
    has = (ap.platform == "google_ads") & (day % 3 != 0)  # other platforms: never reported
    ap["extras"] = [
        json.dumps({"search_impression_share": float(s), "other": 1}) if h else None
        for s, h in zip(share, has, strict=True)
    ]
    camps = sorted(ap.campaign_id.unique())
    lang = {c: ["en", "es", None][i % 3] for i, c in enumerate(camps)}
    ap["language"] = ap.campaign_id.map(lang)
    wh = Warehouse.init(tmp_path_factory.mktemp("is") / "ws")
    ingest_frames(wh, {"ad_performance": ap, "entities": ents})
    a = wh.table("ad_performance").to_pandas()
    e = wh.table("entities").to_pandas()
    e["labels"] = e["labels"].map(lambda v: v if v is None or isinstance(v, str) else json.dumps(v))
    yield wh, Reference(a, e)
    wh.close()


def _run(wh, ref, specs):
    rules = parse_rules(specs)
    ev = evaluate(wh.con, wh.table("ad_performance"), wh.table("entities"), rules, AS_OF)
    got = {(a.rule_id, _key(a)) for a in ev.actions}
    assert got == set().union(*(ref.matches(r, AS_OF) for r in rules))
    by_ibis = evaluate(
        wh.con, wh.table("ad_performance"), wh.table("entities"), rules, AS_OF, method="ibis"
    )
    assert by_ibis.actions == ev.actions
    return got


def test_impression_share_every_analytic_matches_reference(ws_ref):
    wh, ref = ws_ref
    specs = []
    for level in ("keyword", "campaign"):
        for analytic in ("sum", "avg", "min", "max", "last", "trend"):
            for w in ({"days": 7}, {"days": 14, "lag": 2}):
                f = Feature(kpi="impression_share", analytic=analytic, window=w)
                specs.append(
                    {
                        "id": f"is-{level}-{analytic}-{len(specs)}",
                        "scope": {"level": level},
                        "conditions": {
                            "kpi": "search_impression_share",  # alias
                            "analytic": analytic,
                            "window": w,
                            "op": ">",
                            "value": _threshold(ref, f, level),
                        },
                        "action": {"type": "alert"},
                    }
                )
    specs.append(
        {
            "id": "is-days",
            "scope": {"level": "keyword"},
            "conditions": {
                "kpi": "impression_share",
                "analytic": "days",
                "window": {"days": 14},
                "op": ">=",
                "value": 3,
                "daily": {"op": "<", "value": 0.5},
            },
            "action": {"type": "alert"},
        }
    )
    specs.append(  # below 2 holds for every reported share: only reporting keywords match
        {
            "id": "is-any",
            "scope": {"level": "keyword"},
            "conditions": {
                "kpi": "impression_share",
                "window": {"days": 30},
                "op": "<",
                "value": 2,
            },
            "action": {"type": "alert"},
        }
    )
    got = _run(wh, ref, specs)
    assert len({r for r, _ in got}) > 0.7 * len(specs)
    plats = {e[0] for r, e in got if r == "is-any"}
    assert plats == {"google_ads"}  # NULL (not reported) never matches


def test_language_scope_matches_reference(ws_ref):
    wh, ref = ws_ref
    specs = [
        {
            "id": f"lang-{i}",
            "scope": {"level": level, "language": langs},
            "conditions": {"kpi": "spend", "window": {"days": 14}, "op": ">", "value": 1},
            "action": {"type": "alert"},
        }
        for i, (level, langs) in enumerate(
            [("keyword", ["en"]), ("campaign", ["es", "en"]), ("ad_group", ["fr"])]
        )
    ]
    got = _run(wh, ref, specs)
    assert {r for r, _ in got} == {"lang-0", "lang-1"}
