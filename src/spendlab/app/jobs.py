"""Background jobs with progress: model fits, backtests and other long work started from the
API or the dashboard run here, one at a time by default (the machine has few cores), while the
store records status, progress and the result so any process can poll it."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import select, update

from spendlab.app.store import Job, Store
from spendlab.app.store.models import utcnow
from spendlab.errors import NotFoundError, SpendLabError

log = logging.getLogger("spendlab.jobs")

#: ``progress(fraction 0..1, message)``
Progress = Callable[[float, str], None]
Work = Callable[[Progress], dict[str, Any]]


class JobRunner:
    def __init__(self, store: Store, workers: int = 1, min_interval: float = 0.5) -> None:
        self.store = store
        self.min_interval = min_interval
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spendlab-job")
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._fail_interrupted()

    def _fail_interrupted(self) -> None:
        """Jobs left queued or running by a previous server process (stopped, or killed) will
        never finish: they become ``failed`` with the reason, so a client polling one stops
        waiting and knows to start it again."""
        reasons = {
            "running": "the server stopped while it ran; start it again",
            "queued": "the server stopped before it started; start it again",
        }
        with self.store.session() as s:
            for status, reason in reasons.items():
                s.execute(
                    update(Job)
                    .where(Job.status == status)
                    .values(status="failed", error=reason, finished_at=utcnow())
                )

    def submit(
        self,
        kind: str,
        work: Work,
        *,
        workspace_id: int | None = None,
        params: dict[str, Any] | None = None,
        user: str = "",
    ) -> str:
        job_id = secrets.token_hex(8)
        with self.store.session() as s:
            s.add(
                Job(
                    id=job_id,
                    kind=kind,
                    workspace_id=workspace_id,
                    params=params or {},
                    created_by=user,
                    message="queued",
                )
            )
        future = self._pool.submit(self._run, job_id, work)
        with self._lock:
            self._futures[job_id] = future
        return job_id

    def _set(self, job_id: str, **values: Any) -> None:
        with self.store.session() as s:
            s.execute(update(Job).where(Job.id == job_id).values(**values))

    def _run(self, job_id: str, work: Work) -> None:
        self._set(job_id, status="running", message="started")
        last = 0.0

        def progress(fraction: float, message: str = "") -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= self.min_interval or fraction >= 1:
                last = now
                self._set(job_id, progress=max(0.0, min(1.0, float(fraction))), message=message)

        try:
            result = work(progress)
        except SpendLabError as e:
            self._set(job_id, status="failed", error=str(e), finished_at=utcnow())
        except Exception as e:  # a bug: the trace goes to the log, not to the client
            log.error("job %s (%s) crashed", job_id, type(e).__name__, exc_info=e)
            self._set(
                job_id,
                status="failed",
                error=f"internal error ({type(e).__name__}); the server log has the details",
                finished_at=utcnow(),
            )
        else:
            self._set(
                job_id,
                status="succeeded",
                progress=1.0,
                message="done",
                result=result,
                finished_at=utcnow(),
            )
        finally:
            with self._lock:
                self._futures.pop(job_id, None)

    def get(self, job_id: str) -> dict[str, Any]:
        with self.store.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise NotFoundError(f"no job {job_id!r}")
            return job.to_dict()

    def list(self, workspace_id: int | None = None, kind: str | None = None) -> list[dict]:
        q = select(Job).order_by(Job.created_at.desc())
        if workspace_id is not None:
            q = q.where(Job.workspace_id == workspace_id)
        if kind is not None:
            q = q.where(Job.kind == kind)
        with self.store.session() as s:
            return [j.to_dict() for j in s.scalars(q)]

    def wait(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)
        return self.get(job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
