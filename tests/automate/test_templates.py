"""The template library: every YAML template validates and runs on simulator data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from spendlab.automate.pipeline import run_rules
from spendlab.automate.rules import load_rules

from .conftest import AS_OF

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "spendlab" / "automate" / "templates"


def test_all_templates_validate():
    rules = load_rules(TEMPLATES)
    assert {r.id for r in rules} == {
        "raise-bids-roas-rising",
        "cut-bids-cpa-2x-campaign",
        "pause-no-conversions-14d",
        "revive-paused",
    }


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.yaml")), ids=lambda p: p.stem)
def test_template_runs(market_ws, path):
    (rule,) = load_rules(path)
    res = run_rules(market_ws, [rule], AS_OF, respect_schedule=False)
    if rule.id == "pause-no-conversions-14d":
        ap = market_ws.table("ad_performance").to_pandas()
        w = ap[(ap.date >= pd.Timestamp("2024-02-07")) & (ap.date <= pd.Timestamp("2024-02-20"))]
        w = w[w.keyword_id != ""].groupby("keyword_id")[["spend", "conversions"]].sum()
        ents = market_ws.table("entities").to_pandas()
        enabled = set(ents[(ents.level == "keyword") & (ents.status == "enabled")].keyword_id)
        want = {k for k, r in w.iterrows() if r.spend > 20 and r.conversions == 0} & enabled
        assert {a.entity.keyword_id for a in res.actions} == want
    else:
        assert res.actions, f"template {rule.id} matched nothing on the simulated market"
    for a in res.actions:
        assert a.rule_id == rule.id and a.reason
