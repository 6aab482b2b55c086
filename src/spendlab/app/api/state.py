"""What the server holds while it runs: settings, the server's store, the token service, the
login limiter, the workspace registry (a handle per workspace; no warehouse is held open between
operations), the job runner and the rules scheduler."""

from __future__ import annotations

from spendlab.app.auth import LoginLimiter, TokenService
from spendlab.app.jobs import JobRunner
from spendlab.app.registry import Workspaces
from spendlab.app.scheduler import RuleScheduler
from spendlab.app.store import Store
from spendlab.config import Settings
from spendlab.workspace import workspaces_root


class AppState:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.tokens = TokenService(settings, store)
        self.limiter = LoginLimiter(settings.login_attempts_per_minute)
        self.workspaces = Workspaces(store, workspaces_root(settings), settings)
        self.jobs = JobRunner(store)
        self.scheduler = RuleScheduler(self)

    def close(self) -> None:
        self.scheduler.shutdown()
        self.jobs.shutdown()
        self.workspaces.close_all()
        self.store.close()
