"""Rules: the library and its versions, templates, validation, preview, runs, backtests (as
background jobs), the approval queue, the action log with undo, bulk-file export,
effectiveness and the schedule. Viewers read and preview; analysts save rules, run them in
suggest mode, approve, reject and undo; automatic execution (``mode: auto``, for a run or as a
rule's scheduled mode) needs an admin. Each route checks the role, calls one use case of
:mod:`spendlab.automate.service` on the workspace's handle and returns its result."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from pydantic import Field, model_validator

from spendlab.app.api.bodies import Body, RowId
from spendlab.app.api.deps import Analyst, StateDep, Viewer
from spendlab.app.api.paging import PageParams, page_params, paginate
from spendlab.app.api.state import AppState
from spendlab.app.auth import Principal
from spendlab.app.store import Role
from spendlab.automate import service as svc
from spendlab.automate.connectors import FORMATS
from spendlab.automate.rules.spec import Rule
from spendlab.automate.specs import MAX_SPEC_CHARS, check_spec, parse_spec, templates
from spendlab.core.actions import ActionKind, ActionStatus
from spendlab.core.hierarchy import Level
from spendlab.workspace import Workspace

router = APIRouter(prefix="/workspaces/{workspace}/rules", tags=["rules"])

RuleId = Annotated[str, PathParam(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]
QDay = Annotated[date | None, Query(ge=date(2000, 1, 1), le=date(2100, 12, 31))]
Mode = Literal["suggest", "auto"]
Format = Literal[tuple(sorted(FORMATS))]  # type: ignore[valid-type]  # the domain's list
Status = Literal[tuple(s.value for s in ActionStatus)]  # type: ignore[valid-type]
Kpi = Literal["spend", "revenue", "conversions", "clicks", "impressions", "roas", "cpa"]


class RuleSource(Body):
    """A rule as a JSON object (``spec``) or as YAML text (``yaml``): exactly one."""

    spec: dict[str, Any] | None = Field(None, description="The rule (see docs/rules.md)")
    yaml: str | None = Field(None, max_length=MAX_SPEC_CHARS, description="The rule as YAML")

    @model_validator(mode="after")
    def _one(self) -> RuleSource:
        if (self.spec is None) == (self.yaml is None):
            raise ValueError("send exactly one of 'spec' (JSON object) or 'yaml' (text)")
        return self


class RuleIn(RuleSource):
    mode: Mode | None = Field(None, description="Mode of its scheduled runs (auto: admin)")


class RulePatch(Body):
    enabled: bool | None = None
    mode: Mode | None = None


class PreviewIn(Body):
    spec: dict[str, Any] | None = Field(None, description="An unsaved rule to preview")
    yaml: str | None = Field(None, max_length=MAX_SPEC_CHARS)
    rule_ids: list[Annotated[str, Field(max_length=100)]] | None = Field(
        None, max_length=1000, description="Saved rules to preview (default: all)"
    )
    as_of: Day | None = Field(None, description="Run date (default: see docs)")
    respect_schedule: bool = Field(False, description="Only rules due on that date")


class RunIn(Body):
    rule_ids: list[Annotated[str, Field(max_length=100)]] | None = Field(None, max_length=1000)
    as_of: Day | None = None
    mode: Mode = "suggest"
    respect_schedule: bool = True


class BacktestIn(Body):
    rule_ids: list[Annotated[str, Field(max_length=100)]] | None = Field(None, max_length=1000)
    spec: dict[str, Any] | None = None
    yaml: str | None = Field(None, max_length=MAX_SPEC_CHARS)
    end: Day | None = None
    days: int = Field(30, ge=1, le=365)
    horizon: int = Field(7, ge=1, le=90)
    kpi: Kpi = "roas"


class IdsIn(Body):
    ids: list[RowId] = Field(min_length=1, max_length=10_000)
    force: bool = Field(False, description="Approve even when the entity changed since")


class UndoIn(Body):
    action_ids: list[RowId] | None = Field(None, max_length=10_000)
    run_id: str | None = Field(None, max_length=40)
    rule_id: str | None = Field(None, max_length=100)
    force: bool = Field(False, description="Undo even when the entity changed since")

    @model_validator(mode="after")
    def _one(self) -> UndoIn:
        if sum(x is not None for x in (self.action_ids, self.run_id, self.rule_id)) != 1:
            raise ValueError("say what to undo: exactly one of action_ids, run_id or rule_id")
        return self


def _ws(state: AppState, workspace: str) -> Workspace:
    return state.workspaces.handle(workspace)


def _needs_admin_for_auto(p: Principal, mode: str | None) -> None:
    if mode == "auto":
        p.require(Role.ADMIN)


def _source_rules(ws: Workspace, spec, text, rule_ids) -> list[Rule]:
    """An unsaved rule sent with the request, else the saved rules named (default: all)."""
    if spec is not None or text is not None:
        return [parse_spec(spec, text)]
    return svc.pick_rules(ws, rule_ids)


# -- library -----------------------------------------------------------------------------------
@router.get("", summary="Saved rules (latest versions) with their run mode")
def list_rules(
    workspace: str,
    _: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
) -> dict[str, Any]:
    return paginate(svc.list_rules(_ws(state, workspace)), paging)


@router.post("", status_code=201, summary="Save a rule (a changed spec becomes a new version)")
def create_rule(workspace: str, body: RuleIn, p: Analyst, state: StateDep) -> dict[str, Any]:
    _needs_admin_for_auto(p, body.mode)
    rule = parse_spec(body.spec, body.yaml)
    out = svc.save(_ws(state, workspace), rule, author=p.username, mode=body.mode)
    state.scheduler.sync()
    return out


@router.get("/templates", summary="The template library (JOT-style ready rules)")
def list_templates(workspace: str, _: Viewer, state: StateDep) -> dict[str, Any]:
    state.workspaces.get(workspace)
    return {"items": templates()}


@router.post("/validate", summary="Check a rule: the normalised spec, or located issues")
def validate_rule(workspace: str, body: RuleSource, _: Viewer, state: StateDep) -> dict[str, Any]:
    state.workspaces.get(workspace)
    return check_spec(body.spec, body.yaml)


@router.post("/preview", summary="Dry run on a date: proposed actions, matched values, reasons")
def preview_rules(workspace: str, body: PreviewIn, _: Viewer, state: StateDep) -> dict[str, Any]:
    ws = _ws(state, workspace)
    rules = _source_rules(ws, body.spec, body.yaml, body.rule_ids)
    return svc.preview(ws, rules, body.as_of, respect_schedule=body.respect_schedule)


@router.post("/run", summary="Run saved rules: suggest (log as proposed) or auto (admin)")
def run_rules(workspace: str, body: RunIn, p: Analyst, state: StateDep) -> dict[str, Any]:
    _needs_admin_for_auto(p, body.mode)
    ws = _ws(state, workspace)
    rules = svc.pick_rules(ws, body.rule_ids)
    return svc.run(
        ws,
        rules,
        body.as_of,
        mode=body.mode,
        approver=p.username,
        respect_schedule=body.respect_schedule,
    )


@router.post(
    "/backtest", status_code=202, summary="Backtest as a background job (poll GET /jobs/{id})"
)
def backtest_rules(workspace: str, body: BacktestIn, p: Analyst, state: StateDep) -> dict:
    row = state.workspaces.get(workspace)  # the job is filed under the registry's number
    ws = state.workspaces.handle(row.id)
    rules = _source_rules(ws, body.spec, body.yaml, body.rule_ids)
    end = body.end or svc.default_as_of(ws)

    def work(progress) -> dict[str, Any]:
        return svc.backtest(
            ws,
            rules,
            end=end,
            days=body.days,
            horizon=body.horizon,
            kpi=body.kpi,
            progress=progress,
        )

    params = {
        "rules": [r.id for r in rules],
        "end": end.isoformat(),
        "days": body.days,
        "horizon": body.horizon,
        "kpi": body.kpi,
    }
    job_id = state.jobs.submit(
        "rules_backtest", work, workspace_id=row.id, params=params, user=p.username
    )
    return {"job_id": job_id, "status": "queued"}


@router.get("/schedule", summary="Scheduled rules and their next fire times")
def schedule(workspace: str, _: Viewer, state: StateDep) -> dict[str, Any]:
    ws = state.workspaces.get(workspace)
    return {
        "scheduler": "on" if state.scheduler.running else "off",
        "items": state.scheduler.planned(ws.id),
    }


# -- the approval queue and the action log ------------------------------------------------------
def _page(items: list[dict], total: int, paging: PageParams) -> dict[str, Any]:
    return {"items": items, "total": total, "page": paging.page, "page_size": paging.page_size}


@router.get("/queue", summary="The approval queue: proposed actions, newest first")
def queue(
    workspace: str,
    _: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
    rule_id: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    items, total = svc.log(
        _ws(state, workspace),
        offset=paging.offset,
        limit=paging.page_size,
        status=[ActionStatus.PROPOSED.value],
        rule_id=rule_id,
    )
    return _page(items, total, paging)


@router.post("/queue/approve", summary="Approve (execute) proposed actions; you are the approver")
def approve(workspace: str, body: IdsIn, p: Analyst, state: StateDep) -> dict[str, Any]:
    return svc.approve(_ws(state, workspace), body.ids, approver=p.username, force=body.force)


@router.post("/queue/reject", summary="Reject proposed actions; you are recorded")
def reject(workspace: str, body: IdsIn, p: Analyst, state: StateDep) -> dict[str, Any]:
    return svc.reject(_ws(state, workspace), body.ids, approver=p.username)


@router.get("/actions", summary="The action log with filters, newest first")
def actions(
    workspace: str,
    _: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
    status: Annotated[list[Status] | None, Query()] = None,
    rule_id: Annotated[str | None, Query(max_length=100)] = None,
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    action: Annotated[Literal[tuple(k.value for k in ActionKind)] | None, Query()] = None,  # type: ignore[valid-type]
    level: Annotated[Literal[tuple(v.value for v in Level)] | None, Query()] = None,  # type: ignore[valid-type]
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    start: QDay = None,
    end: QDay = None,
) -> dict[str, Any]:
    items, total = svc.log(
        _ws(state, workspace),
        offset=paging.offset,
        limit=paging.page_size,
        status=status,
        rule_id=rule_id,
        run_id=run_id,
        kind=action,
        level=level,
        entity_id=entity_id,
        start=start,
        end=end,
    )
    return _page(items, total, paging)


@router.post("/undo", summary="Undo executed actions: by id, a whole run, or a whole rule")
def undo(workspace: str, body: UndoIn, _: Analyst, state: StateDep) -> dict[str, Any]:
    return svc.undo(
        _ws(state, workspace),
        ids=body.action_ids,
        run_id=body.run_id,
        rule_id=body.rule_id,
        force=body.force,
    )


@router.get("/runs", summary="Rule runs, newest first")
def runs(
    workspace: str,
    _: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
) -> dict[str, Any]:
    return paginate(svc.runs(_ws(state, workspace)), paging)


@router.get(
    "/export",
    summary="Bulk upload files (changes + undo + manifest, zipped) of logged actions",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "A zip file"}},
)
def export(
    workspace: str,
    _: Viewer,
    state: StateDep,
    format: Annotated[Format, Query(description="google_ads_editor, microsoft_bulk or meta")],
    status: Annotated[list[Status] | None, Query()] = None,
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    rule_id: Annotated[str | None, Query(max_length=100)] = None,
    ids: Annotated[list[RowId] | None, Query(max_length=10_000)] = None,
) -> Response:
    data, n = svc.export_zip(
        _ws(state, workspace),
        format,
        status=status or [ActionStatus.EXECUTED.value],
        run_id=run_id,
        rule_id=rule_id,
        ids=ids,
    )
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="spendlab-{format}.zip"',
            "X-SpendLab-Exported": str(n),
        },
    )


# -- monitoring --------------------------------------------------------------------------------
@router.get("/effectiveness", summary="KPI before and after each executed action, per rule")
def effectiveness(
    workspace: str,
    _: Viewer,
    state: StateDep,
    kpi: Kpi = "roas",
    horizon: Annotated[int, Query(ge=1, le=90)] = 7,
) -> dict[str, Any]:
    return svc.effectiveness(_ws(state, workspace), kpi=kpi, horizon=horizon)


@router.get("/activity", summary="Executed actions per day and per weekday (0 = Monday)")
def activity(workspace: str, _: Viewer, state: StateDep) -> dict[str, Any]:
    return svc.activity(_ws(state, workspace))


# -- one rule ----------------------------------------------------------------------------------
@router.get("/{rule_id}", summary="A saved rule (latest version)")
def get_rule(workspace: str, rule_id: RuleId, _: Viewer, state: StateDep) -> dict[str, Any]:
    return svc.describe(_ws(state, workspace), rule_id)


@router.get("/{rule_id}/versions", summary="Every stored version of a rule, oldest first")
def rule_versions(workspace: str, rule_id: RuleId, _: Viewer, state: StateDep) -> dict:
    return {"items": svc.versions(_ws(state, workspace), rule_id)}


@router.put("/{rule_id}", summary="Replace a rule (a new version when the spec changed)")
def put_rule(
    workspace: str, rule_id: RuleId, body: RuleIn, p: Analyst, state: StateDep
) -> dict[str, Any]:
    _needs_admin_for_auto(p, body.mode)
    rule = parse_spec(body.spec, body.yaml)
    if rule.id != rule_id:
        rule = rule.model_copy(update={"id": rule_id})
    out = svc.save(_ws(state, workspace), rule, author=p.username, mode=body.mode)
    state.scheduler.sync()
    return out


@router.patch("/{rule_id}", summary="Enable or disable a rule, or change its run mode")
def patch_rule(
    workspace: str, rule_id: RuleId, body: RulePatch, p: Analyst, state: StateDep
) -> dict[str, Any]:
    _needs_admin_for_auto(p, body.mode)
    out = svc.update(
        _ws(state, workspace), rule_id, author=p.username, enabled=body.enabled, mode=body.mode
    )
    state.scheduler.sync()
    return out


@router.delete("/{rule_id}", summary="Delete a rule (its versions and actions stay in the log)")
def delete_rule(workspace: str, rule_id: RuleId, p: Analyst, state: StateDep) -> dict:
    svc.delete(_ws(state, workspace), rule_id, by=p.username)
    state.scheduler.sync()
    return {"deleted": rule_id}
