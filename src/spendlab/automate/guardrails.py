"""Guardrails: what may run, whatever the rules propose.

Applied after conflict resolution, in a fixed order, deterministically (actions sorted by
priority, rule id and entity): kill switch -> circuit breaker -> floors/ceilings and maximum step
(clamped) -> cooldown per entity across rules -> maximum executions per entity and per rule ->
caps per run and per day. A stopped action is kept with status ``blocked`` and the guardrail in
its reason, so the log shows what did not happen and why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field

from spendlab.automate.rules.spec import Rule
from spendlab.core.actions import Action, ActionKind, ActionStatus

CENT = Decimal("0.01")


class Guardrails(BaseModel):
    """Global limits (per-rule ones are in each rule's ``limits`` and ``action``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kill_switch: bool = False
    bid_min: float = Field(0.01, ge=0)
    bid_max: float | None = Field(None, gt=0)
    budget_min: float = Field(1.0, ge=0)
    budget_max: float | None = Field(None, gt=0)
    max_step_pct: float | None = Field(50.0, gt=0)
    cooldown_days: int = Field(0, ge=0)
    max_executions_per_entity: int | None = Field(None, ge=1)
    executions_window_days: int = Field(30, ge=1)
    max_actions_per_run: int | None = Field(None, ge=1)
    max_actions_per_day: int | None = Field(None, ge=1)
    circuit_breaker: int | None = Field(
        None, ge=1, description="More proposed changes than this in one run blocks the whole run"
    )


@dataclass(frozen=True)
class Executed:
    """One past executed change (from the action log)."""

    entity_key: tuple[str, ...]
    rule_id: str | None
    day: date


@dataclass
class History:
    executed: list[Executed] = field(default_factory=list)

    def last_change(self, key: tuple[str, ...]) -> date | None:
        days = [e.day for e in self.executed if e.entity_key == key]
        return max(days) if days else None

    def count(self, key: tuple[str, ...], since: date, rule_id: str | None = None) -> int:
        return sum(
            1
            for e in self.executed
            if e.entity_key == key and e.day >= since and (rule_id is None or e.rule_id == rule_id)
        )

    def on_day(self, day: date) -> int:
        return sum(1 for e in self.executed if e.day == day)


def order(actions: list[Action]) -> list[Action]:
    return sorted(actions, key=lambda a: (-a.priority, a.rule_id or "", a.entity.key(), a.kind))


def _block(a: Action, why: str) -> Action:
    return replace(a, status=ActionStatus.BLOCKED, reason=f"blocked: {why} | {a.reason}")


def clamp(a: Action, g: Guardrails) -> Action | str:
    """Bound a numeric change by the global floor/ceiling and max step; a reason if nothing is
    left of it."""
    if a.kind not in (ActionKind.SET_BID, ActionKind.SET_BUDGET):
        return a
    old, new = a.old_value, a.new_value
    assert isinstance(old, Decimal) and isinstance(new, Decimal)
    lo, hi = (
        (g.bid_min, g.bid_max) if a.kind is ActionKind.SET_BID else (g.budget_min, g.budget_max)
    )
    if g.max_step_pct is not None:
        step = old * Decimal(str(g.max_step_pct)) / 100
        new = min(max(new, old - step), old + step)
    new = max(new, Decimal(str(lo)))
    if hi is not None:
        new = min(new, Decimal(str(hi)))
    new = new.quantize(CENT, rounding=ROUND_HALF_UP)
    if new == old:
        return "no change left within floors, ceilings and max step"
    return replace(a, new_value=new) if new != a.new_value else a


def apply_guardrails(
    actions: list[Action],
    g: Guardrails,
    *,
    as_of: date,
    history: History | None = None,
    rules: dict[str, Rule] | None = None,
) -> list[Action]:
    """Every action back, each either still ``proposed`` (maybe clamped) or ``blocked``."""
    history = history or History()
    rules = rules or {}
    acts = order([a for a in actions if a.status is not ActionStatus.BLOCKED])
    passed_through = [a for a in actions if a.status is ActionStatus.BLOCKED]
    changes = [a for a in acts if a.kind is not ActionKind.ALERT]
    if g.kill_switch:
        return [_block(a, "kill switch is on") for a in acts] + passed_through
    if g.circuit_breaker is not None and len(changes) > g.circuit_breaker:
        why = f"circuit breaker: {len(changes)} changes > {g.circuit_breaker} in one run"
        return [a if a.kind is ActionKind.ALERT else _block(a, why) for a in acts] + passed_through
    out: list[Action] = []
    run_count = 0
    day_count = history.on_day(as_of)
    per_rule: Counter[str] = Counter()
    for a in acts:
        if a.kind is ActionKind.ALERT:
            out.append(a)
            continue
        c = clamp(a, g)
        if isinstance(c, str):
            out.append(_block(a, c))
            continue
        a = c
        key = a.entity.key()
        rule = rules.get(a.rule_id or "")
        cooldown = max(g.cooldown_days, rule.limits.cooldown_days if rule else 0)
        last = history.last_change(key)
        if cooldown and last is not None and (as_of - last).days < cooldown:
            out.append(_block(a, f"cooldown: entity changed on {last} (< {cooldown} days)"))
            continue
        if g.max_executions_per_entity is not None:
            since = as_of - timedelta(days=g.executions_window_days)
            if history.count(key, since) >= g.max_executions_per_entity:
                out.append(_block(a, f"entity reached {g.max_executions_per_entity} changes"))
                continue
        if rule and rule.limits.max_executions is not None:
            if history.count(key, date.min, rule.id) >= rule.limits.max_executions:
                out.append(_block(a, f"rule reached {rule.limits.max_executions} executions"))
                continue
        if rule and rule.limits.max_actions_per_run is not None:
            if per_rule[rule.id] >= rule.limits.max_actions_per_run:
                out.append(_block(a, "rule's cap per run reached"))
                continue
        if g.max_actions_per_run is not None and run_count >= g.max_actions_per_run:
            out.append(_block(a, f"cap of {g.max_actions_per_run} changes per run reached"))
            continue
        if g.max_actions_per_day is not None and day_count >= g.max_actions_per_day:
            out.append(_block(a, f"cap of {g.max_actions_per_day} changes per day reached"))
            continue
        run_count += 1
        day_count += 1
        per_rule[a.rule_id or ""] += 1
        out.append(a)
    return out + passed_through
