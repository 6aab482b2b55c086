"""A test hook for fault drills: make a process stop at a named point so a test can kill it there.

Production code marks the moments where a crash would hurt most (just before a commit, between
two stores' writes) with ``checkpoint("ingest.before_commit")``. Normally that is one dictionary
lookup and nothing else. When the environment names the point, the process announces it and waits
to be killed:

    SPENDLAB_TEST_PAUSE_AT=ingest.before_commit     one name, or several separated by commas
    SPENDLAB_TEST_PAUSE_DIR=/tmp/drill              where "<name>.reached" is written (holds the
                                                    pid); default: the system temporary folder

The drill (tests/faults) starts a real process with these set, waits (bounded) for the
``.reached`` file, sends SIGKILL and checks what the next process finds. A process that is never
killed waits at most ``SPENDLAB_TEST_PAUSE_TIMEOUT`` seconds (default 60), unless a
``<name>.release`` file appears first (then it carries on), and then fails with
:class:`FaultPauseTimeout` rather than finishing the work unobserved.

Points in the code base (docs/security.md, "Fault drills"):

==================================  ====================================================
``ingest.before_commit``            a load's upserts and its load-log row, not yet committed
``rules.before_commit``             a run's actions and run record, not yet committed
``approve.after_write``             the entities hold the new values; the actions still say
                                    proposed (two databases: the warehouse and the store)
``mmm.fit``                         a fit job has started its fit (the run is ``running``)
``store.migrate.<revision>``        a store migration has applied ``<revision>``, uncommitted
==================================  ====================================================

Never set these variables outside tests.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from pathlib import Path

PAUSE_AT = "SPENDLAB_TEST_PAUSE_AT"
PAUSE_DIR = "SPENDLAB_TEST_PAUSE_DIR"
PAUSE_TIMEOUT = "SPENDLAB_TEST_PAUSE_TIMEOUT"


class FaultPauseTimeout(RuntimeError):
    """A test pause was neither killed nor released in time."""


def checkpoint(name: str) -> None:
    """Pause here when ``SPENDLAB_TEST_PAUSE_AT`` names ``name`` (a test hook; see the module)."""
    wanted = os.environ.get(PAUSE_AT)
    if not wanted or name not in wanted.split(","):
        return
    _pause(name)


def marker(name: str, suffix: str = "reached") -> Path:
    """The file that says a process reached (``reached``) or may leave (``release``) ``name``."""
    return Path(os.environ.get(PAUSE_DIR) or tempfile.gettempdir()) / f"{name}.{suffix}"


def _pause(name: str) -> None:
    reached, release = marker(name), marker(name, "release")
    reached.parent.mkdir(parents=True, exist_ok=True)
    tmp = reached.with_suffix(".tmp")
    tmp.write_text(str(os.getpid()))
    tmp.replace(reached)  # appears whole: the drill never reads a half-written pid
    deadline = time.monotonic() + float(os.environ.get(PAUSE_TIMEOUT) or 60)
    while not release.exists():
        if time.monotonic() > deadline:
            raise FaultPauseTimeout(f"test pause at {name!r} was not killed nor released")
        time.sleep(0.02)


def no_space(e: BaseException) -> bool:
    """Whether ``e`` (or an exception it was raised from) says the disk is full: ``OSError``
    ENOSPC, or a database that reports it in its message (DuckDB: "No space left on device")."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(cur) or "Disk quota exceeded" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


__all__ = ["PAUSE_AT", "PAUSE_DIR", "FaultPauseTimeout", "checkpoint", "marker", "no_space"]
