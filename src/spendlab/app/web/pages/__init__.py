"""Dashboard pages, in navigation order."""

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


def _pages() -> list[Page]:
    from spendlab.app.web.pages import (
        automate,
        automate_callbacks,
        data,
        measure,
        overview,
        placeholders,
        plan,
        settings,
    )

    return [
        Page("overview", "Overview", overview.layout, overview.register),
        Page("data", "Data", data.layout, data.register),
        Page("measure", "Measure", measure.layout, measure.register),
        Page("plan", "Plan", plan.layout, plan.register),
        Page("automate", "Automate", automate.layout, automate_callbacks.register),
        *placeholders.PAGES,
        Page("settings", "Settings", settings.layout, settings.register, needs_workspace=False),
    ]


PAGES: list[Page] = _pages()
