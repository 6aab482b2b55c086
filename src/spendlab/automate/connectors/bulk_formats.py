"""Column layouts of the three bulk files users upload, and the row <-> :class:`Change` mapping.

Sources (see docs/connectors.md for the full references):

- Google Ads Editor CSV: "Import a CSV file in Google Ads Editor - CSV file columns"
  (support.google.com/google-ads/editor/answer/57747). English headers, case and spaces ignored;
  a blank cell means "no change"; Editor matches campaigns, ad groups and keywords by name
  (keywords by text + "Criterion Type").
- Microsoft Advertising bulk CSV: "Bulk File Schema" and the Campaign, Ad Group and Keyword record
  pages (learn.microsoft.com/advertising/bulk-service/...). First column ``Type``; a
  ``Format Version`` row with ``Name`` = 6.0; records addressed by ``Id`` and ``Parent Id``; a blank
  field means "no change"; ``Client Id`` is a free correlation string echoed in results.
- Meta (Ads Manager) bulk sheet: the export/import sheet of Ads Manager, one row per object with
  the ids and names of its parents (Campaign ID, Ad Set ID, Ad ID) and the object's own status and
  daily budget columns; budgets in the account currency (the sheet, unlike the Marketing API, is not
  in minor units).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from spendlab.automate.connectors.base import Change
from spendlab.automate.connectors.csvsafe import neutralise, restore
from spendlab.core.actions import ActionKind, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.errors import DataError, Issue, SourceFormatError

C, AG, KW, AD = Level.CAMPAIGN, Level.AD_GROUP, Level.KEYWORD, Level.AD
BID, BUDGET, PAUSE, ENABLE = (
    ActionKind.SET_BID,
    ActionKind.SET_BUDGET,
    ActionKind.PAUSE,
    ActionKind.ENABLE,
)


def _fmt_amount(v: Decimal) -> str:
    return f"{v:f}"


@dataclass(frozen=True)
class BulkFormat:
    """One platform's bulk layout. Subclasses map a :class:`Change` to a row and back."""

    name: str = ""
    platform: str = ""
    columns: tuple[str, ...] = ()
    status_words: tuple[str, str] = ("Enabled", "Paused")
    supported: frozenset[tuple[Level, ActionKind]] = frozenset()

    def preamble(self) -> list[list[str]]:
        return []

    def supports(self, level: Level, kind: ActionKind) -> bool:
        return (Level(level), kind) in self.supported

    # -- cells ------------------------------------------------------------------------------
    def status_cell(self, change: Change) -> str:
        return self.status_words[0] if change.value == "enabled" else self.status_words[1]

    def status_of(self, cell: str, *, line: int, column: str, file: str) -> ActionKind:
        low = cell.strip().lower()
        if low == self.status_words[0].lower():
            return ENABLE
        if low == self.status_words[1].lower():
            return PAUSE
        raise _bad(
            file, line, column, cell, f"use {self.status_words[0]} or {self.status_words[1]}"
        )

    def row(self, change: Change) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(
        self, cells: dict[str, str], *, platform: str, account_id: str, line: int, file: str
    ) -> Change | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def header_index(self, header: Sequence[str], file: str) -> dict[str, int]:
        """Column name -> index; header names match case- and space-insensitively."""
        norm = {_norm(h): i for i, h in enumerate(header)}
        missing = [c for c in self.columns if _norm(c) not in norm]
        if missing:
            raise SourceFormatError(
                Issue(
                    problem=f"not a {self.name} file: missing columns {missing}",
                    fix=f"export the file again with `spendlab rules export --format {self.name}`",
                    file=file,
                    row=1,
                )
            )
        return {c: norm[_norm(c)] for c in self.columns}


def _norm(h: str) -> str:
    return "".join(h.split()).replace("_", "").lower()


def _bad(file: str, line: int, column: str, value: str, fix: str) -> SourceFormatError:
    return SourceFormatError(
        Issue(problem="unreadable cell", fix=fix, file=file, row=line, column=column, value=value)
    )


def _amount(cell: str, *, file: str, line: int, column: str) -> Decimal:
    try:
        v = Decimal(cell.strip())
    except InvalidOperation:
        raise _bad(file, line, column, cell, "write a plain number such as 1.25") from None
    if not v.is_finite() or v < 0:
        raise _bad(file, line, column, cell, "write a non-negative number")
    return v


def _t(s: str) -> str:
    return neutralise(s)


