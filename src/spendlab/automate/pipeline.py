"""Run modes: preview (dry run on any date), suggest-then-approve, automatic; execution into
the ``entities`` table, undo, pause-until releases, idempotent re-runs and backtests.

Execution writes absolute new values to the workspace's ``entities`` table in one Warehouse
transaction (Ibis upsert, never SQL strings); the connectors push the same actions to the ad
platforms. Undo writes the logged old values back (newest first, so undoing a run or a rule
restores the exact values from before it).

The log is a :class:`~spendlab.automate.store.RuleStore`: one workspace's rows of the store, so
approving, undoing, re-run checks and guardrail history never see another workspace's actions.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

import ibis
import pandas as pd

from spendlab.automate import store
from spendlab.automate.conflicts import Policy, resolve
from spendlab.automate.guardrails import Executed, Guardrails, History, apply_guardrails
from spendlab.automate.rules.evaluate import evaluate
from spendlab.automate.rules.spec import Rule
from spendlab.automate.store import RuleStore
from spendlab.core.actions import Action, ActionKind, ActionStatus
from spendlab.core.faults import checkpoint
from spendlab.data.schema import table_spec
from spendlab.data.warehouse import Warehouse
from spendlab.errors import ConfigError

Mode = Literal["preview", "suggest", "auto"]
ID_COLS = ("account_id", "campaign_id", "ad_group_id", "keyword_id", "ad_id")


@dataclass
class RunResult:
    run_id: str
    as_of: date
    mode: Mode
    actions: list[Action] = field(default_factory=list)
    action_ids: list[int] = field(default_factory=list)
    skipped_rules: list[str] = field(default_factory=list)  # already ran for this date

    def to_dicts(self) -> list[dict]:
        out = []
        for i, a in enumerate(self.actions):
            d = a.to_dict()
            d["action_id"] = self.action_ids[i] if i < len(self.action_ids) else None
            out.append(d)
        return out


def _run_id(as_of: date, mode: str) -> str:
    return f"{as_of:%Y%m%d}-{mode}-{uuid.uuid4().hex[:8]}"


def history(rs: RuleStore) -> History:
    rows = store.select_actions(rs, status=[ActionStatus.EXECUTED.value])
    return History([Executed(a.entity.key(), a.rule_id, a.as_of) for _, a, _ in rows])


def run_rules(
    wh: Warehouse,
    rules: list[Rule],
    as_of: date,
    *,
    mode: Mode = "preview",
    rs: RuleStore | None = None,
    guardrails: Guardrails | None = None,
    policy: Policy = "conservative",
    approver: str | None = None,
    respect_schedule: bool = True,
) -> RunResult:
    """Evaluate the rules due on ``as_of``, resolve conflicts, apply guardrails, and (by mode)
    return them (preview), log them as proposed (suggest) or log and execute them (auto) in the
    workspace's log ``rs``. Re-running a rule version for a date it already ran on in this
    workspace (suggest/auto) does nothing new."""
    if mode not in ("preview", "suggest", "auto"):
        raise ConfigError(f"mode {mode!r} is not preview, suggest or auto")
    if mode != "preview" and rs is None:
        raise ConfigError(f"mode {mode!r} needs the workspace's rule store for the action log")
    g = guardrails or Guardrails()
    res = RunResult(_run_id(as_of, mode), as_of, mode)
    due = [r for r in rules if r.enabled and (not respect_schedule or r.schedule.is_due(as_of))]
    if rs is not None and mode != "preview":
        done = store.ran_on(rs, as_of)
        res.skipped_rules = sorted(r.id for r in due if (r.id, r.version) in done)
        due = [r for r in due if (r.id, r.version) not in done]
    ev = evaluate(
        wh.con, wh.table("ad_performance"), wh.table("entities"), due, as_of, run_id=res.run_id
    )
    acts = ev.actions
    if rs is not None and mode != "preview":  # a preview must not mark releases done
        acts = acts + _releases(rs, as_of, res.run_id)
    acts = resolve(acts, policy=policy)
    hist = history(rs) if rs is not None else History()
    acts = apply_guardrails(acts, g, as_of=as_of, history=hist, rules={r.id: r for r in due})
    res.actions = sorted(acts, key=lambda a: (a.status.value, a.rule_id or "", a.entity.key()))
    if mode == "preview" or rs is None:
        return res
    res.action_ids = store.log_run(rs, res.run_id, as_of, mode, due, res.actions, approver)
    if mode == "auto":
        todo = [i for i, a in zip(res.action_ids, res.actions, strict=True)
                if a.status is ActionStatus.PROPOSED]  # fmt: skip
        approve(wh, rs, todo, approver=approver or "auto")
        status = {i: a for i, a, _ in store.select_actions(rs, ids=res.action_ids)}
        res.actions = [status[i] for i in res.action_ids]
    return res


def _releases(rs: RuleStore, as_of: date, run_id: str) -> list[Action]:
    """Enable actions for executed pause-until actions whose date has come."""
    out = []
    for _, a, row in store.select_actions(rs, status=[ActionStatus.EXECUTED.value]):
        if a.kind is ActionKind.PAUSE and a.until is not None and a.until <= as_of:
            if not row["released"]:
                out.append(
                    replace(
                        a,
                        kind=ActionKind.ENABLE,
                        old_value="paused",
                        new_value="enabled",
                        reason=f"pause until {a.until} ended (action {row['id']})",
                        as_of=as_of,
                        run_id=run_id,
                        until=None,
                        status=ActionStatus.PROPOSED,
                    )
                )
                store.set_status(rs, [row["id"]], ActionStatus.EXECUTED, released=True)
    return out


# -- execution and undo ----------------------------------------------------------------------
def write_entities(wh: Warehouse, changes: list[tuple[Action, object]], load_id: str) -> int:
    """Set each action's field to the given value in ``entities`` (one transaction)."""
    changes = [(a, v) for a, v in changes if a.field is not None]
    if not changes:
        return 0
    spec = table_spec("entities")
    keys = pd.DataFrame(
        [
            {
                "platform": a.entity.platform,
                "level": a.entity.level.value,
                **{c: getattr(a.entity, c) for c in ID_COLS},
            }
            for a, _ in changes
        ]  # fmt: skip
    ).drop_duplicates()
    ents = wh.table("entities")
    k = ibis.memtable(keys)
    cur = ents.semi_join(k, [ents[c] == k[c] for c in keys.columns]).select(*spec.names)
    frame = cur.to_pandas()
    frame["labels"] = frame["labels"].map(
        lambda v: v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    )
    idx = {tuple(r[c] for c in keys.columns): i for i, r in frame.iterrows()}
    for a, value in changes:
        key = (a.entity.platform, a.entity.level.value, *(getattr(a.entity, c) for c in ID_COLS))
        if key not in idx:
            raise ConfigError(f"entity {key} is not in `entities`; cannot change {a.field}")
        v = float(value) if isinstance(value, Decimal) else value
        frame.at[idx[key], a.field] = v
    frame["updated_at"] = pd.Timestamp(store.now())
    schema = spec.ibis_schema()
    t = ibis.memtable(frame.astype({"labels": "object"})).cast({c: schema[c] for c in spec.names})
    with wh.transaction():
        wh.upsert("entities", t, load_id, rows=len(frame))
    return len(frame)


