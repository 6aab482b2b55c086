"""Exit codes of every ``spendlab`` command (documented in docs/cli.md).

| code | meaning |
|---|---|
| 0 | success |
| 1 | unexpected error (a bug: please report it with the command and its output) |
| 2 | usage error: unknown command or option, missing argument (from Typer/Click) |
| 3 | data rejected: the input file or rows are invalid; nothing was written |
| 4 | workspace problem: not found, not initialised, locked by another process, newer schema |
| 5 | configuration problem: invalid option or setting value |
| 6 | not found: the named user, key, run, rule, scenario or curve set does not exist |
"""

from __future__ import annotations

from spendlab.errors import (
    ConfigError,
    DataError,
    NotFittedError,
    NotFoundError,
    SpendLabError,
    WorkspaceError,
)

OK = 0
UNEXPECTED = 1
USAGE = 2
DATA_REJECTED = 3
WORKSPACE = 4
CONFIG = 5
NOT_FOUND = 6


def code_for(error: BaseException) -> int:
    """The exit code for an error (one place, like the API's HTTP mapping)."""
    if isinstance(error, DataError):
        return DATA_REJECTED
    if isinstance(error, WorkspaceError):
        return WORKSPACE
    if isinstance(error, ConfigError):
        return CONFIG
    if isinstance(error, NotFoundError | NotFittedError):  # e.g. planning without a curve set
        return NOT_FOUND
    if isinstance(error, SpendLabError):
        return UNEXPECTED
    return UNEXPECTED
