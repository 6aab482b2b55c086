"""Dashboard pages, in navigation order."""

from __future__ import annotations

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
from spendlab.app.web.pages.context import Page, PageContext


def _pages() -> list[Page]:
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

__all__ = ["PAGES", "Page", "PageContext"]