@dataclass(frozen=True)
class Refused:
    """An action left alone because its entity changed since it was logged."""

    id: int
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"action_id": self.id, "message": self.message}


class Applied(list[int]):
    """The ids an approve/undo carried out; ``refused`` lists the stale ones it left alone."""

    def __init__(self, ids: Iterable[int] = (), refused: list[Refused] | None = None) -> None:
        super().__init__(ids)
        self.refused: list[Refused] = refused or []


#: Bids and budgets count as unchanged within this difference (``entities`` stores floats).
TOLERANCE = Decimal("0.000001")


def current_values(wh: Warehouse, acts: list[Action]) -> dict[tuple, object]:
    """The entities' current value of each action's field, keyed by (entity key, field);
    missing entities are absent."""
    acts = [a for a in acts if a.field is not None]
    if not acts:
        return {}
    keys = pd.DataFrame(
        [
            {
                "platform": a.entity.platform,
                "level": a.entity.level.value,
                **{c: getattr(a.entity, c) for c in ID_COLS},
            }
            for a in acts
        ]  # fmt: skip
    ).drop_duplicates()
    ents = wh.table("entities")
    k = ibis.memtable(keys)
    cols = list(keys.columns)
    cur = ents.semi_join(k, [ents[c] == k[c] for c in cols]).select(
        *cols, "status", "bid", "budget", "labels"
    )
    out: dict[tuple, object] = {}
    for r in cur.to_pyarrow().to_pylist():
        key = tuple(r[c] for c in cols)
        for f in ("status", "bid", "budget", "labels"):
            out[(key, f)] = r[f]
    return out


