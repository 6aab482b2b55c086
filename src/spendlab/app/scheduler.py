"""Scheduled rule runs inside ``spendlab serve`` (APScheduler, in the server process).

Every saved, enabled rule of every registered workspace gets one job. Its trigger fires at
``Settings.scheduler_time`` (local time in the rule's time zone) on each day the rule's schedule
is due (``Schedule.is_due``: once / daily / weekly days / monthly days, start and end), and runs
that rule in its mode (``suggest`` by default, ``auto`` when an admin set it) for that local
date. Runs are idempotent: a rule version runs at most once per date (the action log's
``rule_run_dates``), so a restart or a double fire adds nothing. ``SPENDLAB_SCHEDULER=0`` turns
the scheduler off (cron or Airflow can run ``spendlab rules run --all`` instead); it is off in
the tests unless a test turns it on.

Each job opens the workspace's handle (``state.workspaces.handle``) and calls
:mod:`spendlab.automate.service`; the warehouse is open only while the rule runs.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from spendlab.automate import service as svc
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
        for row in self.state.workspaces.list():
            try:
                rules = svc.scheduled(self.state.workspaces.handle(row.id))
            except SpendLabError as e:
                log.warning("workspace %s: rules store unavailable: %s", row.name, e)
                continue
            for r, mode in rules:
                out[f"rules:{row.id}:{r.id}"] = (row.id, row.name, r, mode)
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
            return self.run_due(workspace_id, rule_id)
        except SpendLabError as e:
            msg = "scheduled run of rule %s (workspace %s) failed: %s"
            log.warning(msg, rule_id, workspace_id, e)
            return None

    def run_due(
        self, workspace_id: int, rule_id: str, day: date | None = None
    ) -> dict[str, Any] | None:
        """Run one saved rule for ``day`` (default: today in its time zone) in its mode if it
        is enabled and due that day (:func:`spendlab.automate.service.run_due`). Idempotent: a
        second call for the same rule version and day adds nothing."""
        ws = self.state.workspaces.handle(workspace_id)
        result = svc.run_due(ws, rule_id, day, approver="scheduler")
        if result is None:
            return None
        n = len(result["actions"])
        log.info(
            "scheduled run of %s on %s (%s): %d actions",
            rule_id,
            result["as_of"],
            result["mode"],
            n,
        )
        return result
