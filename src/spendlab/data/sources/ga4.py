"""GA4 BigQuery export: the ``events_YYYYMMDD`` tables as newline-delimited JSON or Parquet.

Each record is one event. GA4 writes THREE traffic-source records on it, and only one of them
describes the visit the event belongs to:

- ``traffic_source``: the user's FIRST acquisition. It never changes for a user, so reading it as
  the source of every session would credit all of a user's later visits to their first channel.
  This reader never uses it.
- ``collected_traffic_source``: the UTM values and click ids collected from the URL on this event
  (event scoped). Touchpoints come from here.
- ``session_traffic_source_last_click``: GA4's own last-non-direct-click attribution of the
  session. Using it would attribute twice (a direct visit inherits the previous campaign); it is
  read only for the Google Ads campaign name of sessions that carry a gclid.

Touchpoints are one per session (``user_pseudo_id`` x ``ga_session_id``): the ``session_start``
event, else the session's first event. Conversions are ``purchase`` events plus the events named
in the ``conversion_events`` option. The file is scanned by the warehouse backend (DuckDB
``read_json`` / ``read_parquet``) and transformed with Ibis expressions: it never loads into Python.

Options:

- ``currency``: ISO 4217 code for conversions without a ``currency`` event parameter.
- ``conversion_events``: comma list of event names counted as conversions besides ``purchase``
  (e.g. ``sign_up,generate_lead``).
- ``identity``: ``user_pseudo_id`` (default: the device/browser id) or ``user_id`` (the signed-in
  id; a device's events take the user_id seen on that device in the file, else its pseudo id).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from spendlab.data.sources.base import (
    ROW,
    SNIFF_BYTES,
    ReadContext,
    Source,
    add_row_numbers,
)
from spendlab.errors import SpendLabError

_CTS = "manual_campaign_id manual_campaign_name manual_source manual_medium gclid dclid srsltid"
_VALUE = "STRUCT(string_value TEXT, int_value TEXT, float_value TEXT, double_value TEXT)"
#: What is read of each JSON line, every leaf as text (BigQuery writes INT64 as strings). Keys not
#: listed (traffic_source among them: never used) are skipped by the parser.
JSON_COLUMNS: dict[str, str] = {
    **dict.fromkeys(("event_date", "event_timestamp", "event_name", "user_pseudo_id"), "TEXT"),
    "user_id": "TEXT",
    "event_params": f"STRUCT(key TEXT, value {_VALUE})[]",
    "ecommerce": "STRUCT(transaction_id TEXT, purchase_revenue TEXT)",
    "collected_traffic_source": "STRUCT(" + ", ".join(f"{k} TEXT" for k in _CTS.split()) + ")",
    "session_traffic_source_last_click": "STRUCT(google_ads_campaign STRUCT(campaign_name TEXT))",
}
#: records that must be JSON objects (or null) for the parser
_OBJECTS = ("ecommerce", "collected_traffic_source", "session_traffic_source_last_click")
_EPOCH = _dt.datetime(1970, 1, 1)
_MAX_MICROS = 253402300800000000  # 10000-01-01

SEARCH = (
    r"(^|\.)(google|bing|yahoo|baidu|duckduckgo|yandex|ecosia|naver|seznam|qwant|ask|aol|"
    r"startpage|brave)(\.|$)"
)
SOCIAL = (
    r"(^|\.)(facebook|fb|instagram|ig|meta|linkedin|lnkd|twitter|x|t\.co|tiktok|pinterest|"
    r"snapchat|reddit|youtube|threads|whatsapp|messenger|quora|vk|weibo)(\.|$)"
)
PAID = r"^(.*cp.*|ppc|paid.*|retargeting)$"
DISPLAY_MEDIA = ("display", "banner", "expandable", "interstitial", "cpm")
EMAIL = ("email", "e-mail", "e_mail", "e mail", "newsletter")
SOCIAL_MEDIA = ("social", "social-network", "social-media", "sm", "social network", "social media")


def channel(source: ir.StringValue, medium: ir.StringValue) -> ir.StringValue:
    """The default channel grouping of a (source, medium) pair; rules in docs/ingest.md (ga4)."""
    s, m = source.lower().strip().fill_null(""), medium.lower().strip().fill_null("")
    search, social = s.re_search(SEARCH), s.re_search(SOCIAL)
    paid = m.re_search(PAID)
    return ibis.cases(
        (
            s.isin(["", "(direct)", "direct"]) & m.isin(["", "(none)", "(not set)", "none"]),
            "direct",
        ),
        (m.isin(DISPLAY_MEDIA), "display"),
        (paid & (social | m.contains("social")), "paid_social"),
        (paid & (search | m.contains("search")), "paid_search"),
        (paid, "paid_other"),
        (m.isin(EMAIL) | s.isin(EMAIL), "email"),
        (m.isin(["affiliate", "affiliates"]), "affiliate"),
        (m.isin(SOCIAL_MEDIA) | social, "organic_social"),
        ((m == "organic") | search, "organic_search"),
        (m.isin(["referral", "app", "link"]), "referral"),
        else_="other",
    )


class GA4Export(Source):
    """GA4 BigQuery export events (NDJSON or Parquet) -> ``touchpoints`` and ``conversions``.

    Options: ``currency`` (for conversions without a ``currency`` parameter),
    ``conversion_events`` (comma list added to ``purchase``), ``identity`` (``user_pseudo_id``
    or ``user_id``). See the module docstring for the traffic-source rules.
    """

    name: ClassVar[str] = "ga4"
    description: ClassVar[str] = "GA4 BigQuery export events (newline-delimited JSON or Parquet)"
    tables: ClassVar[tuple[str, ...]] = ("touchpoints", "conversions")
    suffixes: ClassVar[tuple[str, ...]] = (".json", ".jsonl", ".ndjson", ".parquet")

    def read(self, ctx: ReadContext) -> dict[str, ir.Table]:
        head = self.check_file(ctx)
        identity = str(ctx.options.get("identity", "user_pseudo_id")).strip()
        if identity not in ("user_pseudo_id", "user_id"):
            raise ctx.fail(
                f"option identity={identity!r} is not known",
                "pass --option identity=user_pseudo_id (default) or identity=user_id",
            )
        extra = str(ctx.options.get("conversion_events") or "")
        events = ["purchase", *(e.strip() for e in extra.split(",") if e.strip())]
        currency = ctx.options.get("currency")
        parquet = ctx.path.suffix.lower() == ".parquet"
        try:
            if parquet:
                t = ctx.con.read_parquet(str(ctx.path))
            else:
                _sniff(ctx, head)
                t = ctx.con.read_json(str(ctx.path), columns=JSON_COLUMNS, **_JSON_OPTS)
        except Exception as e:  # DuckDB parse errors carry the line of the bad record
            raise _parse_error(ctx, e) from e
        missing = [c for c in ("event_name", "event_timestamp", "user_pseudo_id") if c not in t]
        if missing:
            raise ctx.fail(
                f"is not a GA4 events export: no {', '.join(missing)} column "
                f"(columns found: {', '.join(t.columns)[:300]})",
                "export the events_YYYYMMDD table from BigQuery (EXPORT DATA ... format JSON or "
                "PARQUET) without renaming or dropping columns",
                column=missing[0],
            )
        if ctx.row_numbers:
            t = _line_numbers(ctx, t) if not parquet else add_row_numbers(t, 1)
        ev = _events(t, identity)
        return {
            "touchpoints": _touchpoints(ev),
            "conversions": _conversions(ev, events, currency),
        }

    def write(self, frames: dict[str, Any], path: Path, **options: Any) -> Path:
        """Write canonical touchpoints + conversions as GA4 export events (JSONL, or Parquet by
        suffix). Each touchpoint becomes a session (``session_start`` and a ``page_view``) with
        its source in ``collected_traffic_source``; ``traffic_source`` is the user's first touch
        and ``session_traffic_source_last_click`` the last non-direct one, as GA4 writes them.
        Impressions are skipped (GA4 never sees them). Options: ``currency`` (conversions
        without one), ``identity=user_id`` (write ids as ``user_id``)."""
        from spendlab.data.sources.ga4_writer import write_events

        return write_events(frames, Path(path), **options)

    def parse_error(self, ctx: ReadContext, error: Exception) -> Exception:
        """Translate a backend error raised while scanning the file (after :meth:`read`
        returned) into a SourceFormatError on the right file line. For the loader's guard."""
        return _parse_error(ctx, error)


