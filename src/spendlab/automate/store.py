"""Persistence of the rules domain: rule versions, runs and the action log (SQLAlchemy 2, its
own ``MetaData``). The app shell includes ``metadata`` in its migrations; tests call
``metadata.create_all(engine)``.

Every row carries its ``workspace`` (the workspace's stable id, :attr:`spendlab.workspace.
Workspace.id`), and every function takes a :class:`RuleStore` -- an engine bound to one
workspace -- and reads and writes only that workspace's rows, so several workspaces can share one
store (``SPENDLAB_STORE_URL``) without seeing each other's rules, queue, log, undo or re-run
checks. Rows written before the column existed (migration ``0006_rules_workspace``) carry ``''``;
migration ``0007_workspace_ids`` re-keys rows keyed by a folder path to that folder's id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from spendlab.automate.rules.spec import Rule
from spendlab.core.actions import Action, ActionKind, ActionStatus, EntityRef
from spendlab.core.faults import checkpoint
from spendlab.core.hierarchy import Level
from spendlab.errors import ConfigError

if TYPE_CHECKING:
    from spendlab.workspace import Workspace

metadata = sa.MetaData()


def _workspace(**kw: Any) -> sa.Column:
    """The workspace key column (``''`` on rows logged before it existed)."""
    return sa.Column("workspace", sa.String(1000), nullable=False, server_default="", **kw)


rule_versions = sa.Table(
    "rule_versions",
    metadata,
    _workspace(primary_key=True),
    sa.Column("rule_id", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("author", sa.String(200)),
)

runs = sa.Table(
    "rule_runs",
    metadata,
    _workspace(index=True),
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("mode", sa.String(20), nullable=False),
    sa.Column("rules", sa.Text, nullable=False),  # JSON [[id, version], ...]
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("n_actions", sa.Integer, nullable=False, default=0),
)

rule_dates = sa.Table(  # one row per (rule version, date) evaluated: idempotent re-runs
    "rule_run_dates",
    metadata,
    _workspace(primary_key=True),
    sa.Column("rule_id", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("as_of", sa.Date, primary_key=True),
    sa.Column("run_id", sa.String(40), nullable=False),
)

_ids = [sa.Column(c, sa.String(64), nullable=False, default="") for c in (
    "account_id", "campaign_id", "ad_group_id", "keyword_id", "ad_id")]  # fmt: skip

actions = sa.Table(
    "rule_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _workspace(index=True),
    sa.Column("run_id", sa.String(40), index=True),
    sa.Column("rule_id", sa.String(100), index=True),
    sa.Column("rule_version", sa.Integer),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("platform", sa.String(64), nullable=False),
    sa.Column("level", sa.String(20), nullable=False),
    *_ids,
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("old_value", sa.Text),
    sa.Column("new_value", sa.Text),
    sa.Column("numeric", sa.Boolean, nullable=False, default=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("features", sa.Text),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("until", sa.Date),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("approver", sa.String(200)),
    sa.Column("idempotency_key", sa.String(64), index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("executed_at", sa.DateTime),
    sa.Column("undone_at", sa.DateTime),
    sa.Column("released", sa.Boolean, nullable=False, default=False),
)


rule_settings = sa.Table(  # per rule, outside its versioned spec: run mode and soft delete
    "rule_settings",
    metadata,
    _workspace(primary_key=True),
    sa.Column("rule_id", sa.String(100), primary_key=True),
    sa.Column("mode", sa.String(20), nullable=False, default="suggest"),
    sa.Column("deleted_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("updated_by", sa.String(200)),
)

RUN_MODES = ("suggest", "auto")


@dataclass(frozen=True)
class RuleStore:
    """The rules store of one workspace: an engine and the workspace key its rows carry."""

    engine: Engine
    workspace: str

    @classmethod
    def of(cls, ws: Workspace) -> RuleStore:
        """The rules store of a workspace: its store, its rows."""
        return cls(ws.store.engine, ws.id)


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def create_all(engine: Engine) -> None:
    metadata.create_all(engine)


def save_rule(rs: RuleStore, rule: Rule, author: str | None = None) -> Rule:
    """Store a rule; a changed spec becomes the next version. Returns the rule as stored."""
    body = rule.model_dump(mode="json", exclude={"version"})
    sha = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    with rs.engine.begin() as c:
        last = c.execute(
            sa.select(rule_versions.c.version, rule_versions.c.sha256)
            .where(rule_versions.c.workspace == rs.workspace)
            .where(rule_versions.c.rule_id == rule.id)
            .order_by(rule_versions.c.version.desc())
            .limit(1)
        ).first()
        if last is not None and last.sha256 == sha:
            return rule.model_copy(update={"version": last.version})
        version = 1 if last is None else last.version + 1
        stored = rule.model_copy(update={"version": version})
        c.execute(
            rule_versions.insert().values(
                workspace=rs.workspace,
                rule_id=rule.id,
                version=version,
                spec=stored.model_dump_json(),
                sha256=sha,
                created_at=now(),
                author=author,
            )
        )
    return stored


def load_saved_rules(rs: RuleStore) -> list[Rule]:
    """The latest version of every stored rule."""
    with rs.engine.connect() as c:
        rows = c.execute(
            sa.select(rule_versions.c.rule_id, rule_versions.c.spec)
            .where(rule_versions.c.workspace == rs.workspace)
            .order_by(rule_versions.c.rule_id, rule_versions.c.version)
        ).all()
    latest = {r.rule_id: r.spec for r in rows}
    return [Rule.model_validate_json(s) for s in latest.values()]


def rule_version(rs: RuleStore, rule_id: str, version: int) -> Rule:
    with rs.engine.connect() as c:
        spec = c.execute(
            sa.select(rule_versions.c.spec).where(
                (rule_versions.c.workspace == rs.workspace)
                & (rule_versions.c.rule_id == rule_id)
                & (rule_versions.c.version == version)
            )
        ).scalar()
    if spec is None:
        raise ConfigError(f"no rule {rule_id!r} version {version} in the store")
    return Rule.model_validate_json(spec)


def _enc(v: Any) -> str | None:
    return None if v is None else str(v)


def log_actions(rs: RuleStore, acts: list[Action], approver: str | None = None) -> list[int]:
    """Append actions to the log; returns their ids."""
    with rs.engine.begin() as c:
        return _insert_actions(c, rs, acts, approver)


def _insert_actions(
    c: sa.Connection, rs: RuleStore, acts: list[Action], approver: str | None
) -> list[int]:
    ids = []
    for a in acts:
        e = a.entity
        res = c.execute(
            actions.insert().values(
                workspace=rs.workspace,
                run_id=a.run_id,
                rule_id=a.rule_id,
                rule_version=a.rule_version,
                source=a.source,
                as_of=a.as_of,
                platform=e.platform,
                level=Level(e.level).value,
                account_id=e.account_id,
                campaign_id=e.campaign_id,
                ad_group_id=e.ad_group_id,
                keyword_id=e.keyword_id,
                ad_id=e.ad_id,
                kind=a.kind.value,
                old_value=_enc(a.old_value),
                new_value=_enc(a.new_value),
                numeric=a.kind in (ActionKind.SET_BID, ActionKind.SET_BUDGET),
                reason=a.reason,
                features=json.dumps(a.to_dict()["features"], default=str),
                priority=a.priority,
                until=a.until,
                status=a.status.value,
                approver=approver,
                idempotency_key=a.idempotency_key(),
                created_at=now(),
            )
        )
        ids.append(int(res.inserted_primary_key[0]))
    return ids


def row_to_action(r: Any) -> Action:
    m = r._mapping
    dec = (lambda v: None if v is None else Decimal(v)) if m["numeric"] else (lambda v: v)
    return Action(
        entity=EntityRef(
            platform=m["platform"],
            level=Level(m["level"]),
            account_id=m["account_id"],
            campaign_id=m["campaign_id"],
            ad_group_id=m["ad_group_id"],
            keyword_id=m["keyword_id"],
            ad_id=m["ad_id"],
        ),
        kind=ActionKind(m["kind"]),
        old_value=dec(m["old_value"]),
        new_value=dec(m["new_value"]),
        reason=m["reason"],
        as_of=m["as_of"],
        source=m["source"],
        rule_id=m["rule_id"],
        rule_version=m["rule_version"],
        run_id=m["run_id"],
        priority=m["priority"],
        until=m["until"],
        features=json.loads(m["features"] or "{}"),
        status=ActionStatus(m["status"]),
    )


def select_actions(
    rs: RuleStore,
    *,
    ids: list[int] | None = None,
    run_id: str | None = None,
    rule_id: str | None = None,
    status: list[str] | None = None,
    as_of: date | None = None,
) -> list[tuple[int, Action, dict[str, Any]]]:
    """(id, action, log row) triples, oldest first."""
    q = sa.select(actions).where(actions.c.workspace == rs.workspace).order_by(actions.c.id)
    if ids is not None:
        q = q.where(actions.c.id.in_(ids))
    if run_id is not None:
        q = q.where(actions.c.run_id == run_id)
    if rule_id is not None:
        q = q.where(actions.c.rule_id == rule_id)
    if status is not None:
        q = q.where(actions.c.status.in_(status))
    if as_of is not None:
        q = q.where(actions.c.as_of == as_of)
    with rs.engine.connect() as c:
        rows = c.execute(q).all()
    return [(r.id, row_to_action(r), dict(r._mapping)) for r in rows]


def set_status(rs: RuleStore, ids: list[int], status: ActionStatus, **values: Any) -> None:
    if not ids:
        return
    mine = (actions.c.workspace == rs.workspace) & actions.c.id.in_(ids)
    with rs.engine.begin() as c:
        c.execute(actions.update().where(mine).values(status=status.value, **values))


# -- rule settings (additive: mode for scheduled runs, soft delete) ------------------------------
def rule_settings_of(rs: RuleStore) -> dict[str, dict[str, Any]]:
    """rule id -> {mode, deleted_at, updated_at, updated_by} for rules with settings."""
    with rs.engine.connect() as c:
        rows = c.execute(
            sa.select(rule_settings).where(rule_settings.c.workspace == rs.workspace)
        ).all()
    return {r.rule_id: dict(r._mapping) for r in rows}


def set_rule_settings(
    rs: RuleStore,
    rule_id: str,
    *,
    by: str | None = None,
    mode: str | None = None,
    deleted: bool | None = None,
) -> None:
    """Set a rule's run mode (suggest | auto) and/or mark it deleted (kept for the audit log)."""
    if mode is not None and mode not in RUN_MODES:
        raise ConfigError(f"run mode {mode!r} is not one of {', '.join(RUN_MODES)}")
    values: dict[str, Any] = {"updated_at": now(), "updated_by": by}
    if mode is not None:
        values["mode"] = mode
    if deleted is not None:
        values["deleted_at"] = now() if deleted else None
    mine = (rule_settings.c.workspace == rs.workspace) & (rule_settings.c.rule_id == rule_id)
    with rs.engine.begin() as c:
        hit = c.execute(rule_settings.update().where(mine).values(**values))
        if hit.rowcount == 0:
            values.setdefault("mode", "suggest")
            c.execute(
                rule_settings.insert().values(workspace=rs.workspace, rule_id=rule_id, **values)
            )


