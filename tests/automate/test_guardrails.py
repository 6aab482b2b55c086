"""Guardrails and conflicts: random actions, rules and history never produce an action outside
floors, ceilings, max step, cooldowns or caps; conflict resolution is deterministic."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from spendlab.automate.conflicts import resolve
from spendlab.automate.guardrails import Executed, Guardrails, History, apply_guardrails
from spendlab.automate.rules.evaluate import new_amount
from spendlab.automate.rules.spec import Rule
from spendlab.core.actions import Action, ActionKind, ActionStatus, EntityRef
from spendlab.core.hierarchy import Level

DAY = date(2024, 3, 1)


def _ent(i: int) -> EntityRef:
    return EntityRef("google_ads", Level.KEYWORD, "1", "2", "3", f"k{i}")


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)


@st.composite
def actions(draw):
    n = draw(st.integers(1, 25))
    out = []
    for _ in range(n):
        kind = draw(st.sampled_from([ActionKind.SET_BID, ActionKind.SET_BUDGET,
                                     ActionKind.PAUSE, ActionKind.ENABLE]))  # fmt: skip
        e = _ent(draw(st.integers(0, 6)))
        if kind in (ActionKind.PAUSE, ActionKind.ENABLE):
            old, new = ("enabled", "paused") if kind is ActionKind.PAUSE else ("paused", "enabled")
        else:
            old, new = draw(money), draw(money)
        out.append(Action(e, kind, old, new, "r", DAY, rule_id=f"r{draw(st.integers(0, 3))}",
                          priority=draw(st.integers(0, 2))))  # fmt: skip
    return out


@settings(max_examples=150)
@given(
    acts=actions(),
    g=st.builds(
        Guardrails,
        bid_min=st.floats(0.01, 1),
        bid_max=st.one_of(st.none(), st.floats(1, 50)),
        budget_min=st.floats(0, 10),
        budget_max=st.one_of(st.none(), st.floats(10, 300)),
        max_step_pct=st.one_of(st.none(), st.floats(1, 100)),
        cooldown_days=st.integers(0, 5),
        max_executions_per_entity=st.one_of(st.none(), st.integers(1, 3)),
        max_actions_per_run=st.one_of(st.none(), st.integers(1, 10)),
        max_actions_per_day=st.one_of(st.none(), st.integers(1, 12)),
        circuit_breaker=st.one_of(st.none(), st.integers(1, 30)),
    ),
    past=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 10)), max_size=10),
)
def test_guardrails_never_broken(acts, g, past):
    hist = History([Executed(_ent(i).key(), "r0", DAY - timedelta(days=d)) for i, d in past])
    out = apply_guardrails(resolve(acts), g, as_of=DAY, history=hist)
    live = [a for a in out if a.status is ActionStatus.PROPOSED]
    assert len(live) <= len(acts)
    changes = [a for a in live if a.kind is not ActionKind.ALERT]
    if g.max_actions_per_run is not None:
        assert len(changes) <= g.max_actions_per_run
    if g.max_actions_per_day is not None:
        assert len(changes) + hist.on_day(DAY) <= max(g.max_actions_per_day, hist.on_day(DAY))
    if g.circuit_breaker is not None and len([a for a in acts]) > g.circuit_breaker:
        pass  # counted after conflicts: checked below
    assert len({(a.entity.key(), a.field) for a in changes}) == len(changes)
    for a in changes:
        last = hist.last_change(a.entity.key())
        if g.cooldown_days and last is not None:
            assert (DAY - last).days >= g.cooldown_days
        if g.max_executions_per_entity is not None:
            since = DAY - timedelta(days=g.executions_window_days)
            assert hist.count(a.entity.key(), since) < g.max_executions_per_entity
        if a.kind in (ActionKind.SET_BID, ActionKind.SET_BUDGET):
            lo, hi = ((g.bid_min, g.bid_max) if a.kind is ActionKind.SET_BID
                      else (g.budget_min, g.budget_max))  # fmt: skip
            new, old = a.new_value, a.old_value
            assert new != old
            assert new >= Decimal(str(lo)) - Decimal("0.005")
            if hi is not None:
                assert new <= Decimal(str(hi)) + Decimal("0.005")
            if (
                g.max_step_pct is not None
                and old >= Decimal(str(lo))
                and (hi is None or old <= Decimal(str(hi)))
            ):
                step = old * Decimal(str(g.max_step_pct)) / 100
                assert abs(new - old) <= step + Decimal("0.005")
    if g.circuit_breaker is not None:
        n = sum(1 for a in resolve(acts) if a.status is ActionStatus.PROPOSED)
        if n > g.circuit_breaker:
            assert not changes
    if g.kill_switch:
        assert not changes


@settings(max_examples=100)
@given(acts=actions(), seed=st.integers(0, 10_000))
def test_conflicts_deterministic(acts, seed):
    shuffled = list(acts)
    random.Random(seed).shuffle(shuffled)
    a = sorted(map(repr, resolve(acts)))
    b = sorted(map(repr, resolve(shuffled)))
    assert a == b
    live = [x for x in resolve(acts) if x.status is ActionStatus.PROPOSED]
    assert len({(x.entity.key(), x.field) for x in live}) == len(live)


def test_opposite_actions_cancel_or_conservative_wins():
    e = _ent(1)
    up = Action(e, ActionKind.SET_BID, Decimal("1.00"), Decimal("1.30"), "up", DAY, rule_id="a")
    down = Action(e, ActionKind.SET_BID, Decimal("1.00"), Decimal("0.90"), "dn", DAY, rule_id="b")
    cons = [x for x in resolve([up, down]) if x.status is ActionStatus.PROPOSED]
    assert [x.new_value for x in cons] == [Decimal("0.90")]  # the smaller change
    assert not [x for x in resolve([up, down], policy="cancel") if x.status.value == "proposed"]
    hi = Action(e, ActionKind.SET_BID, Decimal("1.00"), Decimal("1.30"), "", DAY, rule_id="c",
                priority=5)  # fmt: skip
    win = [
        x for x in resolve([up, down, hi], max_net_change_pct=10) if x.status.value == "proposed"
    ]
    assert [(x.rule_id, x.new_value) for x in win] == [("c", Decimal("1.10"))]
    p = Action(e, ActionKind.PAUSE, "enabled", "paused", "", DAY, rule_id="z")
    en = Action(e, ActionKind.ENABLE, "enabled", "enabled", "", DAY, rule_id="a")
    assert [x.rule_id for x in resolve([p, en]) if x.status.value == "proposed"] == ["z"]


@settings(max_examples=200)
@given(
    old=money,
    mode=st.sampled_from(["percent", "absolute", "set", "target_cpa", "target_roas"]),
    value=st.floats(1, 90),
    lo=st.one_of(st.none(), st.floats(0, 2)),
    span=st.floats(0, 20),
    step=st.one_of(st.none(), st.floats(1, 80)),
    kpi=st.one_of(st.none(), st.floats(0.01, 100), st.just(float("inf"))),
)
def test_rule_bounds_hold(old, mode, value, lo, span, step, kpi):
    rule = Rule.model_validate({
        "id": "x", "conditions": {"kpi": "spend", "op": ">", "value": 0},
        "action": {"type": "bid", "mode": mode, "value": value, "min": lo,
                   "max": None if lo is None else lo + span, "max_step_pct": step}})  # fmt: skip
    new = new_amount(rule, old, kpi)
    if new is None:
        assert mode.startswith("target") and kpi is None
        return
    if lo is not None:
        assert (
            Decimal(str(lo)) - Decimal("0.005") <= new <= Decimal(str(lo + span)) + Decimal("0.005")
        )
    elif step is not None:
        assert abs(new - old) <= old * Decimal(str(step)) / 100 + Decimal("0.005")
    assert new >= 0
