"""The GA4 export writer: canonical touchpoints and conversions rendered as GA4 BigQuery export
events (JSONL or Parquet), with GA4's three traffic-source records. Used by the simulator and by
round-trip tests of :mod:`spendlab.data.sources.ga4`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

#: a typical (source, medium) per channel: what the writer puts in files; reads back as the channel
CHANNEL_EXAMPLES: dict[str, tuple[str, str]] = {
    "direct": ("(direct)", "(none)"),
    "paid_search": ("google", "cpc"),
    "paid_social": ("facebook", "paid_social"),
    "paid_other": ("partner-network", "cpc"),
    "display": ("google", "display"),
    "email": ("newsletter", "email"),
    "affiliate": ("partner", "affiliate"),
    "organic_social": ("instagram", "social"),
    "organic_search": ("google", "organic"),
    "referral": ("example.com", "referral"),
    "other": ("offline", "qr"),
}
GA4_GROUPS = {
    "direct": "Direct",
    "paid_search": "Paid Search",
    "paid_social": "Paid Social",
    "paid_other": "Paid Other",
    "display": "Display",
    "email": "Email",
    "affiliate": "Affiliates",
    "organic_social": "Organic Social",
    "organic_search": "Organic Search",
    "referral": "Referral",
    "other": "Unassigned",
}


def write_events(frames: dict[str, Any], path: Path, **options: Any) -> Path:
    """Synthesise GA4 events from canonical rows (see :meth:`GA4Export.write`)."""
    import pandas as pd

    empty = pd.DataFrame({"user_id": [], "timestamp": []})
    tp = frames.get("touchpoints", empty).copy()
    cv = frames.get("conversions", empty).copy()
    by_user_id = str(options.get("identity", "user_pseudo_id")) == "user_id"
    currency = options.get("currency")
    for df in (tp, cv):
        df["timestamp"] = pd.to_datetime(df["timestamp"])
    if "interaction_type" in tp:
        tp = tp[tp["interaction_type"].fillna("visit") != "impression"]
    touches: dict[str, list[dict[str, Any]]] = {}
    used: set[tuple[str, int]] = set()
    for r in tp.sort_values(["user_id", "timestamp"]).to_dict("records"):
        user, ts = str(r["user_id"]), r["timestamp"]
        src, med = CHANNEL_EXAMPLES.get(_val(r, "channel") or "direct", ("(other)", "other"))
        src, med = _val(r, "source") or src, _val(r, "medium") or med
        sid = str(_val(r, "session_id") or "")
        gsid = int(sid[len(user) + 1 :]) if _session_of(sid, user) else int(ts.timestamp())
        while (user, gsid) in used:
            gsid += 1
        used.add((user, gsid))
        touches.setdefault(user, []).append(
            {
                "ts": ts,
                "source": src,
                "medium": med,
                "campaign": _val(r, "campaign"),
                "channel": _val(r, "channel"),
                "gsid": gsid,
                "click": _val(r, "interaction_type") == "click",
                "direct": src == "(direct)" and med == "(none)",
            }
        )
    events: list[dict[str, Any]] = []
    for user, ts_list in touches.items():
        for t in ts_list:
            ctx = _traffic(ts_list, t["ts"])
            cts = None
            if not t["direct"]:
                cts = {"manual_campaign_name": t["campaign"], "gclid": None}
                if t["click"]:
                    cts["gclid"] = "G" + hashlib.sha1(f"{user}{t['ts']}".encode()).hexdigest()[:20]
                if not (t["click"] and (t["source"], t["medium"]) == ("google", "cpc")):
                    cts.update(manual_source=t["source"], manual_medium=t["medium"])
                elif t["campaign"]:  # auto-tagged: the campaign name comes from the Ads link
                    del cts["manual_campaign_name"]
            for name, delay in (("session_start", 0), ("page_view", 1)):
                params = {"ga_session_id": t["gsid"], "page_title": "Home"}
                ev = _event(user, t["ts"] + pd.Timedelta(seconds=delay), name, params, ctx)
                events.append({**ev, "collected_traffic_source": cts})
    for r in cv.to_dict("records"):
        user, ts = str(r["user_id"]), r["timestamp"]
        mine = touches.get(user, [])
        live = [t for t in mine if t["ts"] <= ts <= t["ts"] + pd.Timedelta(minutes=30)]
        gsid = live[-1]["gsid"] if live else int(ts.timestamp())
        name = _val(r, "event") or "purchase"
        value, cur, tx = _val(r, "value"), _val(r, "currency") or currency, _val(r, "conversion_id")
        value = None if value is None else float(value)
        params = {"ga_session_id": gsid, "currency": cur, "value": value, "transaction_id": tx}
        ev = _event(user, ts, name, params, _traffic(mine, ts))
        if tx:
            usd = value if cur == "USD" else None
            ev["ecommerce"] = {"transaction_id": tx, "purchase_revenue": value}
            ev["ecommerce"]["purchase_revenue_in_usd"] = usd
        events.append(ev)
    events.sort(key=lambda e: (e["event_timestamp"], e["user_pseudo_id"], e["event_name"]))
    for ev in events:
        if by_user_id:
            ev["user_id"] = ev["user_pseudo_id"]
            ev["user_pseudo_id"] = "p" + hashlib.sha1(ev["user_id"].encode()).hexdigest()[:12]
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(events), path)
        return path
    with path.open("w", encoding="utf-8") as fh:
        for ev in events:  # BigQuery's JSON export writes INT64 values as strings
            ev["event_timestamp"] = str(ev["event_timestamp"])
            for p in ev["event_params"]:
                if p["value"].get("int_value") is not None:
                    p["value"]["int_value"] = str(p["value"]["int_value"])
            fh.write(json.dumps(ev, ensure_ascii=False, separators=(",", ":")) + "\n")
    return path


def _val(row: dict[str, Any], key: str) -> Any:
    v = row.get(key)
    return None if v is None or (isinstance(v, float) and v != v) or v == "" else v


def _session_of(sid: str, user: str) -> bool:
    return sid.startswith(user + "-") and sid[len(user) + 1 :].isdigit()


def _params(params: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for k, v in params.items():
        if v is None:
            continue
        slot = "int_value" if isinstance(v, int) else "double_value"
        slot = "string_value" if isinstance(v, str) else slot
        out.append({"key": k, "value": {slot: v}})
    return out


def _event(user: str, ts: Any, name: str, params: dict[str, Any], traffic: dict) -> dict:
    micros = ts.value // 1000  # naive UTC nanoseconds since the epoch -> microseconds
    return {
        "event_date": ts.strftime("%Y%m%d"),
        "event_timestamp": micros,
        "event_name": name,
        "event_params": _params(params),
        "user_id": None,
        "user_pseudo_id": user,
        "platform": "WEB",
        **traffic,
    }


def _traffic(touches: list[dict[str, Any]], ts: Any) -> dict[str, Any]:
    """traffic_source (the user's first touch, forever) and the session's last non-direct click,
    as GA4 fills them: the records that make a naive reader credit the wrong channel."""
    first = touches[0] if touches else {"source": "(direct)", "medium": "(none)", "campaign": None}
    last = next((t for t in reversed(touches) if t["ts"] <= ts and not t["direct"]), None)
    last = last or {"source": "(direct)", "medium": "(none)", "campaign": None, "click": False}
    group = GA4_GROUPS.get(last.get("channel") or "direct", "Unassigned")
    ads = None
    if last.get("click") and (last["source"], last["medium"]) == ("google", "cpc"):
        ads = {"customer_id": "1234567890", "campaign_name": last["campaign"]}
    name = first["campaign"] or ("(direct)" if first["source"] == "(direct)" else "(organic)")
    manual = {"campaign_name": last["campaign"], "source": last["source"]}
    manual["medium"] = last["medium"]
    return {
        "traffic_source": {"name": name, "medium": first["medium"], "source": first["source"]},
        "session_traffic_source_last_click": {
            "manual_campaign": manual,
            "google_ads_campaign": ads,
            "cross_channel_campaign": {
                **manual,
                "source_platform": "Google Ads" if ads else "Manual",
                "default_channel_group": group,
                "primary_channel_group": group,
            },
        },
    }
