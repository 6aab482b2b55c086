"""Conflict resolution when several rules hit one entity's field in a run (deterministic).

1. Only the highest priority survives (explicit ``priority`` of the rule).
2. Among equals, opposite directions (a raise and a cut, a pause and an enable) either cancel
   (``policy="cancel"``) or the more conservative wins (``"conservative"``: the smaller change
   for bids and budgets, pause over enable).
3. Same direction: the more conservative (smallest change) wins.
4. Labels from several rules merge; alerts never conflict.
5. ``max_net_change_pct`` caps the surviving change relative to the old value.
Ties break on rule id, so the result does not depend on input order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from spendlab.core.actions import Action, ActionKind, ActionStatus

Policy = Literal["conservative", "cancel"]


def _direction(a: Action) -> int:
    if a.kind is ActionKind.PAUSE:
        return -1
    if a.kind is ActionKind.ENABLE:
        return 1
    ch = a.change
    return 0 if ch is None else (1 if ch > 0 else -1 if ch < 0 else 0)


def _size(a: Action) -> Decimal:
    ch = a.change
    return abs(ch) if ch is not None else Decimal(0)


def _lost(a: Action, why: str) -> Action:
    return replace(a, status=ActionStatus.BLOCKED, reason=f"conflict: {why} | {a.reason}")


def resolve(
    actions: list[Action],
    *,
    policy: Policy = "conservative",
    max_net_change_pct: float | None = None,
) -> list[Action]:
    """One surviving action per (entity, field); the others come back ``blocked``."""
    groups: dict[tuple, list[Action]] = defaultdict(list)
    out: list[Action] = []
    for a in actions:
        if a.kind is ActionKind.ALERT or a.status is ActionStatus.BLOCKED:
            out.append(a)
        else:
            groups[(a.entity.key(), a.field)].append(a)
    for (_, fld), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        group = sorted(group, key=lambda a: (-a.priority, a.rule_id or "", str(a.new_value)))
        top = group[0].priority
        best = [a for a in group if a.priority == top]
        out += [_lost(a, f"lower priority than rule {best[0].rule_id}") for a in group[len(best) :]]
        if fld == "labels":
            merged: list[str] = json.loads(str(best[0].old_value or "[]"))
            for a in best:
                for lb in json.loads(str(a.new_value)):
                    if lb not in merged:
                        merged.append(lb)
            first = best[0]
            out.append(replace(first, new_value=json.dumps(merged, ensure_ascii=False)))
            out += [_lost(a, f"labels merged into rule {first.rule_id}") for a in best[1:]]
            continue
        dirs = {_direction(a) for a in best}
        if len(dirs) > 1 and policy == "cancel":
            out += [_lost(a, "opposite actions cancel") for a in best]
            continue
        if fld == "status":
            winner = next((a for a in best if a.kind is ActionKind.PAUSE), best[0])
        else:
            winner = min(best, key=lambda a: (_size(a), a.rule_id or ""))
        if max_net_change_pct is not None and winner.change is not None:
            old = winner.old_value
            assert isinstance(old, Decimal)
            cap = old * Decimal(str(max_net_change_pct)) / 100
            new = min(max(winner.new_value, old - cap), old + cap)  # type: ignore[type-var]
            winner = replace(winner, new_value=new.quantize(Decimal("0.01"), ROUND_HALF_UP))
        out.append(winner)
        out += [
            _lost(a, f"more conservative rule {winner.rule_id} wins")
            for a in best
            if a is not winner
        ]
    return out
