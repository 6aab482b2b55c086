"""Pages whose modules are not configured in a workspace yet: they say what to do, and never
show made-up numbers."""

from __future__ import annotations

from typing import Any

from dash import html

from spendlab.app.web.pages.context import Page, PageContext


def _empty(title: str, what: str, steps: list[Any]) -> Any:
    def layout(ctx: PageContext) -> html.Div:
        return html.Div(
            [
                html.H2(title),
                html.Div(
                    className="empty",
                    id=f"empty-{title.lower()}",
                    children=[
                        html.H3(f"{title} is not configured for this workspace yet"),
                        html.P(what),
                        html.Ol([html.Li(s) for s in steps]),
                    ],
                ),
            ]
        )

    return layout


def _noop(app: Any, state: Any) -> None:
    return None


PAGES = [
    Page(
        "experiments",
        "Experiments",
        _empty(
            "Experiments",
            "Experiments records lift tests and geo experiments and their measured incremental "
            "effect, which also calibrates the marketing-mix model.",
            [
                "Run a lift test or a geo experiment on one channel.",
                "Note its period, the measured incremental outcome and its standard error: "
                "the marketing-mix model takes them as calibration inputs (see docs/mmm.md).",
            ],
        ),
        _noop,
    ),
]