def _same(fld: str, current: object, expected: object) -> bool:
    """Whether an entity's current value equals a logged value (amounts within TOLERANCE,
    labels as the same list)."""
    if fld in ("bid", "budget"):
        if current is None or expected is None:
            return current is None and expected is None
        cur = Decimal(str(current))
        return abs(cur - Decimal(str(expected))) <= TOLERANCE
    if fld == "labels":

        def norm(v: object) -> list[str]:
            if v is None or v == "":
                return []
            if isinstance(v, str):
                try:
                    v = json.loads(v)
                except ValueError:
                    return [v]
            return sorted(str(x) for x in v) if isinstance(v, list | tuple) else [str(v)]

        return norm(current) == norm(expected)
    return (None if current is None else str(current)) == (
        None if expected is None else str(expected)
    )


def _show(v: object) -> str:
    return "missing" if v is None else str(v)


def _unmarked_write(rs: RuleStore, a: Action, now: object) -> bool:
    """Whether the entity already holds ``a``'s new value although no executed action set it:
    an approval that stopped (a crash) after the warehouse's commit, before the log's."""
    if not _same(str(a.field), now, a.new_value):
        return False
    return not any(
        b.entity.key() == a.entity.key()
        and b.field == a.field
        and _same(str(a.field), now, b.new_value)
        for _, b, _ in store.select_actions(rs, status=[ActionStatus.EXECUTED.value])
    )


def _stale(
    wh: Warehouse,
    rs: RuleStore,
    rows: list[tuple[int, Action, dict]],
    *,
    expect: Literal["old", "new"],
) -> dict[int, str]:
    """Action id -> why it is stale: the entity's current value is not the action's old value
    (approve) or new value (undo). For undo, only the newest action of each entity field is
    compared (the older ones unwind from it)."""
    cur = current_values(wh, [a for _, a, _ in rows])
    out: dict[int, str] = {}
    seen: set[tuple] = set()
    moved: set[tuple] = set()  # approve: fields an earlier action of this batch moved on
    # approve: oldest first, each accepted action moves its field on for the next one
    order = sorted(rows, key=lambda r: r[0], reverse=expect == "new")
    for i, a, _ in order:
        if a.field is None:
            continue
        group = (a.entity.key(), a.field)
        key = (a.entity.platform, a.entity.level.value, *(getattr(a.entity, c) for c in ID_COLS))
        what = f"{a.kind.value} {a.entity.level.value} {a.entity.entity_id}"
        if (key, a.field) not in cur:
            out[i] = f"action {i} ({what}): the entity is no longer in `entities`"
            continue
        if expect == "new":
            if group in seen:
                continue
            seen.add(group)
        now = cur[(key, a.field)]
        want = a.old_value if expect == "old" else a.new_value
        if _same(a.field, now, want):
            if expect == "old":
                cur[(key, a.field)] = a.new_value
                moved.add(group)
            continue
        if expect == "old" and group not in moved and _unmarked_write(rs, a, now):
            moved.add(group)
            continue  # written by an approval that stopped before logging it: finish it
        if expect == "old":
            out[i] = (
                f"action {i} ({what}): {a.field} is now {_show(now)}, not {_show(want)} as when "
                "it was proposed (it changed since); re-run the rule to propose from the current "
                "value, or force the approval to set it anyway"
            )
        else:
            later = [
                j for j, b, _ in store.select_actions(rs, status=[ActionStatus.EXECUTED.value])
                if j > i and b.entity.key() == a.entity.key() and b.field == a.field
            ]  # fmt: skip
            by = f" by action {later[-1]}" if later else " outside SpendLab"
            out[i] = (
                f"action {i} ({what}): {a.field} is now {_show(now)}, not {_show(want)} as this "
                f"action set it (changed since{by}); undo the newer change first, or force the "
                f"undo to write {_show(a.old_value)} anyway"
            )
    return out


def approve(
    wh: Warehouse,
    rs: RuleStore,
    ids: list[int],
    *,
    approver: str | None = None,
    force: bool = False,
) -> Applied:
    """Execute proposed actions: write their new values, mark them executed. An action whose
    entity no longer holds its old value is refused (``Applied.refused`` says why) unless
    ``force``."""
    rows = store.select_actions(rs, ids=ids, status=[ActionStatus.PROPOSED.value])
    if not rows:
        return Applied()
    stale = {} if force else _stale(wh, rs, rows, expect="old")
    rows = [r for r in rows if r[0] not in stale]
    refused = [Refused(i, m) for i, m in sorted(stale.items())]
    if not rows:
        return Applied([], refused)
    write_entities(wh, [(a, a.new_value) for _, a, _ in rows], f"rules:approve:{rows[0][1].run_id}")
    checkpoint("approve.after_write")  # test hook (core/faults.py): the warehouse is written
    done = [i for i, _, _ in rows]
    store.set_status(rs, done, ActionStatus.EXECUTED, approver=approver, executed_at=store.now())
    return Applied(done, refused)


