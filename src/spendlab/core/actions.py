"""The action: one proposed or executed change to one ad entity.

It lives in core because two sibling layers produce it: the rules engine (``automate/``) and the
daily budget allocator (``plan/``) emit
:class:`Action` objects; guardrails, the action log, undo and the connectors consume them. An
action always carries the absolute old and new value (never a percentage), so an export file
imported twice does not compound and undo restores the exact old value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from dataclasses import field as dc_field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from spendlab.core.hierarchy import Level


class ActionKind(StrEnum):
    """What an action does to its entity."""

    SET_BID = "set_bid"
    SET_BUDGET = "set_budget"
    PAUSE = "pause"
    ENABLE = "enable"
    LABEL = "label"
    ALERT = "alert"


#: The ``entities`` column each kind changes (alerts change nothing).
FIELD_OF: dict[ActionKind, str | None] = {
    ActionKind.SET_BID: "bid",
    ActionKind.SET_BUDGET: "budget",
    ActionKind.PAUSE: "status",
    ActionKind.ENABLE: "status",
    ActionKind.LABEL: "labels",
    ActionKind.ALERT: None,
}


class ActionStatus(StrEnum):
    """Life cycle of an action in the log."""

    PROPOSED = "proposed"  # preview / suggest mode: waits for approval
    APPROVED = "approved"
    REJECTED = "rejected"
    BLOCKED = "blocked"  # stopped by a guardrail; ``reason`` says which
    EXECUTED = "executed"
    FAILED = "failed"
    UNDONE = "undone"


@dataclass(frozen=True, slots=True)
class EntityRef:
    """Address of an ad entity: platform, level and the ids of every level down to its own
    ('' where a level does not apply), the same keys as the ``entities`` table."""

    platform: str
    level: Level
    account_id: str = ""
    campaign_id: str = ""
    ad_group_id: str = ""
    keyword_id: str = ""
    ad_id: str = ""

    @property
    def entity_id(self) -> str:
        """The id of the entity at its own level."""
        return getattr(self, f"{Level(self.level).value}_id", "") or self.account_id

    def key(self) -> tuple[str, ...]:
        return (
            self.platform,
            Level(self.level).value,
            self.account_id,
            self.campaign_id,
            self.ad_group_id,
            self.keyword_id,
            self.ad_id,
        )


Value = Decimal | str | None


@dataclass(frozen=True, slots=True)
class Action:
    """One change to one entity.

    ``old_value``/``new_value`` are absolute: Decimal for bids and budgets (workspace currency),
    'enabled'/'paused' for status, a JSON list string for labels, None for alerts.
    ``reason`` is plain language with the matched values
    ("cost last 7 days 512.40 > 1.5 x previous 7 days 300.10").
    """

    entity: EntityRef
    kind: ActionKind
    old_value: Value
    new_value: Value
    reason: str
    as_of: date
    source: str = "rules"  # "rules" or "allocator"
    rule_id: str | None = None
    rule_version: int | None = None
    run_id: str | None = None
    priority: int = 0
    until: date | None = None  # pause-until: re-enable on this date
    features: dict[str, Any] = dc_field(default_factory=dict)  # matched feature values
    status: ActionStatus = ActionStatus.PROPOSED

    @property
    def field(self) -> str | None:
        return FIELD_OF[self.kind]

    @property
    def change(self) -> Decimal | None:
        """new - old for numeric actions, else None."""
        if isinstance(self.old_value, Decimal) and isinstance(self.new_value, Decimal):
            return self.new_value - self.old_value
        return None

    def idempotency_key(self) -> str:
        """Same entity, kind, target value and day -> same key (re-runs do not duplicate)."""
        value = self.new_value
        # Decimal('1.10') and Decimal('1.1') (a float round trip through JSON) are one target
        text = format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)
        payload = json.dumps([list(self.entity.key()), self.kind.value, text, str(self.as_of)])
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def with_status(self, status: ActionStatus, reason: str | None = None) -> Action:
        return replace(self, status=status, reason=reason if reason is not None else self.reason)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the shape of ``spendlab rules run --json``)."""
        d = asdict(self)
        ent = d.pop("entity")
        return {
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "run_id": self.run_id,
            "source": self.source,
            "level": Level(self.entity.level).value,
            "entity_id": self.entity.entity_id,
            "entity": {k: (v.value if isinstance(v, Level) else v) for k, v in ent.items()},
            "action": self.kind.value,
            "field": self.field,
            "old_value": _jsonable(self.old_value),
            "new_value": _jsonable(self.new_value),
            "reason": self.reason,
            "as_of": self.as_of.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "priority": self.priority,
            "status": self.status.value,
            "features": {k: _jsonable(v) for k, v in d["features"].items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Action:
        """Inverse of :meth:`to_dict` (reads the JSON ``spendlab rules run --json`` prints).

        Bids and budgets come back as Decimal from the JSON number's shortest text form, so a value
        written as 1.23 reads back as ``Decimal('1.23')``, not the binary float's expansion.
        """
        ent = dict(d["entity"])
        entity = EntityRef(
            platform=str(ent.pop("platform")),
            level=Level(ent.pop("level")),
            **{k: "" if v is None else str(v) for k, v in ent.items()},
        )
        kind = ActionKind(d["action"])
        return cls(
            entity=entity,
            kind=kind,
            old_value=_value_of(kind, d.get("old_value")),
            new_value=_value_of(kind, d.get("new_value")),
            reason=str(d.get("reason") or ""),
            as_of=date.fromisoformat(d["as_of"]),
            source=str(d.get("source") or "rules"),
            rule_id=d.get("rule_id"),
            rule_version=d.get("rule_version"),
            run_id=d.get("run_id"),
            priority=int(d.get("priority") or 0),
            until=date.fromisoformat(d["until"]) if d.get("until") else None,
            features=dict(d.get("features") or {}),
            status=ActionStatus(d.get("status") or ActionStatus.PROPOSED.value),
        )


def _value_of(kind: ActionKind, v: Any) -> Value:
    """A JSON value back to the Action's value type (Decimal for bids and budgets)."""
    if v is None:
        return None
    if kind in (ActionKind.SET_BID, ActionKind.SET_BUDGET):
        return Decimal(repr(v)) if isinstance(v, float) else Decimal(str(v))
    return str(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, date | datetime):
        return v.isoformat()
    return v
