"""What a page is given: the server state, the signed-in user and the chosen workspace; and
what a page is (its navigation entry, layout and callbacks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spendlab.app.api.state import AppState
from spendlab.app.auth import Principal


@dataclass(frozen=True)
class PageContext:
    state: AppState
    user: Principal
    workspace_id: int | None


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    layout: Callable[[PageContext], Any]
    register: Callable[[Any, AppState], None]
    needs_workspace: bool = True
