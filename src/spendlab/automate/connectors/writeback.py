"""Write executed changes back to the ``entities`` table, so the next rules run starts from the
values the platform now holds.

Only results whose status is in ``statuses`` (``executed`` by default: ``validated`` changed
nothing and ``exported`` files may not have been uploaded yet) are written, with the value as
sent (``applied_value``: rounded, in the account's currency, converted back to the workspace
currency with the entity's ``fx_rate``). Entities not in the table are reported as
``missing``, never invented (the table needs names, currency and more than an action knows).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ibis

from spendlab.automate.connectors.base import ExecutionResult, ResultStatus
from spendlab.core.actions import ActionKind
from spendlab.data.schema import table_spec
from spendlab.data.warehouse import Warehouse

KEY = ("platform", "level", "account_id", "campaign_id", "ad_group_id", "keyword_id", "ad_id")


def write_back(
    wh: Warehouse,
    results: Sequence[ExecutionResult],
    *,
    statuses: Iterable[ResultStatus] = (ResultStatus.EXECUTED,),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Update bid, budget and status of the entities the results changed; returns counts and the
    keys of entities that were not found."""
    wanted = set(statuses)
    # key -> {field: (value, sent_in_account_currency)}; later results win
    updates: dict[tuple[str, ...], dict[str, tuple[Any, bool]]] = {}
    for r in results:
        a = r.action
        if r.status not in wanted or a.kind not in (
            ActionKind.SET_BID,
            ActionKind.SET_BUDGET,
            ActionKind.PAUSE,
            ActionKind.ENABLE,
        ):
            continue
        if a.kind in (ActionKind.PAUSE, ActionKind.ENABLE):
            entry: tuple[Any, bool] = ("paused" if a.kind is ActionKind.PAUSE else "enabled", False)
        elif isinstance(r.applied_value, Decimal):
            entry = (r.applied_value, True)
        else:
            entry = (a.new_value, False)
        updates.setdefault(a.entity.key(), {})[a.field or ""] = entry
    if not updates:
        return {"updated": 0, "unchanged": 0, "missing": []}
    keys = ibis.memtable(
        {k: [key[i] for key in updates] for i, k in enumerate(KEY)},
        schema=ibis.schema(dict.fromkeys(KEY, "string")),
    )
    t = wh.table("entities")
    found = t.semi_join(keys, [t[k] == keys[k] for k in KEY]).to_pyarrow().to_pylist()
    stamp = now or datetime.now(UTC)
    rows = []
    for row in found:
        key = tuple(row[k] for k in KEY)
        fx = Decimal(repr(float(row.get("fx_rate") or 1.0)))
        for col, (value, in_account) in updates.pop(key, {}).items():
            if isinstance(value, Decimal):  # back into the workspace currency the table uses
                value = float(value * fx) if in_account else float(value)
            row[col] = value
        row["updated_at"] = stamp.replace(tzinfo=None) if stamp.tzinfo else stamp
        rows.append(row)
    spec = table_spec("entities")
    schema = ibis.schema({c.name: c.ibis_type for c in spec.columns})
    counts = None
    if rows:
        expr = ibis.memtable({c: [r.get(c) for r in rows] for c in spec.names}, schema=schema)
        with wh.transaction():
            counts = wh.upsert(
                "entities", expr, f"writeback-{uuid.uuid4().hex[:12]}", rows=len(rows)
            )
    return {
        "updated": counts.replaced if counts else 0,
        "unchanged": counts.unchanged if counts else 0,
        "missing": [list(k) for k in updates],
    }