def rule_versions_of(rs: RuleStore, rule_id: str) -> list[dict[str, Any]]:
    """Every stored version of a rule, oldest first (version, spec, created_at, author)."""
    with rs.engine.connect() as c:
        rows = c.execute(
            sa.select(rule_versions)
            .where(rule_versions.c.workspace == rs.workspace)
            .where(rule_versions.c.rule_id == rule_id)
            .order_by(rule_versions.c.version)
        ).all()
    return [dict(r._mapping) for r in rows]


def active_rules(rs: RuleStore) -> list[Rule]:
    """The latest version of every stored rule that is not deleted."""
    gone = {k for k, v in rule_settings_of(rs).items() if v["deleted_at"] is not None}
    return [r for r in load_saved_rules(rs) if r.id not in gone]


def query_actions(
    rs: RuleStore,
    *,
    status: list[str] | None = None,
    rule_id: str | None = None,
    run_id: str | None = None,
    kind: str | None = None,
    level: str | None = None,
    entity_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[tuple[int, Action, dict[str, Any]]], int]:
    """One page of the action log, newest first, and the number of matching actions."""
    conds = [actions.c.workspace == rs.workspace]
    if status:
        conds.append(actions.c.status.in_(status))
    if rule_id is not None:
        conds.append(actions.c.rule_id == rule_id)
    if run_id is not None:
        conds.append(actions.c.run_id == run_id)
    if kind is not None:
        conds.append(actions.c.kind == kind)
    if level is not None:
        conds.append(actions.c.level == level)
    if entity_id is not None:
        ids = ("account_id", "campaign_id", "ad_group_id", "keyword_id", "ad_id")
        conds.append(sa.or_(*(actions.c[c] == entity_id for c in ids)))
    if start is not None:
        conds.append(actions.c.as_of >= start)
    if end is not None:
        conds.append(actions.c.as_of <= end)
    where = sa.and_(*conds)
    with rs.engine.connect() as c:
        total = c.execute(sa.select(sa.func.count()).select_from(actions).where(where)).scalar()
        rows = c.execute(
            sa.select(actions)
            .where(where)
            .order_by(actions.c.id.desc())
            .offset(offset)
            .limit(limit)
        ).all()
    return [(r.id, row_to_action(r), dict(r._mapping)) for r in rows], int(total or 0)


