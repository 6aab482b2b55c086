"""Output helpers shared by commands: JSON on stdout with ``--json``, Rich for people, errors
mapped to exit codes in one place."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console

from spendlab.cli.exit_codes import code_for
from spendlab.errors import SpendLabError

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def run(fn: Callable[[], T], *, as_json: bool) -> T:
    """Run a command body; map SpendLab errors to an exit code and a message (JSON or text)."""
    try:
        return fn()
    except SpendLabError as e:
        issues = [i.to_dict() for i in getattr(e, "issues", [])]
        if as_json:
            emit_json({"error": {"type": type(e).__name__, "message": str(e), "issues": issues}})
        else:
            err.print(f"[bold red]error[/]: {e}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(code_for(e)) from None


@contextmanager
def status(message: str, *, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr for people (silent with --json); yields a callback to update it."""
    if quiet or not err.is_terminal:
        yield lambda _msg: None
        return
    with err.status(message) as st:
        yield lambda msg: st.update(msg)
