"""CRM orders: the Shopify orders export (one row per line item) or any order table with a map.

Fills ``orders`` (one row per order) and ``customers`` (one row per customer: first order in the
file, its country and channel). Customer e-mails are pseudonymised (SHA-256 of the trimmed,
lower-cased address) before anything is stored: the raw address never reaches the warehouse.

Shopify layout (default): ``Name`` (order number), ``Email``, ``Created at`` (with UTC offset),
``Currency``, ``Total``, ``Taxes``, ``Lineitem quantity``, ``Billing Country``, ``Source``,
``Refunded Amount``. Order-level fields are on the first line-item row of an order; the others
repeat ``Name`` with blank totals. ``value`` = Total - Taxes (net of tax; ``--option value=total``
keeps the gross total); ``items`` = sum of line-item quantities.

Options: ``map`` (canonical=source pairs for other CRMs, e.g.
``map=order_id=OrderNo,customer_id=CustomerId,timestamp=OrderDate,value=Revenue``; rows are then
orders), ``currency`` (when the file has none), ``timezone`` (of timestamps without an offset;
default UTC), ``pseudonymize`` (default: when the customer column holds e-mail addresses),
``value`` (``net`` or ``total``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir
import pandas as pd

from spendlab.data.sources.base import ROW, ReadContext, Source, decode_text

SHOPIFY = {
    "order_id": "Name",
    "email": "Email",
    "timestamp": "Created at",
    "currency": "Currency",
    "total": "Total",
    "taxes": "Taxes",
    "quantity": "Lineitem quantity",
    "country": "Billing Country",
    "channel": "Source",
    "refunded": "Refunded Amount",
}


def pseudonymize(email: str) -> str:
    """The stored customer id of an e-mail address."""
    return "h-" + hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:24]


class CRMOrders(Source):
    name: ClassVar[str] = "crm_orders"
    description: ClassVar[str] = "CRM orders (Shopify export, or any order table with a map)"
    tables: ClassVar[tuple[str, ...]] = ("orders", "customers")
    suffixes: ClassVar[tuple[str, ...]] = (".csv", ".xlsx", ".parquet")
    in_memory: ClassVar[bool] = True

    def read(self, ctx: ReadContext) -> dict[str, ir.Table]:
        head = self.check_file(ctx)
        df = _frame(ctx, head)
        orders = _mapped(ctx, df) if ctx.options.get("map") else _shopify(ctx, df)
        orders["timestamp"] = _utc(ctx, orders)
        if _should_hash(ctx, orders["customer_id"]):
            orders["customer_id"] = orders["customer_id"].map(
                lambda v: pseudonymize(v) if isinstance(v, str) and v.strip() else None
            )
        if "currency" not in orders or orders["currency"].isna().all():
            cur = ctx.options.get("currency")
            if not cur:
                raise ctx.fail(
                    "has no currency column", "pass --option currency=USD", column="Currency"
                )
            orders["currency"] = str(cur).upper()
        if ctx.options.get("currency"):
            orders["currency"] = orders["currency"].fillna(str(ctx.options["currency"]).upper())
        customers = _customers(orders)
        out = {"orders": orders, "customers": customers}
        return {k: ibis.memtable(v.astype(object).where(v.notna(), None)) for k, v in out.items()}

    def write(self, frames: dict[str, Any], path: Path, **options: Any) -> Path:
        """A Shopify-style export: one line-item row per item (at most 3 rows per order).

        Customers get e-mails ``customer_<id>@example.com``, so after a round trip the stored
        customer id is ``pseudonymize(that address)``.
        """
        o = frames["orders"].copy()
        items = o["items"].fillna(1).astype(int).clip(lower=1) if "items" in o else 1
        o["_lines"] = pd.Series(items, index=o.index).clip(upper=3)
        rows = o.loc[o.index.repeat(o["_lines"])].copy()
        first = ~rows.index.duplicated()
        ts = pd.to_datetime(rows["timestamp"]).dt.strftime("%Y-%m-%d %H:%M:%S +0000")
        out = pd.DataFrame(
            {
                "Name": rows["order_id"].astype(str).values,
                "Email": ("customer_" + rows["customer_id"].astype(str) + "@example.com").values,
                "Created at": ts.values,
                "Currency": rows.get("currency", pd.Series("USD", index=rows.index)).values,
                "Total": rows["value"].round(2).astype(str).values,
                "Taxes": "0.00",
                "Lineitem quantity": 1,
                "Billing Country": rows.get("country", pd.Series("", index=rows.index)).values,
                "Source": rows.get("channel", pd.Series("", index=rows.index)).values,
            }
        )
        n_items = pd.Series(items, index=o.index)
        qty = (n_items - (o["_lines"] - 1)).reindex(rows.index[first]).values
        out.loc[first, "Lineitem quantity"] = qty
        for col in ("Created at", "Currency", "Total", "Taxes", "Billing Country", "Source"):
            out.loc[~first, col] = ""
        out.to_csv(path, index=False)
        return Path(path)


def _frame(ctx: ReadContext, head: bytes) -> pd.DataFrame:
    suffix = ctx.path.suffix.lower()
    try:
        if suffix == ".xlsx":
            df = pd.read_excel(ctx.path, dtype=str, engine="calamine")
            first = 2
        elif suffix == ".parquet":
            df = pd.read_parquet(ctx.path).astype("string").astype(object)
            first = 1
        else:
            import io

            text = decode_text(ctx.path.read_bytes())
            df = pd.read_csv(
                io.StringIO(text),
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                skipinitialspace=True,
            )
            first = 2
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise ctx.fail(
            f"cannot be parsed as an order export: {str(e).splitlines()[0][:200]}",
            "check quotes and column counts, or export again as CSV",
        ) from e
    df.columns = [str(c).strip() for c in df.columns]
    df[ROW] = range(first, first + len(df))
    return df


def _require(ctx: ReadContext, df: pd.DataFrame, cols: list[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ctx.fail(
            f"is missing column(s) {', '.join(repr(c) for c in missing)}",
            "export the full orders CSV (Shopify: Orders > Export > All columns), or "
            f"map your columns with --option map=...; columns found: "
            f"{', '.join(c for c in df.columns if c != ROW)[:300]}",
            column=missing[0],
        )


def _shopify(ctx: ReadContext, df: pd.DataFrame) -> pd.DataFrame:
    s = SHOPIFY
    _require(ctx, df, [s["order_id"], s["email"], s["timestamp"], s["total"]])
    firsts = df[df[s["total"]].notna()]
    dup = firsts[firsts.duplicated(s["order_id"], keep=False)]
    if len(dup):
        rows = dup.groupby(s["order_id"])[ROW].apply(list).iloc[0]
        raise ctx.fail(
            f"order {dup[s['order_id']].iloc[0]!r} has order totals on more than one "
            f"row (rows {rows[0]} and {rows[1]})",
            "keep the order-level fields on the first line-item row only",
            row=int(rows[1]),
            column=s["total"],
        )
    qty = pd.to_numeric(df.get(s["quantity"], pd.Series(1, index=df.index)), errors="coerce")
    items = qty.groupby(df[s["order_id"]]).sum(min_count=1)
    net = ctx.options.get("value", "net") != "total"
    o = pd.DataFrame(
        {
            "order_id": firsts[s["order_id"]].str.strip(),
            "customer_id": firsts[s["email"]],
            "timestamp": firsts[s["timestamp"]],
            "_total": firsts[s["total"]],
            "_taxes": firsts.get(s["taxes"]),
            "currency": firsts.get(s["currency"]),
            "country": firsts.get(s["country"]),
            "channel": firsts.get(s["channel"]),
            ROW: firsts[ROW],
        }
    )
    total = pd.to_numeric(o["_total"], errors="coerce")
    taxes = pd.to_numeric(o["_taxes"], errors="coerce").fillna(0) if net else 0
    ok = total.notna()
    # a total that does not parse stays text, so the loader reports it with its row
    o["value"] = (total - taxes).astype(object).where(ok, o["_total"])
    o["items"] = o["order_id"].map(items)
    if s["refunded"] in firsts.columns:
        refunded = pd.to_numeric(firsts[s["refunded"]], errors="coerce").tolist()
    else:
        refunded = [None] * len(o)
    o["extras"] = [json.dumps({"refunded": float(r)}) if r and r == r else None for r in refunded]
    return o.drop(columns=["_total", "_taxes"]).reset_index(drop=True)


def _mapped(ctx: ReadContext, df: pd.DataFrame) -> pd.DataFrame:
    pairs = dict(p.split("=", 1) for p in str(ctx.options["map"]).split(",") if "=" in p)
    allowed = {
        "order_id",
        "customer_id",
        "timestamp",
        "value",
        "currency",
        "items",
        "channel",
        "country",
    }
    unknown = sorted(set(pairs) - allowed)
    if unknown:
        raise ctx.fail(
            f"--option map names {', '.join(unknown)}, not order columns",
            f"map any of: {', '.join(sorted(allowed))}",
        )
    _require(ctx, df, list(pairs.values()))
    o = pd.DataFrame({canon: df[src] for canon, src in pairs.items()})
    o[ROW] = df[ROW].values
    return o


def _utc(ctx: ReadContext, o: pd.DataFrame) -> pd.Series:
    tz = ctx.options.get("timezone", "UTC")
    out = []
    for raw in o["timestamp"]:
        if raw is None or (isinstance(raw, float) and raw != raw) or not str(raw).strip():
            out.append(None)
            continue
        try:
            ts = pd.Timestamp(str(raw).strip())
        except (ValueError, TypeError):
            out.append(str(raw))  # not a timestamp: the loader reports it with its row
            continue
        ts = ts.tz_localize(tz) if ts.tzinfo is None else ts
        out.append(ts.tz_convert("UTC").tz_localize(None).isoformat(sep=" "))
    return pd.Series(out, index=o.index, dtype=object)


def _should_hash(ctx: ReadContext, col: pd.Series) -> bool:
    opt = ctx.options.get("pseudonymize")
    if opt is not None:
        return str(opt).lower() in ("1", "true", "yes")
    return bool(col.dropna().astype(str).str.contains("@").any())


def _customers(o: pd.DataFrame) -> pd.DataFrame:
    valid = o[o["customer_id"].notna()].copy()
    valid["_ts"] = pd.to_datetime(valid["timestamp"], errors="coerce")
    valid = valid.sort_values(["customer_id", "_ts"])
    first = valid.drop_duplicates("customer_id")
    return pd.DataFrame(
        {
            "customer_id": first["customer_id"].values,
            "first_seen": first["timestamp"].values,
            "country": first.get("country", pd.Series(None, index=first.index)).values,
            "acquisition_channel": first.get("channel", pd.Series(None, index=first.index)).values,
            ROW: first[ROW].values,
        }
    )