# -- runs and the dates each rule version ran on (idempotent re-runs) ----------------------------
def record_run(
    rs: RuleStore, run_id: str, as_of: date, mode: str, rules: list[Rule], n_actions: int
) -> None:
    """Log a run and mark each of its rule versions as run for ``as_of``."""
    with rs.engine.begin() as c:
        _insert_run(c, rs, run_id, as_of, mode, rules, n_actions)


def log_run(
    rs: RuleStore,
    run_id: str,
    as_of: date,
    mode: str,
    rules: list[Rule],
    acts: list[Action],
    approver: str | None = None,
) -> list[int]:
    """A run's actions and its run record in ONE transaction (a crash between them would leave
    actions a re-run logs again); returns the actions' ids."""
    with rs.engine.begin() as c:
        ids = _insert_actions(c, rs, acts, approver)
        _insert_run(c, rs, run_id, as_of, mode, rules, len(acts))
        checkpoint("rules.before_commit")  # test hook (core/faults.py)
    return ids


def _insert_run(
    c: sa.Connection,
    rs: RuleStore,
    run_id: str,
    as_of: date,
    mode: str,
    rules: list[Rule],
    n_actions: int,
) -> None:
    c.execute(
        runs.insert().values(
            workspace=rs.workspace,
            run_id=run_id,
            as_of=as_of,
            mode=mode,
            rules=json.dumps([[r.id, r.version] for r in rules]),
            started_at=now(),
            n_actions=n_actions,
        )
    )
    for r in rules:
        c.execute(
            rule_dates.insert().values(
                workspace=rs.workspace,
                rule_id=r.id,
                version=r.version,
                as_of=as_of,
                run_id=run_id,
            )
        )


def ran_on(rs: RuleStore, as_of: date) -> set[tuple[str, int]]:
    """(rule id, version) pairs that already ran for ``as_of`` in this workspace."""
    with rs.engine.connect() as c:
        rows = c.execute(
            sa.select(rule_dates.c.rule_id, rule_dates.c.version).where(
                (rule_dates.c.workspace == rs.workspace) & (rule_dates.c.as_of == as_of)
            )
        ).all()
    return {(r.rule_id, r.version) for r in rows}


def list_runs(rs: RuleStore) -> list[dict[str, Any]]:
    """The workspace's runs, newest first (run_id, as_of, mode, rules JSON, started_at,
    n_actions)."""
    with rs.engine.connect() as c:
        rows = c.execute(
            sa.select(runs)
            .where(runs.c.workspace == rs.workspace)
            .order_by(runs.c.started_at.desc())
        ).all()
    return [dict(r._mapping) for r in rows]
