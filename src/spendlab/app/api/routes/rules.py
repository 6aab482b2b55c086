"""Rules: the library and its versions, templates, validation, preview, runs, backtests (as
background jobs), the approval queue, the action log with undo, bulk-file export,
effectiveness and the schedule. Viewers read and preview; analysts save rules, run them in
suggest mode, approve, reject and undo; automatic execution (``mode: auto``, for a run or as a
rule's scheduled mode) needs an admin. Every operation is a function of
:mod:`spendlab.app.rules`, over :mod:`spendlab.automate`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, model_validator

from spendlab.app import rules as svc
from spendlab.app.api.deps import Analyst, StateDep, Viewer
from spendlab.app.api.paging import PageParams, page_params, paginate
from spendlab.app.api.state import AppState
from spendlab.app.auth import Principal
from spendlab.app.store import Role
from spendlab.automate import pipeline, store
from spendlab.automate.connectors import FORMATS
from spendlab.core.actions import ActionKind, ActionStatus
from spendlab.core.hierarchy import Level

router = APIRouter(prefix="/workspaces/{workspace}/rules", tags=["rules"])

RuleId = Annotated[str, PathParam(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]
QDay = Annotated[date | None, Query(ge=date(2000, 1, 1), le=date(2100, 12, 31))]
Mode = Literal["suggest", "auto"]
Format = Literal[tuple(sorted(FORMATS))]  # type: ignore[valid-type]  # the domain's list
Status = Literal[tuple(s.value for s in ActionStatus)]  # type: ignore[valid-type]
Kpi = Literal["spend", "revenue", "conversions", "clicks", "impressions", "roas", "cpa"]


class RuleSource(BaseModel):
    """A rule as a JSON object (``spec``) or as YAML text (``yaml``): exactly one."""

    spec: dict[str, Any] | None = Field(None, description="The rule (see docs/rules.md)")
    yaml: str | None = Field(None, max_length=svc.MAX_SPEC_CHARS, description="The rule as YAML")

    @model_validator(mode="after")
    def _one(self) -> RuleSource:
        if (self.spec is None) == (self.yaml is None):
            raise ValueError("send exactly one of 'spec' (JSON object) or 'yaml' (text)")
        return self


class RuleIn(RuleSource):
    mode: Mode | None = Field(None, description="Mode of its scheduled runs (auto: admin)")


class RulePatch(BaseModel):
    enabled: bool | None = None
    mode: Mode | None = None


class PreviewIn(BaseModel):
    spec: dict[str, Any] | None = Field(None, description="An unsaved rule to preview")
    yaml: str | None = Field(None, max_length=svc.MAX_SPEC_CHARS)
    rule_ids: list[Annotated[str, Field(max_length=100)]] | None = Field(
        None, max_length=1000, description="Saved rules to preview (default: all)"
    )
    as_of: Day | None = Field(None, description="Run date (default: see docs)")
    respect_schedule: bool = Field(False, description="Only rules due on that date")


class RunIn(BaseModel):
    rule_ids: list[Annotated[str, Field(max_length=100)]] | None = Field(None, max_length=1000)
    as_of: Day | None = None
    mode: Mode = "suggest"
    respect_schedule: bool = True


class BacktestIn(BaseModel):
    rule_ids: list[Annotated[str, Field(max_length=100)]] | None = Field(None, max_length=1000)
    spec: dict[str, Any] | None = None
    yaml: str | None = Field(None, max_length=svc.MAX_SPEC_CHARS)
    end: Day | None = None
    days: int = Field(30, ge=1, le=365)
    horizon: int = Field(7, ge=1, le=90)
    kpi: Kpi = "roas"


class IdsIn(BaseModel):
    ids: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=10_000)
    force: bool = Field(False, description="Approve even when the entity changed since")


class UndoIn(BaseModel):
    action_ids: list[Annotated[int, Field(ge=1)]] | None = Field(None, max_length=10_000)
    run_id: str | None = Field(None, max_length=40)
    rule_id: str | None = Field(None, max_length=100)
    force: bool = Field(False, description="Undo even when the entity changed since")

    @model_validator(mode="after")
    def _one(self) -> UndoIn:
        if sum(x is not None for x in (self.action_ids, self.run_id, self.rule_id)) != 1:
            raise ValueError("say what to undo: exactly one of action_ids, run_id or rule_id")
        return self


def _store(state: AppState, workspace: str) -> store.RuleStore:
    return state.rules.store(state.workspaces.get(workspace))


def _needs_admin_for_auto(p: Principal, mode: str | None) -> None:
    if mode == "auto":
        p.require(Role.ADMIN)


def _source_rules(rs, spec, text, rule_ids) -> list:
    if spec is not None or text is not None:
        return [svc.parse_spec(spec, text)]
    return svc.pick_rules(rs, rule_ids)


# -- library -----------------------------------------------------------------------------------
@router.get("", summary="Saved rules (latest versions) with their run mode")
def list_rules(
    workspace: str,
    _: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
) -> dict[str, Any]:
    return paginate(svc.list_rules(_store(state, workspace)), paging)


@router.post("", status_code=201, summary="Save a rule (a changed spec becomes a new version)")
def create_rule(workspace: str, body: RuleIn, p: Analyst, state: StateDep) -> dict[str, Any]:
    _needs_admin_for_auto(p, body.mode)
    rule = svc.parse_spec(body.spec, body.yaml)
    out = svc.save(_store(state, workspace), rule, author=p.username, mode=body.mode)
    state.scheduler.sync()
    return out


@router.get("/templates", summary="The template library (JOT-style ready rules)")
def list_templates(workspace: str, _: Viewer, state: StateDep) -> dict[str, Any]:
    state.workspaces.get(workspace)
    return {"items": svc.templates()}


@router.post("/validate", summary="Check a rule: the normalised spec, or located issues")
def validate_rule(workspace: str, body: RuleSource, _: Viewer, state: StateDep) -> dict[str, Any]:
    state.workspaces.get(workspace)
    return svc.check_spec(body.spec, body.yaml)


@router.post("/preview", summary="Dry run on a date: proposed actions, matched values, reasons")
def preview_rules(workspace: str, body: PreviewIn, _: Viewer, state: StateDep) -> dict[str, Any]:
    rs = _store(state, workspace)
    rules = _source_rules(rs, body.spec, body.yaml, body.rule_ids)
    with state.workspaces.warehouse(workspace) as wh:
        day = body.as_of or svc.default_as_of(wh)
        return svc.preview(wh, rules, day, respect_schedule=body.respect_schedule)


@router.post("/run", summary="Run saved rules: suggest (log as proposed) or auto (admin)")
def run_rules(workspace: str, body: RunIn, p: Analyst, state: StateDep) -> dict[str, Any]:
    _needs_admin_for_auto(p, body.mode)
    rs = _store(state, workspace)
    rules = svc.pick_rules(rs, body.rule_ids)
    with state.workspaces.warehouse(workspace) as wh:
        day = body.as_of or svc.default_as_of(wh)
        return svc.run(
            wh, rs, rules, day, mode=body.mode, approver=p.username,
            respect_schedule=body.respect_schedule,
        )  # fmt: skip


@router.post(
    "/backtest", status_code=202, summary="Backtest as a background job (poll GET /jobs/{id})"
)
def backtest_rules(workspace: str, body: BacktestIn, p: Analyst, state: StateDep) -> dict:
    ws = state.workspaces.get(workspace)
    rules = _source_rules(state.rules.store(ws), body.spec, body.yaml, body.rule_ids)
    with state.workspaces.warehouse(ws.id) as wh:
        end = body.end or svc.default_as_of(wh)

    def work(progress) -> dict[str, Any]:
        frames = []
        for k in range(body.days):
            day = end - timedelta(days=body.days - 1 - k)
            with state.workspaces.warehouse(ws.id) as wh:  # per day: other requests interleave
                frames.append(pipeline.backtest(
                    wh, rules, end=day, days=1, horizon=body.horizon, kpi=body.kpi))  # fmt: skip
            progress((k + 1) / body.days, f"{day} ({k + 1}/{body.days} days)")
        frame = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
        by_rule = (
            frame.groupby("rule_id")
            .agg(actions=("entity_id", "count"), kpi_change=("kpi_change", "mean"))
            .reset_index()
            .astype(object)
            .to_dict("records")
            if len(frame)
            else []
        )
        return {"kpi": body.kpi, "horizon": body.horizon, "end": end.isoformat(),
                "days": body.days, "rules": svc.jsonable(by_rule),
                "actions": svc.backtest_frame_rows(frame)}  # fmt: skip

    params = {"rules": [r.id for r in rules], "end": end.isoformat(), "days": body.days,
              "horizon": body.horizon, "kpi": body.kpi}  # fmt: skip
    job_id = state.jobs.submit(
        "rules_backtest", work, workspace_id=ws.id, params=params, user=p.username
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
@router.get("/queue", summary="The approval queue: proposed actions, newest first")
def queue(
    workspace: str,
    _: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
    rule_id: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    items, total = svc.log(
        _store(state, workspace), offset=paging.offset, limit=paging.page_size,
        status=[ActionStatus.PROPOSED.value], rule_id=rule_id,
    )  # fmt: skip
    return {"items": items, "total": total, "page": paging.page, "page_size": paging.page_size}


@router.post("/queue/approve", summary="Approve (execute) proposed actions; you are the approver")
def approve(workspace: str, body: IdsIn, p: Analyst, state: StateDep) -> dict[str, Any]:
    rs = _store(state, workspace)
    with state.workspaces.warehouse(workspace) as wh:
        done = pipeline.approve(wh, rs, body.ids, approver=p.username, force=body.force)
    return svc.outcome("executed", done)


@router.post("/queue/reject", summary="Reject proposed actions; you are recorded")
def reject(workspace: str, body: IdsIn, p: Analyst, state: StateDep) -> dict[str, Any]:
    done = pipeline.reject(_store(state, workspace), body.ids, approver=p.username)
    return {"rejected": done, "refused": []}


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
        _store(state, workspace), offset=paging.offset, limit=paging.page_size,
        status=status, rule_id=rule_id, run_id=run_id, kind=action, level=level,
        entity_id=entity_id, start=start, end=end,
    )  # fmt: skip
    return {"items": items, "total": total, "page": paging.page, "page_size": paging.page_size}


@router.post("/undo", summary="Undo executed actions: by id, a whole run, or a whole rule")
def undo(workspace: str, body: UndoIn, _: Analyst, state: StateDep) -> dict[str, Any]:
    rs = _store(state, workspace)
    with state.workspaces.warehouse(workspace) as wh:
        done = pipeline.undo(
            wh, rs, ids=body.action_ids, run_id=body.run_id, rule_id=body.rule_id,
            force=body.force,
        )  # fmt: skip
    return svc.outcome("undone", done)


@router.get("/runs", summary="Rule runs, newest first")
def runs(
    workspace: str,
    _: Viewer,
    state: StateDep,
    paging: Annotated[PageParams, Depends(page_params)],
) -> dict[str, Any]:
    items = svc.runs(_store(state, workspace))
    return paginate(items, paging)


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
    ids: Annotated[list[Annotated[int, Field(ge=1)]] | None, Query(max_length=10_000)] = None,
) -> Response:
    rs = _store(state, workspace)
    with state.workspaces.warehouse(workspace) as wh:
        data, n = svc.export_zip(
            wh, rs, format, status=status or [ActionStatus.EXECUTED.value],
            run_id=run_id, rule_id=rule_id, ids=ids,
        )  # fmt: skip
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
    rs = _store(state, workspace)
    with state.workspaces.warehouse(workspace) as wh:
        return svc.effectiveness(wh, rs, kpi=kpi, horizon=horizon)


@router.get("/activity", summary="Executed actions per day and per weekday (0 = Monday)")
def activity(workspace: str, _: Viewer, state: StateDep) -> dict[str, Any]:
    return svc.activity(_store(state, workspace))


# -- one rule ----------------------------------------------------------------------------------
@router.get("/{rule_id}", summary="A saved rule (latest version)")
def get_rule(workspace: str, rule_id: RuleId, _: Viewer, state: StateDep) -> dict[str, Any]:
    rs = _store(state, workspace)
    rule = svc.get_rule(rs, rule_id)
    return svc.summary(rule, store.rule_settings_of(rs).get(rule_id))


@router.get("/{rule_id}/versions", summary="Every stored version of a rule, oldest first")
def rule_versions(workspace: str, rule_id: RuleId, _: Viewer, state: StateDep) -> dict:
    return {"items": svc.versions(_store(state, workspace), rule_id)}


@router.put("/{rule_id}", summary="Replace a rule (a new version when the spec changed)")
def put_rule(
    workspace: str, rule_id: RuleId, body: RuleIn, p: Analyst, state: StateDep
) -> dict[str, Any]:
    _needs_admin_for_auto(p, body.mode)
    rule = svc.parse_spec(body.spec, body.yaml)
    if rule.id != rule_id:
        rule = rule.model_copy(update={"id": rule_id})
    out = svc.save(_store(state, workspace), rule, author=p.username, mode=body.mode)
    state.scheduler.sync()
    return out


@router.patch("/{rule_id}", summary="Enable or disable a rule, or change its run mode")
def patch_rule(
    workspace: str, rule_id: RuleId, body: RulePatch, p: Analyst, state: StateDep
) -> dict[str, Any]:
    _needs_admin_for_auto(p, body.mode)
    out = svc.update(
        _store(state, workspace), rule_id, author=p.username, enabled=body.enabled,
        mode=body.mode,
    )  # fmt: skip
    state.scheduler.sync()
    return out


@router.delete("/{rule_id}", summary="Delete a rule (its versions and actions stay in the log)")
def delete_rule(workspace: str, rule_id: RuleId, p: Analyst, state: StateDep) -> dict:
    svc.delete(_store(state, workspace), rule_id, by=p.username)
    state.scheduler.sync()
    return {"deleted": rule_id}
