"""The rule scheduler: due-day triggers on a fixed clock, the job function run for a given
date lands actions once (idempotent) in the rule's mode, jobs follow saved rules, and the
setting turns it off."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from spendlab.app.scheduler import DueDayTrigger
from spendlab.automate import service as svc
from spendlab.automate import store
from spendlab.automate.rules.spec import Schedule
from spendlab.automate.specs import parse_spec
from spendlab.config import Settings
from spendlab.core.actions import ActionStatus

from .conftest import login

R = "/api/v1/workspaces/demo/rules"
SIX = time(6, 0)
MADRID = ZoneInfo("Europe/Madrid")


def _next(schedule: dict, now: datetime, prev: datetime | None = None) -> datetime | None:
    return DueDayTrigger(Schedule(**schedule), SIX).get_next_fire_time(prev, now)


def test_due_day_trigger_on_a_fixed_clock():
    wed_noon = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)  # Wednesday, past 06:00 in Madrid
    weekly = {"every": "weekly", "days": [1, 3], "timezone": "Europe/Madrid"}
    nxt = _next(weekly, wed_noon)
    assert nxt == datetime(2024, 3, 11, 6, 0, tzinfo=MADRID)  # Monday 06:00 local
    assert nxt.astimezone(UTC).hour == 5
    early = datetime(2024, 3, 6, 4, 0, tzinfo=UTC)  # 05:00 in Madrid: today still to come
    assert _next(weekly, early) == datetime(2024, 3, 6, 6, 0, tzinfo=MADRID)
    assert _next(weekly, wed_noon, prev=nxt) == datetime(2024, 3, 13, 6, 0, tzinfo=MADRID)
    monthly = {"every": "monthly", "days": [31], "timezone": "UTC"}
    feb = datetime(2024, 2, 10, tzinfo=UTC)
    assert _next(monthly, feb) == datetime(2024, 2, 29, 6, 0, tzinfo=ZoneInfo("UTC"))
    once = {"every": "once", "on": "2024-03-08", "timezone": "UTC"}
    assert _next(once, wed_noon).date() == date(2024, 3, 8)
    assert _next(once, datetime(2024, 3, 9, tzinfo=UTC)) is None
    ended = {"every": "daily", "end": "2024-03-06", "timezone": "UTC"}
    assert _next(ended, wed_noon) is None
    later = {"every": "daily", "start": "2024-04-01", "timezone": "UTC"}
    assert _next(later, wed_noon).date() == date(2024, 4, 1)


def test_the_job_lands_actions_once_in_the_rules_mode(app_factory):
    app = app_factory()
    state = app.state.spendlab
    row = state.workspaces.get("demo")
    ws = state.workspaces.handle(row.id)
    rs = store.RuleStore.of(ws)
    spec = {
        "id": "weekly-raise",
        "scope": {"level": "keyword"},
        "conditions": {"kpi": "roas", "window": {"days": 14}, "op": ">", "value": 1.0},
        "action": {"type": "bid", "mode": "percent", "value": 10, "max": 50},
        "schedule": {"every": "weekly", "days": [1], "timezone": "UTC"},
    }
    svc.save(ws, parse_spec(spec), author="ana")
    monday, tuesday = date(2024, 3, 11), date(2024, 3, 12)
    assert state.scheduler.run_due(row.id, "weekly-raise", tuesday) is None  # not due
    first = state.scheduler.run_due(row.id, "weekly-raise", monday)
    assert first["mode"] == "suggest" and first["actions"]
    again = state.scheduler.run_due(row.id, "weekly-raise", monday)
    assert again["actions"] == [] and again["skipped_rules"] == ["weekly-raise"]
    logged = store.select_actions(rs, rule_id="weekly-raise")
    assert len(logged) == len(first["actions"])
    assert {a.status for _, a, _ in logged} == {ActionStatus.PROPOSED}
    assert {r["approver"] for _, _, r in logged} == {None}  # nobody approved them yet
    # in auto mode (an admin's choice) the next due day executes
    store.set_rule_settings(rs, "weekly-raise", mode="auto", by="ada")
    nxt = state.scheduler.run_due(row.id, "weekly-raise", date(2024, 3, 18))
    assert nxt["actions"] and {a["status"] for a in nxt["actions"]} == {"executed"}
    ids = [a["action_id"] for a in nxt["actions"]]
    assert {r["approver"] for _, _, r in store.select_actions(rs, ids=ids)} == {"scheduler"}
    svc.update(ws, "weekly-raise", author="ana", enabled=False)
    assert state.scheduler.run_due(row.id, "weekly-raise", date(2024, 3, 25)) is None


def test_jobs_follow_saved_rules_when_on(app_factory):
    app = app_factory(scheduler=True, scheduler_time="07:30")
    with TestClient(app) as c:
        ana, vic = login(c, "ana"), login(c, "vic")
        sched = app.state.spendlab.scheduler
        assert sched.running
        assert c.get(f"{R}/schedule", headers=vic).json() == {"scheduler": "on", "items": []}
        spec = {
            "id": "monthly-alert",
            "conditions": {"kpi": "spend", "op": ">", "value": 0},
            "action": {"type": "alert"},
            "schedule": {"every": "monthly", "days": [1, 15], "timezone": "America/New_York"},
        }
        assert c.post(R, json={"spec": spec}, headers=ana).status_code == 201
        (item,) = c.get(f"{R}/schedule", headers=vic).json()["items"]
        assert item["active"] and item["rule_id"] == "monthly-alert" and item["mode"] == "suggest"
        when = datetime.fromisoformat(item["next_run"]).astimezone(ZoneInfo("America/New_York"))
        assert when.day in (1, 15) and (when.hour, when.minute) == (7, 30)
        assert sched._sched.get_job(item["job_id"]) is not None
        c.patch(f"{R}/monthly-alert", json={"enabled": False}, headers=ana)
        assert c.get(f"{R}/schedule", headers=vic).json()["items"] == []
        assert sched._sched.get_job(item["job_id"]) is None
    assert not sched.running


@pytest.mark.parametrize(("env", "on"), [("0", False), ("1", True)])
def test_the_setting_reads_the_environment(monkeypatch, env, on):
    monkeypatch.setenv("SPENDLAB_SCHEDULER", env)
    assert Settings().scheduler is on