@dataclass(frozen=True)
class GoogleAdsEditor(BulkFormat):
    name: str = "google_ads_editor"
    platform: str = "google_ads"
    columns: tuple[str, ...] = (
        "Campaign",
        "Campaign ID",
        "Ad group",
        "Ad group ID",
        "Keyword",
        "Criterion Type",
        "Keyword ID",
        "Budget",
        "Budget type",
        "Max CPC",
        "Campaign Status",
        "Ad group Status",
        "Status",
    )
    status_words: tuple[str, str] = ("Enabled", "Paused")
    supported: frozenset[tuple[Level, ActionKind]] = frozenset(
        {(C, BUDGET), (C, PAUSE), (C, ENABLE)}
        | {(lv, k) for lv in (AG, KW) for k in (BID, PAUSE, ENABLE)}
    )

    def row(self, change: Change) -> list[str]:
        e, n = change.entity, change.names
        lv = Level(e.level)
        r = dict.fromkeys(self.columns, "")
        r["Campaign"], r["Campaign ID"] = _t(n.get("campaign", "")), _t(e.campaign_id)
        if lv in (AG, KW):
            r["Ad group"], r["Ad group ID"] = _t(n.get("ad_group", "")), _t(e.ad_group_id)
        if lv is KW:
            r["Keyword"], r["Keyword ID"] = _t(n.get("keyword", "")), _t(e.keyword_id)
            r["Criterion Type"] = _t(n.get("match_type", ""))
        if change.kind is BUDGET:
            r["Budget"], r["Budget type"] = _fmt_amount(change.value), "Daily"  # type: ignore[arg-type]
        elif change.kind is BID:
            r["Max CPC"] = _fmt_amount(change.value)  # type: ignore[arg-type]
        else:
            col = {C: "Campaign Status", AG: "Ad group Status", KW: "Status"}[lv]
            r[col] = self.status_cell(change)
        return [r[c] for c in self.columns]

    def parse(
        self, cells: dict[str, str], *, platform: str, account_id: str, line: int, file: str
    ) -> Change | None:
        g = {k: restore(v) for k, v in cells.items()}
        lv = KW if g["Keyword ID"] else AG if g["Ad group ID"] else C
        names = {"campaign": g["Campaign"]}
        if lv in (AG, KW):
            names["ad_group"] = g["Ad group"]
        if lv is KW:
            names["keyword"], names["match_type"] = g["Keyword"], g["Criterion Type"]
        ref = EntityRef(
            platform,
            lv,
            account_id,
            g["Campaign ID"],
            g["Ad group ID"] if lv in (AG, KW) else "",
            g["Keyword ID"] if lv is KW else "",
        )
        status_col = {C: "Campaign Status", AG: "Ad group Status", KW: "Status"}[lv]
        if cells["Budget"].strip():
            a = _amount(cells["Budget"], file=file, line=line, column="Budget")
            return Change(ref, BUDGET, a, names)
        if cells["Max CPC"].strip():
            a = _amount(cells["Max CPC"], file=file, line=line, column="Max CPC")
            return Change(ref, BID, a, names)
        if cells[status_col].strip():
            k = self.status_of(cells[status_col], line=line, column=status_col, file=file)
            return Change(ref, k, "enabled" if k is ENABLE else "paused", names)
        return None


@dataclass(frozen=True)
class MicrosoftBulk(BulkFormat):
    name: str = "microsoft_bulk"
    platform: str = "microsoft"
    columns: tuple[str, ...] = (
        "Type",
        "Status",
        "Id",
        "Parent Id",
        "Campaign",
        "Ad Group",
        "Client Id",
        "Modified Time",
        "Keyword",
        "Match Type",
        "Bid",
        "Cpc Bid",
        "Budget",
        "Name",
    )
    status_words: tuple[str, str] = ("Active", "Paused")
    supported: frozenset[tuple[Level, ActionKind]] = GoogleAdsEditor.supported
    FORMAT_VERSION = "6.0"
    SEP = "/"

    def preamble(self) -> list[list[str]]:
        r = dict.fromkeys(self.columns, "")
        r["Type"], r["Name"] = "Format Version", self.FORMAT_VERSION
        return [[r[c] for c in self.columns]]

    def row(self, change: Change) -> list[str]:
        e, n = change.entity, change.names
        lv = Level(e.level)
        ids = (e.account_id, e.campaign_id, e.ad_group_id, e.keyword_id)
        if any(self.SEP in i for i in ids):
            raise DataError(
                f"entity ids {ids} contain {self.SEP!r}; Microsoft Advertising ids are numeric"
            )
        r = dict.fromkeys(self.columns, "")
        r["Type"] = {C: "Campaign", AG: "Ad Group", KW: "Keyword"}[lv]
        r["Id"] = _t(e.entity_id)
        r["Parent Id"] = _t({C: e.account_id, AG: e.campaign_id, KW: e.ad_group_id}[lv])
        r["Campaign"] = _t(n.get("campaign", ""))
        if lv in (AG, KW):
            r["Ad Group"] = _t(n.get("ad_group", ""))
        if lv is KW:
            r["Keyword"] = _t(n.get("keyword", ""))
        r["Client Id"] = _t(self.SEP.join(ids[: {C: 2, AG: 3, KW: 4}[lv]]))
        if change.kind is BUDGET:
            r["Budget"] = _fmt_amount(change.value)  # type: ignore[arg-type]
        elif change.kind is BID:
            r["Bid" if lv is KW else "Cpc Bid"] = _fmt_amount(change.value)  # type: ignore[arg-type]
        else:
            r["Status"] = self.status_cell(change)
        return [r[c] for c in self.columns]

    def parse(
        self, cells: dict[str, str], *, platform: str, account_id: str, line: int, file: str
    ) -> Change | None:
        typ = cells["Type"].strip()
        if typ in ("Format Version", "Account", ""):
            return None
        lv = {"Campaign": C, "Ad Group": AG, "Keyword": KW}.get(typ)
        if lv is None:
            raise _bad(file, line, "Type", typ, "only Campaign, Ad Group and Keyword records")
        g = {k: restore(v) for k, v in cells.items()}
        ids = g["Client Id"].split(self.SEP) if g["Client Id"] else []
        n_ids = {C: 2, AG: 3, KW: 4}[lv]
        if len(ids) != n_ids:
            ids = [account_id] + [""] * (n_ids - 1)
            ids[n_ids - 1] = g["Id"]
            ids[n_ids - 2] = g["Parent Id"] if n_ids > 2 else account_id
        ids = ids + [""] * (4 - len(ids))
        ref = EntityRef(platform, lv, ids[0], ids[1], ids[2], ids[3])
        names = {"campaign": g["Campaign"]}
        if lv in (AG, KW):
            names["ad_group"] = g["Ad Group"]
        if lv is KW:
            names["keyword"] = g["Keyword"]
        bid_col = "Bid" if lv is KW else "Cpc Bid"
        if cells["Budget"].strip():
            return Change(
                ref, BUDGET, _amount(cells["Budget"], file=file, line=line, column="Budget"), names
            )
        if cells[bid_col].strip():
            return Change(
                ref, BID, _amount(cells[bid_col], file=file, line=line, column=bid_col), names
            )
        if cells["Status"].strip():
            k = self.status_of(cells["Status"], line=line, column="Status", file=file)
            return Change(ref, k, "enabled" if k is ENABLE else "paused", names)
        return None