def reject(rs: RuleStore, ids: list[int], *, approver: str | None = None) -> list[int]:
    rows = store.select_actions(rs, ids=ids, status=[ActionStatus.PROPOSED.value])
    done = [i for i, _, _ in rows]
    store.set_status(rs, done, ActionStatus.REJECTED, approver=approver)
    return done


def undo(
    wh: Warehouse,
    rs: RuleStore,
    *,
    ids: list[int] | None = None,
    run_id: str | None = None,
    rule_id: str | None = None,
    force: bool = False,
) -> Applied:
    """Restore the exact old values of executed actions (one action, a run, or a rule), newest
    first; marks them undone. Returns the undone ids. An entity field that no longer holds the
    newest action's new value is left alone (all its actions in the batch are refused, see
    ``Applied.refused``) unless ``force``."""
    if ids is None and run_id is None and rule_id is None:
        raise ConfigError("say what to undo: action ids, a run id or a rule id")
    rows = store.select_actions(
        rs, ids=ids, run_id=run_id, rule_id=rule_id, status=[ActionStatus.EXECUTED.value]
    )
    rows = sorted(rows, key=lambda r: r[0], reverse=True)
    if not rows:
        return Applied()
    refused: list[Refused] = []
    if not force:
        stale = _stale(wh, rs, rows, expect="new")
        bad: dict[tuple, int] = {}
        for i, a, _ in rows:  # newest first: the first stale id of a group is its newest
            if i in stale:
                bad.setdefault((a.entity.key(), a.field), i)
        for i, a, _ in rows:
            g = (a.entity.key(), a.field)
            if g in bad:
                refused.append(Refused(i, stale.get(i) or (
                    f"action {i}: left alone because the newer action {bad[g]} on the same "
                    f"{a.field} was refused")))  # fmt: skip
        rows = [r for r in rows if (r[1].entity.key(), r[1].field) not in bad]
        refused.sort(key=lambda r: r.id)
    if not rows:
        return Applied([], refused)
    # newest first: apply in that order so the oldest old value ends up written
    final: dict[tuple, tuple[Action, object]] = {}
    for _, a, _ in rows:
        final[(a.entity.key(), a.field)] = (a, a.old_value)
    write_entities(wh, list(final.values()), f"rules:undo:{uuid.uuid4().hex[:8]}")
    done = [i for i, _, _ in rows]
    store.set_status(rs, done, ActionStatus.UNDONE, undone_at=store.now())
    return Applied(done, refused)


# -- backtest --------------------------------------------------------------------------------
def backtest(
    wh: Warehouse,
    rules: list[Rule],
    *,
    end: date,
    days: int = 90,
    horizon: int = 7,
    kpi: str = "spend",
) -> pd.DataFrame:
    """What the rules would have proposed on each of the ``days`` days up to ``end`` (previews
    against the data of the time; current entity state as old values), and the KPI of each
    entity in the ``horizon`` days before and from that day.

    Columns: as_of, rule_id, level, entity_id, action, old_value, new_value, reason,
    kpi_before, kpi_after, kpi_change (relative; NaN when before is 0).
    """
    from spendlab.automate.monitor import kpi_windows

    recs = []
    for i in range(days - 1, -1, -1):
        day = end - timedelta(days=i)
        res = run_rules(wh, rules, day, mode="preview")
        for a in res.actions:
            if a.status is ActionStatus.BLOCKED:
                continue
            d = a.to_dict()
            recs.append({"as_of": day, **{k: d[k] for k in (
                "rule_id", "level", "entity_id", "action", "old_value", "new_value", "reason")},
                "_entity": a.entity})  # fmt: skip
    frame = pd.DataFrame(recs)
    if frame.empty:
        return pd.DataFrame(columns=["as_of", "rule_id", "level", "entity_id", "action",
                                     "old_value", "new_value", "reason", "kpi_before",
                                     "kpi_after", "kpi_change"])  # fmt: skip
    kw = kpi_windows(wh, list(zip(frame["_entity"], frame["as_of"], strict=True)), horizon, kpi)
    frame["kpi_before"] = kw["before"].to_numpy()
    frame["kpi_after"] = kw["after"].to_numpy()
    frame["kpi_change"] = (frame.kpi_after - frame.kpi_before) / frame.kpi_before.where(
        frame.kpi_before != 0
    )
    return frame.drop(columns="_entity")


def digest(rules: list[Rule]) -> str:
    return hashlib.sha256(
        json.dumps([r.model_dump(mode="json") for r in rules], sort_keys=True).encode()
    ).hexdigest()[:12]
