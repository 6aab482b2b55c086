"""Overview: date range with presets and previous-period comparison, KPI scorecards with deltas,
spend and revenue trends, and the campaign table (server-side paging, drill-down)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import dash_ag_grid as dag
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from spendlab.app.web.pages.context import PageContext
from spendlab.app.web.session import current_user
from spendlab.core.dates import DateRange
from spendlab.core.metrics import METRICS
from spendlab.data import explorer as ex

CARDS = ("spend", "revenue", "roas", "conversions", "cpa", "clicks", "ctr")
NEXT = {"account": "campaign", "campaign": "ad_group", "ad_group": "keyword"}
LEVEL_LABEL = {
    "account": "Accounts",
    "campaign": "Campaigns",
    "ad_group": "Ad groups",
    "keyword": "Keywords",
}
KEY_COLS = ("platform", "account_id", "campaign_id", "ad_group_id", "keyword_id")


def fmt(name: str, v: float | None, currency: str = "") -> str:
    if v is None:
        return "–"
    if name in ("ctr", "cvr"):
        return f"{v:.2%}"
    if name == "roas":
        return f"{v:.2f}"
    if METRICS[name].money:
        return f"{currency} {v:,.2f}".strip()
    if abs(v - round(v)) < 1e-9:
        return f"{v:,.0f}"
    return f"{v:,.1f}"


def delta_view(name: str, d: float | None) -> html.Span:
    if d is None:
        return html.Span("no previous data", className="delta flat")
    good = (d > 0) == METRICS[name].higher_is_better
    cls = "flat" if abs(d) < 0.005 else ("good" if good else "bad")
    arrow = "▲" if d > 0 else ("▼" if d < 0 else "")
    return html.Span(f"{arrow} {d:+.1%} vs previous", className=f"delta {cls}")


def layout(ctx_: PageContext) -> html.Div:
    with ctx_.state.workspaces.warehouse(ctx_.workspace_id, read_only=True) as wh:
        full = ex.data_range(wh)
    if full is None:
        return html.Div(
            [
                html.H2("Overview"),
                html.Div(
                    className="empty",
                    id="overview-empty",
                    children=[
                        html.H3("No ad delivery loaded yet"),
                        html.P("Upload platform exports on the Data page to see KPIs here."),
                        dcc.Link("Go to Data", href="/app/data"),
                    ],
                ),
            ]
        )
    return html.Div(
        [
            html.H2("Overview"),
            dcc.Store(id="ov-drill", data=[{"level": "campaign", "label": "All campaigns"}]),
            html.Div(
                className="controls",
                children=[
                    dcc.Dropdown(
                        id="ov-preset",
                        className="preset",
                        clearable=False,
                        value="last_30_days",
                        options=[
                            *({"label": v, "value": k} for k, v in ex.PRESETS.items()),
                            {"label": "Custom range", "value": "custom"},
                        ],
                    ),
                    dcc.DatePickerRange(
                        id="ov-dates",
                        min_date_allowed=full.start,
                        max_date_allowed=full.end,
                        start_date=full.end - dt.timedelta(days=29),
                        end_date=full.end,
                        display_format="YYYY-MM-DD",
                    ),
                    dcc.Checklist(
                        id="ov-compare",
                        options=[{"label": " Compare with previous period", "value": "on"}],
                        value=["on"],
                    ),
                    html.Span(id="ov-period", className="muted"),
                ],
            ),
            html.Div(id="ov-cards", className="cards"),
            html.Div(className="panel", children=dcc.Graph(id="ov-trend")),
            html.Div(
                className="panel",
                children=[
                    dcc.RadioItems(
                        id="ov-level",
                        value="campaign",
                        inline=True,
                        options=[{"label": f" {v}  ", "value": k} for k, v in LEVEL_LABEL.items()],
                    ),
                    html.Div(id="ov-crumbs", className="crumbs"),
                    html.Div(id="ov-grid-wrap"),
                    html.P(
                        "Click a name to drill down: account > campaign > ad group > keyword. "
                        "Sort by any column; rows load page by page from the warehouse.",
                        className="muted",
                    ),
                ],
            ),
        ]
    )


def _scope(state, ws_id, preset, start, end) -> DateRange:
    if preset != "custom":
        with state.workspaces.warehouse(ws_id, read_only=True) as wh:
            full = ex.data_range(wh)
        return ex.resolve_preset(preset, full.end, full.start)
    return DateRange(dt.date.fromisoformat(start[:10]), dt.date.fromisoformat(end[:10]))


def _filters(drill: list[dict[str, Any]]) -> dict[str, str]:
    return dict(drill[-1].get("filters", {})) if drill else {}


def _grid(level: str, currency: str) -> dag.AgGrid:
    money = {"function": "params.value == null ? '–' : d3.format(',.2f')(params.value)"}
    num = {"function": "params.value == null ? '–' : d3.format(',.0f')(params.value)"}
    ratio = {"function": "params.value == null ? '–' : d3.format('.2f')(params.value)"}
    pct = {"function": "params.value == null ? '–' : d3.format('.2%')(params.value)"}
    delta = {"function": "params.value == null ? '' : d3.format('+.1%')(params.value)"}
    cols = [
        {
            "field": "name",
            "headerName": LEVEL_LABEL[level][:-1],
            "minWidth": 280,
            "cellStyle": {"color": "#2454d6", "cursor": "pointer"} if level in NEXT else {},
        },
        {"field": "platform", "width": 120},
        {"field": "spend", "headerName": f"Spend ({currency})", "valueFormatter": money},
        {"field": "spend_delta", "headerName": "Δ spend", "valueFormatter": delta},
        {"field": "revenue", "headerName": f"Revenue ({currency})", "valueFormatter": money},
        {"field": "roas", "headerName": "ROAS", "valueFormatter": ratio},
        {"field": "roas_delta", "headerName": "Δ ROAS", "valueFormatter": delta},
        {"field": "conversions", "valueFormatter": num},
        {"field": "cpa", "headerName": "CPA", "valueFormatter": money},
        {"field": "clicks", "valueFormatter": num},
        {"field": "impressions", "valueFormatter": num},
        {"field": "ctr", "headerName": "CTR", "valueFormatter": pct},
        {"field": "cpc", "headerName": "CPC", "valueFormatter": money},
    ]
    for c in cols:
        c.setdefault("sortable", c["field"] not in ("platform",) and "delta" not in c["field"])
    return dag.AgGrid(
        id="ov-grid",
        rowModelType="infinite",
        columnDefs=cols,
        defaultColDef={"resizable": True, "minWidth": 100},
        dashGridOptions={
            "cacheBlockSize": 100,
            "maxBlocksInCache": 20,
            "infiniteInitialRowCount": 1,
            "getRowId": {"function": "params.data.key"},
        },
        getRowId="params.data.key",
        style={"height": "480px"},
        className="ag-theme-alpine",
    )


def register(app, state) -> None:
    @app.callback(
        Output("ov-preset", "value"),
        Output("ov-dates", "start_date"),
        Output("ov-dates", "end_date"),
        Input("ov-preset", "value"),
        Input("ov-dates", "start_date"),
        Input("ov-dates", "end_date"),
        State("ws-select", "value"),
        prevent_initial_call=True,
    )
    def _range(preset, start, end, ws_id):
        """A preset sets the dates; dates picked by hand make the range custom."""
        if ws_id is None:
            return no_update, no_update, no_update
        if ctx.triggered_id == "ov-preset":
            if preset == "custom":
                return no_update, no_update, no_update
            rng = _scope(state, ws_id, preset, None, None)
            return no_update, rng.start.isoformat(), rng.end.isoformat()
        if preset != "custom" and start and end:
            rng = _scope(state, ws_id, preset, None, None)
            if (rng.start.isoformat(), rng.end.isoformat()) != (start[:10], end[:10]):
                return "custom", no_update, no_update
        return no_update, no_update, no_update

    @app.callback(
        Output("ov-cards", "children"),
        Output("ov-trend", "figure"),
        Output("ov-period", "children"),
        Input("ov-preset", "value"),
        Input("ov-dates", "start_date"),
        Input("ov-dates", "end_date"),
        Input("ov-compare", "value"),
        Input("ov-drill", "data"),
        State("ws-select", "value"),
    )
    def _summary(preset, start, end, compare, drill, ws_id):
        current_user(state)
        rng = _scope(state, ws_id, preset, start, end)
        on = bool(compare)
        filters = _filters(drill)
        with state.workspaces.warehouse(ws_id, read_only=True) as wh:
            totals = ex.kpi_totals(wh, rng, filters, on)
            daily = ex.trend(wh, rng, filters)
            cur = wh.currency
        cards = []
        for name in CARDS:
            value = totals["current"][name]
            children = [
                html.Div(METRICS[name].label, className="label"),
                html.Div(fmt(name, value, cur), className="value", id=f"kpi-{name}"),
            ]
            if on:
                children.append(delta_view(name, totals["delta"][name]))
            cards.append(html.Div(children, className="card"))
        fig = go.Figure()
        fig.add_scatter(x=daily["date"], y=daily["spend"], name="Spend", mode="lines")
        fig.add_scatter(
            x=daily["date"], y=daily["revenue"], name="Revenue (platform-reported)", mode="lines"
        )
        if "business_revenue" in daily:
            fig.add_scatter(
                x=daily["date"],
                y=daily["business_revenue"],
                name="Revenue (business, all sources)",
                mode="lines",
            )
        fig.update_layout(
            title=f"Daily spend and revenue ({cur})",
            margin={"l": 40, "r": 20, "t": 40, "b": 30},
            height=320,
            legend={"orientation": "h", "y": -0.15},
            hovermode="x unified",
        )
        per = ex.period(rng, on)
        text = f"{per.current.start} to {per.current.end}"
        if per.previous:
            text += f", compared with {per.previous.start} to {per.previous.end}"
        return cards, fig, text

    @app.callback(
        Output("ov-grid-wrap", "children"),
        Output("ov-crumbs", "children"),
        Input("ov-drill", "data"),
        Input("ov-preset", "value"),
        Input("ov-dates", "start_date"),
        Input("ov-dates", "end_date"),
        Input("ov-compare", "value"),
        State("ws-select", "value"),
    )
    def _table(drill, _p, _s, _e, _c, ws_id):
        with state.workspaces.warehouse(ws_id, read_only=True) as wh:
            cur = wh.currency
        crumbs: list[Any] = []
        for i, step in enumerate(drill):
            if i:
                crumbs.append(html.Span("›", className="sep"))
            crumbs.append(html.Button(step["label"], id={"type": "crumb", "index": i}, n_clicks=0))
        return _grid(drill[-1]["level"], cur), crumbs

    @app.callback(
        Output("ov-grid", "getRowsResponse"),
        Input("ov-grid", "getRowsRequest"),
        State("ov-drill", "data"),
        State("ov-preset", "value"),
        State("ov-dates", "start_date"),
        State("ov-dates", "end_date"),
        State("ov-compare", "value"),
        State("ws-select", "value"),
        prevent_initial_call=True,
    )
    def _rows(request, drill, preset, start, end, compare, ws_id):
        if not request:
            return no_update
        current_user(state)
        rng = _scope(state, ws_id, preset, start, end)
        sort, desc = "spend", True
        if request.get("sortModel"):
            sm = request["sortModel"][0]
            if sm["colId"] in (*ex.KPIS, "name"):
                sort, desc = sm["colId"], sm["sort"] == "desc"
        start_row = int(request.get("startRow", 0))
        end_row = int(request.get("endRow", start_row + 100))
        level = drill[-1]["level"]
        with state.workspaces.warehouse(ws_id, read_only=True) as wh:
            rows, total = ex.kpi_table(
                wh,
                level,
                rng,
                _filters(drill),
                compare=bool(compare),
                sort=sort,
                descending=desc,
                offset=start_row,
                limit=max(1, end_row - start_row),
            )
        for r in rows:
            r["key"] = json.dumps([r.get(k, "") for k in KEY_COLS])
        return {"rowData": rows, "rowCount": total}

    @app.callback(
        Output("ov-drill", "data"),
        Input("ov-grid", "cellClicked"),
        Input({"type": "crumb", "index": ALL}, "n_clicks"),
        Input("ov-level", "value"),
        State("ov-drill", "data"),
        prevent_initial_call=True,
    )
    def _drill(cell, _clicks, level_choice, drill):
        trig = ctx.triggered_id
        if trig == "ov-level":
            return [{"level": level_choice, "label": f"All {LEVEL_LABEL[level_choice].lower()}"}]
        if isinstance(trig, dict) and trig.get("type") == "crumb":
            if not any(_clicks):
                return no_update
            return drill[: trig["index"] + 1]
        if not cell or cell.get("colId") != "name" or not cell.get("rowId"):
            return no_update
        level = drill[-1]["level"]
        if level not in NEXT:
            return no_update
        ids = dict(zip(KEY_COLS, json.loads(cell["rowId"]), strict=False))
        keep = KEY_COLS[: KEY_COLS.index(f"{level}_id") + 1]
        filters = {k: ids[k] for k in keep if ids.get(k)}
        return [
            *drill,
            {"level": NEXT[level], "label": str(cell.get("value") or "?"), "filters": filters},
        ]
