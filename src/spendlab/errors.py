"""One exception tree. Each class also subclasses the matching builtin, so callers may catch either.

    SpendLabError
    ├── ConfigError(ValueError)            a setting or option is wrong
    ├── WorkspaceError(RuntimeError)       workspace missing, not initialised, locked, newer schema
    │   ├── WorkspaceNotFoundError(FileNotFoundError)
    │   └── WorkspaceBusyError(TimeoutError)   another process held the warehouse too long
    ├── DataError(ValueError)              input data is unusable
    │   ├── SourceFormatError              a file is not in the format its reader expects
    │   └── ValidationError                rows break the canonical schema (carries Issues)
    ├── NotFoundError(LookupError)         a named thing (user, key, run, scenario) does not exist
    └── NotFittedError(AttributeError)     an estimator is used before fit()

Messages say what is wrong, which value (file, row, column), and how to fix it. The CLI maps each
class to an exit code (see ``spendlab.cli.exit_codes``), the API to an HTTP status, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


class SpendLabError(Exception):
    """Base of every error SpendLab raises on purpose."""


class ConfigError(SpendLabError, ValueError):
    """A setting, option or argument is invalid."""


class WorkspaceError(SpendLabError, RuntimeError):
    """The workspace cannot be used as asked (not initialised, locked, from a newer version)."""


class WorkspaceNotFoundError(WorkspaceError, FileNotFoundError):
    """No workspace at the given path."""


class WorkspaceBusyError(WorkspaceError, TimeoutError):
    """Another process held the workspace's warehouse longer than the wait allowed."""


class NotFoundError(SpendLabError, LookupError):
    """A named thing (user, API key, run, scenario) does not exist."""


class DataError(SpendLabError, ValueError):
    """Input data cannot be used."""


@dataclass(frozen=True)
class Issue:
    """One problem found in input data, located as precisely as the format allows.

    ``row`` is the 1-based line number in the file (the header is line 1) when known; ``count`` is
    how many rows share this problem (the row shown is the first).
    """

    problem: str
    fix: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None
    count: int = 1
    severity: str = "error"  # "error" blocks the load; "warning" does not

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column!r}")
        head = ", ".join(where)
        val = f" (value {self.value!r})" if self.value is not None else ""
        more = f" [{self.count - 1} more rows like this]" if self.count > 1 else ""
        return f"{head + ': ' if head else ''}{self.problem}{val}{more}. Fix: {self.fix}"

    def to_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "problem": self.problem,
            "fix": self.fix,
            "count": self.count,
        }


class SourceFormatError(DataError):
    """A file is not in the format its reader expects (empty, binary, missing header columns)."""

    def __init__(self, issue: Issue) -> None:
        self.issue = issue
        self.issues = [issue]
        super().__init__(str(issue))


class ValidationError(DataError):
    """Rows break the canonical schema; nothing was written. ``issues`` lists every problem."""

    def __init__(self, issues: list[Issue], *, rejected_rows: int | None = None) -> None:
        self.issues = issues
        self.rejected_rows = rejected_rows
        shown = "\n".join(f"  - {i}" for i in issues[:20])
        more = f"\n  ... and {len(issues) - 20} more problems" if len(issues) > 20 else ""
        n = f" ({rejected_rows} rows rejected)" if rejected_rows else ""
        super().__init__(f"input rejected, nothing was written{n}:\n{shown}{more}")


class NotFittedError(SpendLabError, AttributeError):
    """An estimator was used before ``fit``."""
