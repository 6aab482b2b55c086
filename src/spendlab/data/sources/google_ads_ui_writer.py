"""The Google Ads UI export writer: canonical rows rendered as a Google Ads web-interface
download (title and date-range lines, header, rows, a Total row; UTF-8 CSV, UTF-16 "CSV for
Excel" or XLSX). Used by the simulator and the round-trip tests of
:mod:`spendlab.data.sources.google_ads_ui`."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from spendlab.data.sources.countries import COUNTRY_NAMES
from spendlab.errors import ConfigError

#: finest first: (level, id column, name column), the canonical columns the writer renders
LEVELS = (
    ("keyword", "keyword_id", "keyword_text"),
    ("ad_group", "ad_group_id", "ad_group_name"),
    ("campaign", "campaign_id", "campaign_name"),
    ("account", "account_id", "account_name"),
)
WRITE_DEVICES = {"desktop": "Computers", "mobile": "Mobile phones", "tablet": "Tablets"}
WRITE_DEVICES |= {"tv": "TV screens", "other": "Other"}
WRITE_MATCH = {"exact": "Exact match", "phrase": "Phrase match", "broad": "Broad match"}
WRITE_TYPES = {"search": "Search", "display": "Display", "shopping": "Shopping", "video": "Video"}
WRITE_TYPES |= {"performance_max": "Performance Max", "demand_gen": "Demand Gen"}


def _flag(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "on")


def write_export(df: Any, path: Path, **options: Any) -> Path:
    import pandas as pd

    decimal = str(options.get("decimal") or ".")
    if decimal not in (".", ","):
        raise ConfigError(f"writer option decimal must be '.' or ',', not {decimal!r}")
    df = df.reset_index(drop=True)

    def has(c: str) -> bool:
        return c in df.columns and bool(df[c].fillna("").astype(str).ne("").any())

    level = next((lv for lv, i, _ in LEVELS if has(i)), "campaign")
    rank = [lv for lv, *_ in LEVELS][::-1].index(level)
    dates = pd.to_datetime(df["date"]).dt.date if len(df) else pd.Series([], dtype=object)
    spec: list[tuple[str, Any]] = [("Day", lambda r: r["date"].isoformat())]
    if has("account_id"):
        spec.append(("Customer ID", lambda r: _customer_id(r["account_id"])))
    if has("account_name"):
        spec.append(("Account name", lambda r: _text(r["account_name"])))
    for lv, id_col, name_col in LEVELS[::-1][1 : rank + 1]:
        label = {"campaign": "Campaign", "ad_group": "Ad group", "keyword": "Keyword"}[lv]
        spec.append((label, lambda r, c=name_col: _text(r.get(c))))
        spec.append((f"{label} ID", lambda r, c=id_col: _text(r.get(c))))
    if level == "keyword" and has("match_type"):
        spec.append(("Match type", lambda r: WRITE_MATCH.get(_text(r["match_type"]), "")))
    if has("objective"):
        spec.append(("Campaign type", lambda r: _campaign_type(r["objective"])))
    if has("device"):
        spec.append(("Device", lambda r: WRITE_DEVICES.get(_text(r["device"]), "")))
    if has("country"):
        c = "Country/Territory"
        spec.append((c, lambda r: COUNTRY_NAMES.get(_text(r["country"]), _text(r["country"]))))
    spec.append(("Currency code", lambda r: _text(r.get("currency"))))
    labels = {"impressions": "Impr.", "clicks": "Clicks", "spend": "Cost"}
    labels |= {"conversions": "Conversions", "conversion_value": "Conv. value"}
    metrics = [(m, lab) for m, lab in labels.items() if m in df.columns]
    header = [h for h, _ in spec] + [lab for _, lab in metrics]
    rows: list[list[Any]] = []
    for rec, day in zip(df.to_dict("records"), dates, strict=True):
        rec["date"] = day
        rows.append([f(rec) for _, f in spec] + [rec[m] for m, _ in metrics])
    totals = ["Total: Account"] + ["--"] * (len(spec) - 1)
    totals += [round(float(df[m].fillna(0).sum()), 2) for m, _ in metrics]
    rows.append(totals)
    title = str(options.get("title") or f"{level.replace('_', ' ').capitalize()} report")
    span = _date_range(min(dates), max(dates), decimal) if len(df) else "All time"
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        for r in [[title], [span], header, *rows]:
            sheet.append([_xlsx_value(v) for v in r])
        for row in sheet.iter_rows():  # '=Brand' is a name, not a formula
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
        book.save(path)
        return path
    ints = {lab for m, lab in metrics if m in ("impressions", "clicks")}
    heads = [h for h, _ in spec] + [lab for _, lab in metrics]
    text_rows = [
        [v if i < len(spec) else _format(v, heads[i] in ints, decimal) for i, v in enumerate(r)]
        for r in rows
    ]
    excel = _flag(options.get("excel", False))
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter="\t" if excel else ",", lineterminator="\r\n" if excel else "\n")
    w.writerows([[title], [span], header, *text_rows])
    data = buf.getvalue()
    path.write_bytes(b"\xff\xfe" + data.encode("utf-16-le") if excel else data.encode("utf-8"))
    return path


def _text(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def _customer_id(v: Any) -> str:
    s = _text(v)
    return f"{s[:3]}-{s[3:6]}-{s[6:]}" if len(s) == 10 and s.isdigit() else s


def _campaign_type(v: Any) -> str:
    s = _text(v)
    return WRITE_TYPES.get(s, s.replace("_", " ").capitalize())


def _format(v: Any, integer: bool, decimal: str) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "--"
    d = Decimal(int(v)) if integer else Decimal(repr(float(v)))
    if not integer and d.as_tuple().exponent > -2:  # type: ignore[operator]
        d = d.quantize(Decimal("0.01"))
    s = f"{d:,f}"
    return s.translate(str.maketrans(",.", ".,")) if decimal == "," else s


def _xlsx_value(v: Any) -> Any:
    if hasattr(v, "item"):  # numpy scalar
        v = v.item()
    return None if isinstance(v, float) and v != v else v


def _date_range(start: dt.date, end: dt.date, decimal: str) -> str:
    if decimal == ",":
        short = "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.".split()
        return " - ".join(f"{d.day} {short[d.month - 1]} {d.year}" for d in (start, end))
    return " - ".join(f"{d:%B} {d.day}, {d.year}" for d in (start, end))
