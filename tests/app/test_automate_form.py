"""The Automate page's structured form: every template survives spec -> form -> spec; the
form changes only what it shows and keeps what only YAML can express."""

from __future__ import annotations

import pytest

from spendlab.app.web.pages.automate_form import (
    CONDITION_FIELDS,
    DEFAULT_SPEC,
    form_to_spec,
    locked,
    spec_to_form,
)
from spendlab.automate.rules.spec import Rule
from spendlab.automate.specs import templates


def _norm(spec):
    return Rule.model_validate(spec).model_dump(mode="json")


@pytest.mark.parametrize("spec", [t["spec"] for t in templates()] + [DEFAULT_SPEC],
                         ids=[t["id"] for t in templates()] + ["default"])  # fmt: skip
def test_templates_round_trip_through_the_form(spec):
    base = _norm(spec)
    values, notes = spec_to_form(base)
    assert notes == [] and locked(base) == set()
    assert _norm(form_to_spec(base, values)) == base


def test_form_edits_what_it_shows():
    base = _norm(DEFAULT_SPEC)
    v, _ = spec_to_form(base)
    v.update({"c1.kpi": "cpa", "c1.level": "campaign", "c1.days": 30, "c1.op": "<",
              "c1.factor": 0.5, "c1.other_kpi": "cpa", "c1.other_level": "account",
              "cond.join": "any", "action.type": "budget", "action.value": -5,
              "schedule.every": "weekly", "schedule.days": "1, 5",
              "schedule.timezone": "Europe/Madrid", "scope.campaign_name": "Generic*, Brand*",
              "notify": "ops@example.com", "limits.cooldown_days": 2})  # fmt: skip
    rule = Rule.model_validate(form_to_spec(base, v))
    first, second = rule.conditions.any
    assert (first.kpi, first.op, first.value) == ("roas", ">", 1.5)
    assert second.level.value == "campaign" and second.window.days == 30
    assert second.other.kpi == "cpa" and second.other.level.value == "account"
    assert second.factor == 0.5 and second.other.window.days == 30
    assert rule.action.type == "budget" and rule.action.value == -5
    assert rule.schedule.days == [1, 5] and rule.schedule.timezone == "Europe/Madrid"
    assert rule.scope.campaign_name == ["Generic*", "Brand*"]
    assert rule.notify == ["ops@example.com"] and rule.limits.cooldown_days == 2


def test_what_only_yaml_can_say_is_kept_and_locked():
    nested = {
        **DEFAULT_SPEC,
        "conditions": {"all": [
            {"kpi": "spend", "window": {"days": 7, "lag": 3}, "op": ">", "value": 10},
            {"any": [{"kpi": "roas", "op": "<", "value": 1},
                     {"kpi": "cpa", "op": ">", "value": 50}]},
        ]},
    }  # fmt: skip
    base = _norm(nested)
    v, notes = spec_to_form(base)
    assert notes and "YAML" in notes[0]
    assert set(CONDITION_FIELDS) <= locked(base)
    v["c0.kpi"] = "clicks"  # a locked field changed anyway: ignored
    v["name"] = "renamed"
    out = Rule.model_validate(form_to_spec(base, v))
    assert out.name == "renamed"
    assert out.conditions == Rule.model_validate(base).conditions
