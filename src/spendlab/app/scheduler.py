"""Scheduled rule runs inside ``spendlab serve`` (APScheduler, in the server process).

Every saved, enabled rule of every registered workspace gets one job. Its trigger fires at
``Settings.scheduler_time`` (local time in the rule's time zone) on each day the rule's schedule
is due (``Schedule.is_due``: once / daily / weekly days / monthly days, start and end), and runs
that rule in its mode (``suggest`` by default, ``auto`` when an admin set it) for that local
date. Runs are idempotent: a rule version runs at most once per date (the action log's
``rule_run_dates``), so a restart or a double fire adds nothing. ``SPENDLAB_SCHEDULER=0`` turns
the scheduler off (cron or Airflow can run ``spendlab rules run --all`` instead); it is off in
the tests unless a test turns it on.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from spendlab.app import rules as svc
from spendlab.automate import store
from spendlab.automate.rules.spec import Rule, Schedule
from spendlab.errors import SpendLabError

if TYPE_CHECKING:
    from spendlab.app.api.state import AppState

log = logging.getLogger("spendlab.scheduler")
RESYNC_MINUTES = 5  # picks up rules saved by the CLI while the server runs
HORIZON_DAYS = 800  # how far ahead a trigger looks for the next due day


class DueDayTrigger(BaseTrigger):
    """Fires at ``at`` (local time in the schedule's zone) on each day ``schedule.is_due``."""

    def __init__(self, schedule: Schedule, at: time) -> None:
        self.schedule = schedule
        self.at = at
        self.tz = ZoneInfo(schedule.timezone)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        start = previous_fire_time + timedelta(microseconds=1) if previous_fire_time else now
        s = self.schedule
        day = start.astimezone(self.tz).date()
        for k in range(HORIZON_DAYS):
            d = day + timedelta(days=k)
            if (s.end and d > s.end) or (s.every == "once" and s.on and d > s.on):
                return None
            if s.is_due(d):
                fire = datetime.combine(d, self.at, tzinfo=self.tz)
                if fire >= start:
                    return fire
        return None

    def __str__(self) -> str:
        return f"due-day[{self.schedule.every} at {self.at:%H:%M} {self.schedule.timezone}]"


class RuleScheduler:
    """The server's scheduler of saved rules (one job per workspace and rule)."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.at = time.fromisoformat(state.settings.scheduler_time)
        self._sched: BackgroundScheduler | None = None
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._sched is not None and self._sched.running

    def start(self) -> None:
        if self.running:
            return
        self._sched = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        self._sched.start()
        self._sched.add_job(
            self.sync, "interval", minutes=RESYNC_MINUTES, id="rules:resync", name="resync"
        )
        self.sync()
        log.info("rule scheduler started (%d jobs)", len(self._keys))

    def shutdown(self) -> None:
        if self._sched is not None and self._sched.running:
            self._sched.shutdown(wait=False)
        self._sched = None
        self._keys.clear()

    # -- what should run ------------------------------------------------------------------------
    def _wanted(self) -> dict[str, tuple[int, str, Rule, str]]:
        """job id -> (workspace id, workspace name, rule, mode)."""
        out = {}
        for ws in self.state.workspaces.list():
            try:
                rs = self.state.rules.store(ws)
                modes = store.rule_settings_of(rs)
                rules = store.active_rules(rs)
            except SpendLabError as e:
                log.warning("workspace %s: rules store unavailable: %s", ws.name, e)
                continue
            for r in rules:
                if r.enabled:
                    mode = (modes.get(r.id) or {}).get("mode") or "suggest"
                    out[f"rules:{ws.id}:{r.id}"] = (ws.id, ws.name, r, mode)
        return out

    def sync(self) -> None:
        """Make the jobs match the saved rules (new, changed, disabled or deleted ones)."""
        if not self.running:
            return
        assert self._sched is not None
        with self._lock:
            wanted = self._wanted()
            for jid in list(self._keys):
                if jid not in wanted:
                    self._sched.remove_job(jid)
                    del self._keys[jid]
            for jid, (ws_id, _, rule, _) in wanted.items():
                key = rule.schedule.model_dump_json()
                if self._keys.get(jid) == key:
                    continue
                self._sched.add_job(
                    self.fire,
                    DueDayTrigger(rule.schedule, self.at),
                    args=[ws_id, rule.id],
                    id=jid,
                    name=f"rule {rule.id}",
                    replace_existing=True,
                )
                self._keys[jid] = key

    def planned(self, workspace_id: int | None = None) -> list[dict[str, Any]]:
        """Each scheduled rule and its next fire time (also when the scheduler is off)."""
        now = datetime.now(UTC)
        out = []
        for jid, (ws_id, ws_name, rule, mode) in sorted(self._wanted().items()):
            if workspace_id is not None and ws_id != workspace_id:
                continue
            job = self._sched.get_job(jid) if self.running and self._sched else None
            nxt = job.next_run_time if job is not None else None
            if job is None:
                nxt = DueDayTrigger(rule.schedule, self.at).get_next_fire_time(None, now)
            out.append(
                {
                    "job_id": jid,
                    "workspace": ws_name,
                    "rule_id": rule.id,
                    "version": rule.version,
                    "mode": mode,
                    "schedule": rule.schedule.model_dump(mode="json"),
                    "at": self.at.strftime("%H:%M"),
                    "next_run": nxt.isoformat() if nxt is not None else None,
                    "active": job is not None,
                }
            )
        return out

    # -- the job --------------------------------------------------------------------------------
    def fire(self, workspace_id: int, rule_id: str) -> dict[str, Any] | None:
        """The job: run the rule for today's date in its time zone."""
        try:
            rs = self.state.rules.store(self.state.workspaces.get(workspace_id))
            rule = svc.get_rule(rs, rule_id)
            day = datetime.now(ZoneInfo(rule.schedule.timezone)).date()
            return self.run_due(workspace_id, rule_id, day)
        except SpendLabError as e:
            log.warning("scheduled run of rule %s (workspace %s) failed: %s", rule_id,
                        workspace_id, e)  # fmt: skip
            return None

    def run_due(self, workspace_id: int, rule_id: str, day: date) -> dict[str, Any] | None:
        """Run one saved rule for ``day`` in its mode if it is enabled and due that day.
        Idempotent: a second call for the same rule version and day adds nothing."""
        ws = self.state.workspaces.get(workspace_id)
        rs = self.state.rules.store(ws)
        rule = svc.get_rule(rs, rule_id)
        if not rule.enabled or not rule.schedule.is_due(day):
            return None
        mode = (store.rule_settings_of(rs).get(rule_id) or {}).get("mode") or "suggest"
        with self.state.workspaces.warehouse(ws.id) as wh:
            result = svc.run(wh, rs, [rule], day, mode=mode, approver="scheduler")
        log.info("scheduled run of %s on %s (%s): %d actions", rule_id, day, mode,
                 len(result["actions"]))  # fmt: skip
        return result