@dataclass(frozen=True)
class MetaBulk(BulkFormat):
    name: str = "meta"
    platform: str = "meta"
    columns: tuple[str, ...] = (
        "Campaign ID",
        "Campaign Name",
        "Campaign Status",
        "Campaign Daily Budget",
        "Ad Set ID",
        "Ad Set Name",
        "Ad Set Run Status",
        "Ad Set Daily Budget",
        "Ad ID",
        "Ad Name",
        "Ad Status",
    )
    status_words: tuple[str, str] = ("ACTIVE", "PAUSED")
    supported: frozenset[tuple[Level, ActionKind]] = frozenset(
        {(lv, k) for lv in (C, AG) for k in (BUDGET, PAUSE, ENABLE)} | {(AD, PAUSE), (AD, ENABLE)}
    )

    def row(self, change: Change) -> list[str]:
        e, n = change.entity, change.names
        lv = Level(e.level)
        r = dict.fromkeys(self.columns, "")
        r["Campaign ID"], r["Campaign Name"] = _t(e.campaign_id), _t(n.get("campaign", ""))
        if lv in (AG, AD):
            r["Ad Set ID"], r["Ad Set Name"] = _t(e.ad_group_id), _t(n.get("ad_group", ""))
        if lv is AD:
            r["Ad ID"], r["Ad Name"] = _t(e.ad_id), _t(n.get("ad", ""))
        if change.kind is BUDGET:
            col = "Campaign Daily Budget" if lv is C else "Ad Set Daily Budget"
            r[col] = _fmt_amount(change.value)  # type: ignore[arg-type]
        else:
            col = {C: "Campaign Status", AG: "Ad Set Run Status", AD: "Ad Status"}[lv]
            r[col] = self.status_cell(change)
        return [r[c] for c in self.columns]

    def parse(
        self, cells: dict[str, str], *, platform: str, account_id: str, line: int, file: str
    ) -> Change | None:
        g = {k: restore(v) for k, v in cells.items()}
        lv = AD if g["Ad ID"] else AG if g["Ad Set ID"] else C
        names = {"campaign": g["Campaign Name"]}
        if lv in (AG, AD):
            names["ad_group"] = g["Ad Set Name"]
        if lv is AD:
            names["ad"] = g["Ad Name"]
        ref = EntityRef(
            platform,
            lv,
            account_id,
            g["Campaign ID"],
            g["Ad Set ID"] if lv in (AG, AD) else "",
            "",
            g["Ad ID"] if lv is AD else "",
        )
        bcol = "Campaign Daily Budget" if lv is C else "Ad Set Daily Budget"
        scol = {C: "Campaign Status", AG: "Ad Set Run Status", AD: "Ad Status"}[lv]
        if lv is not AD and cells[bcol].strip():
            return Change(
                ref, BUDGET, _amount(cells[bcol], file=file, line=line, column=bcol), names
            )
        if cells[scol].strip():
            k = self.status_of(cells[scol], line=line, column=scol, file=file)
            return Change(ref, k, "enabled" if k is ENABLE else "paused", names)
        return None


FORMATS: dict[str, BulkFormat] = {
    f.name: f for f in (GoogleAdsEditor(), MicrosoftBulk(), MetaBulk())
}