_JSON_OPTS = {"format": "newline_delimited", "maximum_object_size": 64 * 1024**2}
_CHECKED_LINES = 200


def _sniff(ctx: ReadContext, head: bytes) -> None:
    """Check the first lines in Python: a clear message for files that are not GA4 NDJSON."""
    if head.startswith(b"\xef\xbb\xbf") or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ctx.fail(
            "starts with a byte order mark (UTF-16 or UTF-8 with BOM)",
            "save the file as UTF-8 without BOM, as BigQuery exports it",
            row=1,
        )
    lines = head.split(b"\n")
    if len(head) >= SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut by the sniff window
    seen = 0
    for n, raw in enumerate(lines[:_CHECKED_LINES], start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except ValueError as e:
            msg = getattr(e, "msg", str(e))
            raise ctx.fail(
                f"line {n} is not valid JSON ({msg})",
                "GA4 exports hold one complete JSON event object per line: re-export the table "
                "(format NEWLINE_DELIMITED_JSON) or remove the broken line",
                row=n,
            ) from None
        problem = _shape_problem(rec)
        if problem is None and seen == 0 and not {"event_name", "event_timestamp"} & set(rec):
            problem = f"has no event_name or event_timestamp (keys: {', '.join(list(rec)[:12])})"
        if problem:
            raise ctx.fail(
                f"line {n} is not a GA4 event: {problem}",
                "export the events_YYYYMMDD table from BigQuery as newline-delimited JSON, one "
                "event object per line",
                row=n,
            )
        seen += 1


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _shape_problem(rec: object) -> str | None:
    """Why a parsed line cannot be a GA4 event record (None when it can)."""
    if not isinstance(rec, dict):
        return f"a JSON {type(rec).__name__}, not an object"
    for key in _OBJECTS:
        if rec.get(key) is not None and not isinstance(rec[key], dict):
            return f"{key} is not an object"
    ads = (rec.get(_OBJECTS[2]) or {}).get("google_ads_campaign")
    if ads is not None and not isinstance(ads, dict):
        return f"{_OBJECTS[2]}.google_ads_campaign is not an object"
    params = rec.get("event_params")
    if params is not None:
        if not isinstance(params, list):
            return "event_params is not a list"
        for p in params:
            if p is not None and not (
                isinstance(p, dict) and isinstance(p.get("value"), dict | None)
            ):
                return "event_params holds an item that is not {key, value: {...}}"
    return None


def _parse_error(ctx: ReadContext, e: Exception) -> Exception:
    """A DuckDB JSON error as a SourceFormatError on the file line of the bad record.

    DuckDB names a record, not a file line: ``Malformed JSON ... in line N`` is record N-1 (one
    past it), a transform error's ``line N`` is record N, and blank lines are not counted."""
    if isinstance(e, SpendLabError):
        return e
    text = str(e).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    m = re.search(r"\bline (\d+)", text)
    row = None
    if m and not ctx.path.suffix.lower() == ".parquet":
        n = int(m.group(1))
        malformed = "Malformed JSON" in text
        tries = [n - 1, n, n - 2] if malformed else [n]
        found = _records(ctx.path, {k for k in tries if k > 0})
        for k in tries:
            if k in found and (not malformed or not _parses(found[k][1])):
                row = found[k][0]
                break
    return ctx.fail(
        f"cannot be parsed: {first[:300]}",
        "GA4 exports hold one complete JSON event per line (or a Parquet export): re-export the "
        "table or remove the broken line",
        row=row,
    )


def _records(path: Path, wanted: set[int]) -> dict[int, tuple[int, bytes]]:
    """{record number: (file line, text)} for the wanted non-blank lines (streamed)."""
    out: dict[int, tuple[int, bytes]] = {}
    k = 0
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            k += 1
            if k in wanted:
                out[k] = (line_no, raw)
                if len(out) == len(wanted):
                    break
    return out


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def _line_numbers(ctx: ReadContext, t: ir.Table) -> ir.Table:
    """``_row`` = the file line of each record. read_json skips blank lines, so records are
    matched to the k-th non-blank line of the same file read as plain lines."""
    lines = ctx.con.read_csv(
        str(ctx.path),
        columns={"line": "VARCHAR"},
        delim="\x01",  # cannot occur unescaped in valid JSON: one column per line
        quote="",
        escape="",
        header=False,
        auto_detect=False,
        strict_mode=False,
        max_line_size=_JSON_OPTS["maximum_object_size"],
    )
    lines = lines.mutate(_line=ibis.row_number() + 1)
    lines = lines.filter(lines.line.strip().fill_null("") != "")
    lines = lines.select(_k=ibis.row_number(), _line=lines._line)
    t = t.mutate(_k=ibis.row_number())
    j = t.join(lines, "_k")
    return j.mutate(**{ROW: j._line}).drop("_k", "_line")


# -- Ibis transforms -------------------------------------------------------------------------
def _get(t: ir.Table, column: str, *path: str) -> ir.StringValue:
    """A (nested) field as text, or NULL when the export has no such field (older exports)."""
    if column not in t.columns:
        return ibis.null("string")
    value: Any = t[column]
    for part in path:
        if not (value.type().is_struct() and part in value.type().names):
            return ibis.null("string")
        value = value[part]
    return _text(value)


def _text(v: ir.Value) -> ir.StringValue:
    s = v.cast("string").strip()
    return ibis.cases((s.isin(["", "(not set)"]), ibis.null("string")), else_=s)


def _param(t: ir.Table, key: str) -> ir.StringValue:
    """The value of event parameter ``key`` (first match), whichever typed slot holds it."""
    typ = t.event_params.type() if "event_params" in t.columns else None
    item = typ.value_type if typ is not None and typ.is_array() else None
    if not (item and item.is_struct() and {"key", "value"} <= set(item.names)):
        return ibis.null("string")
    value = item["value"]
    kinds = ("string_value", "int_value", "double_value", "float_value")
    slots = [k for k in kinds if value.is_struct() and k in value.names]
    if not slots:
        return ibis.null("string")
    hits = t.event_params.filter(lambda p: p.key == key)
    return _text(hits.map(lambda p: ibis.coalesce(*(p.value[s].cast("string") for s in slots)))[0])


def _events(t: ir.Table, identity: str) -> ir.Table:
    """One row per event with the few fields the tables need, as text."""
    raw_ts = t.event_timestamp.cast("string").strip()
    micros = raw_ts.try_cast("int64")
    ok = (micros >= 0) & (micros < _MAX_MICROS)
    ts = ibis.cases((ok, ibis.literal(_EPOCH).cast("timestamp(6)") + micros.as_interval("us")))
    cts = ("collected_traffic_source",)
    page = _param(t, "page_location")
    gclid = ibis.coalesce(_get(t, *cts, "gclid"), _text(page.re_extract(r"[?&]gclid=([^&#]+)", 1)))
    dclid = ibis.coalesce(_get(t, *cts, "dclid"), _text(page.re_extract(r"[?&]dclid=([^&#]+)", 1)))
    pseudo = _text(t.user_pseudo_id)
    user = pseudo
    if identity == "user_id":
        uid = _get(t, "user_id")
        user = ibis.coalesce(uid, uid.max().over(group_by=pseudo), pseudo)
    cols: dict[str, Any] = {
        "name": _text(t.event_name),
        "ts": ts,
        "ts_text": ibis.coalesce(ts.cast("string"), raw_ts),
        "pseudo": pseudo,
        "user": user,
        "sid": _param(t, "ga_session_id"),
        "source": ibis.coalesce(_get(t, *cts, "manual_source"), _param(t, "source")),
        "medium": ibis.coalesce(_get(t, *cts, "manual_medium"), _param(t, "medium")),
        "campaign": ibis.coalesce(
            _get(t, *cts, "manual_campaign_name"),
            _param(t, "campaign"),
            _get(t, *cts, "manual_campaign_id"),
            _param(t, "campaign_id"),
        ),
        "click": ibis.coalesce(gclid, dclid),
        "gclid": gclid,
        "dclid": dclid,
        "srsltid": _get(t, *cts, "srsltid"),
        "ads_campaign": _get(
            t, "session_traffic_source_last_click", "google_ads_campaign", "campaign_name"
        ),
        "tx": ibis.coalesce(_get(t, "ecommerce", "transaction_id"), _param(t, "transaction_id")),
        "revenue": ibis.coalesce(_get(t, "ecommerce", "purchase_revenue"), _param(t, "value")),
        "currency": _param(t, "currency").upper(),
    }
    if ROW in t.columns:
        cols[ROW] = t[ROW]
    return t.select(**cols)


def _touchpoints(ev: ir.Table) -> ir.Table:
    """One touchpoint per session, with the event-scoped source of its first event that has one."""
    is_start = ev.name == "session_start"
    key = ibis.coalesce(ev.sid, ibis.cases((is_start, "t" + ev.ts_text)))
    ev = ev.mutate(_key=key, _start=is_start)
    ev = ev.filter(ev._key.notnull())
    has_info = ev.source.notnull() | ev.medium.notnull() | ev.campaign.notnull()
    has_info = has_info | ev.click.notnull() | ev.srsltid.notnull()
    info = ibis.struct(
        {
            c: ev[c]
            for c in ("source", "medium", "campaign", "click", "gclid", "srsltid", "ads_campaign")
        }
    )
    # a session_start whose timestamp does not convert is reported (raw value, its line)
    bad = ev.ts.isnull() & ev._start
    aggs: dict[str, Any] = {
        "ts": ibis.coalesce(ev.ts.min(where=ev._start), ev.ts.min()).cast("string"),
        "bad_ts": ibis.coalesce(
            ev.ts_text.min(where=bad), ibis.cases((ev.ts.count() == 0, ev.ts_text.min()))
        ),
        "started": ev._start.any(),
        "landing": info.first(where=has_info, order_by=[ev.ts, ev.source, ev.medium, ev.campaign]),
        "user": ev.user.max(),
    }
    if ROW in ev.columns:
        aggs[ROW] = ibis.coalesce(
            ev[ROW].min(where=bad), ev[ROW].min(where=ev._start), ev[ROW].min()
        )
    s = ev.group_by([ev.pseudo, ev._key, ev.sid]).aggregate(**aggs)
    # a session with no session_start in this file and no traffic information continues a session
    # that started in the previous day's table (already counted there)
    s = s.filter(s.started | s.landing.notnull())
    i = s.landing
    # auto-tagged clicks carry only an id: gclid = google / cpc, dclid = google (DV360) / display,
    # srsltid = a Merchant Center listing (google / organic); a bare campaign is '(not set)'
    source = ibis.coalesce(
        i.source,
        ibis.cases((i.click.notnull() | i.srsltid.notnull(), "google")),
        ibis.cases((i.campaign.isnull(), "(direct)"), else_="(not set)"),
    )
    medium = ibis.coalesce(
        i.medium,
        ibis.cases(
            (i.gclid.notnull(), "cpc"),
            (i.click.notnull(), "display"),
            (i.srsltid.notnull(), "organic"),
            (i.source.isnull() & i.campaign.isnull(), "(none)"),
        ),
    )
    cols: dict[str, Any] = {
        "user_id": s.user,
        "timestamp": ibis.coalesce(s.bad_ts, s.ts),
        "channel": channel(source, medium),
        "campaign": ibis.coalesce(i.campaign, ibis.cases((i.gclid.notnull(), i.ads_campaign))),
        "interaction_type": ibis.cases((i.click.notnull(), "click"), else_="visit"),
        "source": source,
        "medium": medium,
        "session_id": s.pseudo + "-" + s.sid,
    }
    if ROW in s.columns:
        cols[ROW] = s[ROW]
    return s.select(**cols)


def _conversions(ev: ir.Table, events: list[str], currency: object) -> ir.Table:
    """Conversion events; a transaction logged twice (page reload) counts once, the first time."""
    c = ev.filter(ev.name.isin(events))
    dedupe = ibis.coalesce(c.tx, c.name + "@" + c.ts_text)
    order = [c.ts, c[ROW]] if ROW in c.columns else [c.ts]
    c = c.mutate(_n=ibis.row_number().over(group_by=[c.user, dedupe], order_by=order))
    c = c.filter(c._n == 0)
    fallback = ibis.literal(str(currency).strip().upper() if currency else None, type="string")
    cols: dict[str, Any] = {
        "user_id": c.user,
        "timestamp": c.ts_text,
        "conversion_id": c.tx.fill_null(""),
        "event": c.name,
        "value": c.revenue,
        "currency": ibis.coalesce(c.currency, fallback),
    }
    if ROW in c.columns:
        cols[ROW] = c[ROW]
    return c.select(**cols)


# -- writer ----------------------------------------------------------------------------------
