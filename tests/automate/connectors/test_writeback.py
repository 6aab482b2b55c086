"""Executed changes are written back to ``entities`` (exact values as sent); other statuses and
unknown entities are not."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import ibis

from spendlab.automate.connectors import ExecutionResult, ResultStatus
from spendlab.automate.connectors.writeback import write_back
from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.data.schema import table_spec

D = date(2026, 11, 2)


def _seed(wh, fx: float = 1.0, currency: str = "USD") -> None:
    spec = table_spec("entities")
    base = dict.fromkeys(spec.names)
    rows = []
    for kid, bid in (("4", 1.0), ("5", 2.0)):
        r = dict(base)
        r.update(
            platform="google_ads",
            level="keyword",
            account_id="1",
            campaign_id="2",
            ad_group_id="3",
            keyword_id=kid,
            ad_id="",
            name=f"kw {kid}",
            status="enabled",
            bid=bid,
            currency=currency,
            fx_rate=fx,
            match_type="Exact",
        )
        rows.append(r)
    schema = ibis.schema({c.name: c.ibis_type for c in spec.columns})
    expr = ibis.memtable({c: [r[c] for r in rows] for c in spec.names}, schema=schema)
    with wh.transaction():
        wh.upsert("entities", expr, "seed", rows=len(rows))


def _kw(kid: str) -> EntityRef:
    return EntityRef("google_ads", Level.KEYWORD, "1", "2", "3", kid)


def test_write_back(workspace) -> None:
    _seed(workspace)
    bid = Action(_kw("4"), ActionKind.SET_BID, Decimal("1.00"), Decimal("1.2345"), "r", D)
    pause = Action(_kw("5"), ActionKind.PAUSE, "enabled", "paused", "r", D)
    validated = Action(_kw("5"), ActionKind.SET_BID, Decimal("2.00"), Decimal("9.00"), "r", D)
    ghost = Action(_kw("404"), ActionKind.PAUSE, "enabled", "paused", "r", D)
    results = [
        ExecutionResult(bid, ResultStatus.EXECUTED, applied_value=Decimal("1.23")),
        ExecutionResult(pause, ResultStatus.EXECUTED, applied_value="paused"),
        ExecutionResult(validated, ResultStatus.VALIDATED, applied_value=Decimal("9.00")),
        ExecutionResult(ghost, ResultStatus.EXECUTED),
    ]
    out = write_back(workspace, results, now=datetime(2026, 11, 2, 6, 0))
    assert out["updated"] == 2 and out["missing"] == [list(_kw("404").key())]
    rows = {r["keyword_id"]: r for r in workspace.table("entities").to_pyarrow().to_pylist()}
    assert rows["4"]["bid"] == 1.23 and rows["4"]["status"] == "enabled"
    assert rows["5"]["bid"] == 2.0 and rows["5"]["status"] == "paused"  # validated: not written
    assert rows["4"]["name"] == "kw 4" and rows["4"]["updated_at"] == datetime(2026, 11, 2, 6, 0)
    # idempotent: the same results again change nothing
    again = write_back(workspace, results, now=datetime(2026, 11, 2, 6, 0))
    assert again["updated"] == 0 and again["unchanged"] == 2


def test_write_back_converts_account_currency_to_workspace(workspace) -> None:
    _seed(workspace, fx=1.1, currency="EUR")
    bid = Action(_kw("4"), ActionKind.SET_BID, Decimal("1.10"), Decimal("2.20"), "r", D)
    # the platform got 2.00 EUR (2.20 USD / 1.1); entities stores USD
    res = [ExecutionResult(bid, ResultStatus.EXECUTED, applied_value=Decimal("2.00"))]
    write_back(workspace, res)
    rows = {r["keyword_id"]: r for r in workspace.table("entities").to_pyarrow().to_pylist()}
    assert abs(rows["4"]["bid"] - 2.2) < 1e-12
