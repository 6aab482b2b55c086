"""Action.from_dict reads back what Action.to_dict (``spendlab rules run --json``) wrote."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from spendlab.core.actions import Action, ActionKind, ActionStatus, EntityRef
from spendlab.core.hierarchy import Level


@given(
    old=st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False),
    new=st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False),
    reason=st.text(),
)
def test_json_round_trip(old: Decimal, new: Decimal, reason: str) -> None:
    a = Action(
        EntityRef("google_ads", Level.KEYWORD, "1", "2", "3", "4"),
        ActionKind.SET_BID,
        old,
        new,
        reason,
        date(2026, 11, 2),
        rule_id="r1",
        rule_version=3,
        run_id="run-9",
        until=date(2026, 11, 9),
        features={"cpa_7d": 12.5},
        status=ActionStatus.APPROVED,
    )
    b = Action.from_dict(json.loads(json.dumps(a.to_dict())))
    assert b.entity == a.entity and b.kind is a.kind and b.reason == reason
    assert b.old_value == old and b.new_value == new  # numerically equal Decimals
    assert (b.rule_id, b.rule_version, b.run_id, b.until, b.status) == (
        "r1",
        3,
        "run-9",
        date(2026, 11, 9),
        ActionStatus.APPROVED,
    )


def test_status_and_alert_values() -> None:
    d = date(2026, 1, 1)
    for kind, old, new in [
        (ActionKind.PAUSE, "enabled", "paused"),
        (ActionKind.ALERT, None, None),
        (ActionKind.LABEL, "[]", '["x"]'),
    ]:
        a = Action(EntityRef("meta", Level.AD, "1", "2", "3", "", "5"), kind, old, new, "r", d)
        assert Action.from_dict(a.to_dict()) == a
