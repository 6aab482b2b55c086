"""Bulk files: round trips (hypothesis, hostile names), undo restores exact old values, re-import
does not compound, formula injection neutralised, rounding toward the old value."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spendlab.automate.connectors import (
    FORMATS,
    BulkFileConnector,
    EntityInfo,
    ResultStatus,
    export_bulk,
    parse_bulk,
    read_export,
    round_amount,
)
from spendlab.automate.connectors.base import change_of
from spendlab.automate.connectors.csvsafe import neutralise, restore
from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.errors import ConfigError, SourceFormatError

HOSTILE = [
    '=HYPERLINK("http://evil","x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "'=already quoted",
    "''=twice",
    'say "hi", then\nleave',
    "comma, comma",
    "naïve 日本語 🚀",
    "'; DROP TABLE entities; --",
    "\r\nline",
    "",
]

names_st = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",)),
        max_size=20,
    ),
)
ids_st = st.from_regex(r"[1-9][0-9]{0,11}", fullmatch=True)
amount_st = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False)
fine_amount_st = st.decimals(min_value=0, max_value=10_000, places=4, allow_nan=False)

IDS = ("account_id", "campaign_id", "ad_group_id", "keyword_id", "ad_id")
NEEDS = {
    Level.CAMPAIGN: IDS[:2],
    Level.AD_GROUP: IDS[:3],
    Level.KEYWORD: IDS[:4],
    Level.AD: (*IDS[:3], "ad_id"),
}


@st.composite
def action_st(draw, fmt: str):
    spec = FORMATS[fmt]
    level, kind = draw(st.sampled_from(sorted(spec.supported)))
    ids = {k: draw(ids_st) if k in NEEDS[level] else "" for k in IDS}
    ids["account_id"] = draw(st.sampled_from(["111", "222"]))
    ref = EntityRef(spec.platform, level, **ids)
    if kind in (ActionKind.SET_BID, ActionKind.SET_BUDGET):
        old, new = draw(amount_st), draw(fine_amount_st)
    else:
        old = draw(st.sampled_from(["enabled", "paused"]))
        new = "paused" if kind is ActionKind.PAUSE else "enabled"
    return Action(ref, kind, old, new, "test", date(2026, 11, 2))


@st.composite
def batch_st(draw, fmt: str):
    actions = draw(st.lists(action_st(fmt), min_size=1, max_size=12))
    directory = {}
    for a in actions:
        for lv in (Level.CAMPAIGN, Level.AD_GROUP, a.entity.level):
            keep = {Level.CAMPAIGN: 2, Level.AD_GROUP: 3}.get(lv, 5)
            vals = {k: (getattr(a.entity, k) if i < keep else "") for i, k in enumerate(IDS)}
            if lv in (Level.KEYWORD, Level.AD):
                vals = {k: getattr(a.entity, k) for k in IDS}
            ref = EntityRef(a.entity.platform, lv, **vals)
            directory.setdefault(
                ref.key(), EntityInfo(draw(names_st), draw(st.sampled_from(["Exact", "Broad"])))
            )
    return actions, directory


FIELD = {
    ActionKind.SET_BID: "bid",
    ActionKind.SET_BUDGET: "budget",
    ActionKind.PAUSE: "status",
    ActionKind.ENABLE: "status",
}


def _apply(state: dict, changes) -> dict:
    state = dict(state)
    for c in changes:
        state[(c.entity.key(), FIELD[c.kind])] = c.value
    return state


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@settings(max_examples=40)
@given(data=st.data())
def test_round_trip_undo_and_reimport(tmp_path_factory, fmt, data):
    actions, directory = data.draw(batch_st(fmt))
    out = tmp_path_factory.mktemp("bulk")
    exp = export_bulk(actions, out, fmt, directory=directory)
    assert all(r.status is ResultStatus.EXPORTED for r in exp.results)

    # the file parses back to the same changes, names included (hostile ones too)
    expected = [change_of(a) for a in actions]
    by_account: dict[str, list] = {}
    for e in expected:
        by_account.setdefault(e.entity.account_id, []).append(e)
    parsed = read_export(out)
    assert sorted(parsed, key=lambda c: c.entity.account_id) == [
        c for acc in sorted(by_account) for c in by_account[acc]
    ]
    for a, c in zip(
        sorted(actions, key=lambda a: a.entity.account_id),
        sorted(parsed, key=lambda c: c.entity.account_id),
        strict=True,
    ):
        info = directory[a.entity.key()]
        own = Level(a.entity.level).value
        assert c.names[own] == info.name
        if own == "keyword" and fmt == "google_ads_editor":
            assert c.names["match_type"] == info.match_type

    # absolute values: importing twice equals importing once
    before = {}
    for a in actions:
        before.setdefault((a.entity.key(), FIELD[a.kind]), a.old_value)
    once = _apply(before, parsed)
    assert _apply(once, parsed) == once
    # undo restores the exact old values
    undo = read_export(out, undo=True)
    assert _apply(once, undo) == before


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_cell_starts_a_formula(tmp_path: Path, fmt: str) -> None:
    spec = FORMATS[fmt]
    level, kind = sorted(spec.supported)[0]
    actions, directory = [], {}
    for i, name in enumerate(HOSTILE):
        ids = {k: str(100 + i) if k in NEEDS[level] else "" for k in IDS}
        ref = EntityRef(spec.platform, level, **ids)
        old, new = (
            (Decimal("1.00"), Decimal("1.50")) if kind.value.startswith("set") else ("enabled", "")
        )
        if not kind.value.startswith("set"):
            new = "paused" if kind is ActionKind.PAUSE else "enabled"
        actions.append(Action(ref, kind, old, new, "r", date(2026, 1, 1)))
        for lv in (Level.CAMPAIGN, Level.AD_GROUP, level):
            keep = {Level.CAMPAIGN: 2, Level.AD_GROUP: 3}.get(lv, 5)
            vals = {k: (ids[k] if j < keep else "") for j, k in enumerate(IDS)}
            directory[EntityRef(spec.platform, lv, **vals).key()] = EntityInfo(name, "Exact")
    export_bulk(actions, tmp_path, fmt, directory=directory)
    for path in tmp_path.glob("*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as f:
            for row in csv.reader(f):
                for cell in row:
                    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (path, cell)
    parsed = read_export(tmp_path)
    own = Level(level).value
    assert [c.names.get(own, c.names.get("campaign")) for c in parsed] == HOSTILE


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_neutralise_is_inverted_by_restore(s: str) -> None:
    assert restore(neutralise(s)) == s
    assert not neutralise(s).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_rounding_toward_the_old_value() -> None:
    assert round_amount(Decimal("1.019"), Decimal("1.00")) == Decimal("1.01")  # raise: down
    assert round_amount(Decimal("0.991"), Decimal("1.00")) == Decimal("1.00")  # cut: up
    assert round_amount(Decimal("0.105"), Decimal("0.20")) == Decimal("0.11")  # never below floor
    assert round_amount(Decimal("1.005")) == Decimal("1.00")  # no old value: half-even
    assert round_amount(Decimal("1234.6"), Decimal("1000"), decimals=0) == Decimal("1234")


@given(old=amount_st, new=fine_amount_st)
def test_rounded_value_stays_between_old_and_new(old: Decimal, new: Decimal) -> None:
    r = round_amount(new, old)
    assert min(old, new) <= r <= max(old, new) or r == old


def test_skips_what_a_format_cannot_carry(tmp_path: Path) -> None:
    d = date(2026, 1, 1)
    meta_kw_bid = Action(
        EntityRef("meta", Level.AD_GROUP, "1", "2", "3"),
        ActionKind.SET_BID,
        Decimal(1),
        Decimal(2),
        "r",
        d,
    )
    google = Action(
        EntityRef("google_ads", Level.CAMPAIGN, "1", "2"),
        ActionKind.SET_BUDGET,
        Decimal(10),
        Decimal(12),
        "r",
        d,
    )
    alert = Action(
        EntityRef("meta", Level.CAMPAIGN, "1", "2"), ActionKind.ALERT, None, None, "r", d
    )
    no_old = Action(
        EntityRef("meta", Level.CAMPAIGN, "1", "9"),
        ActionKind.SET_BUDGET,
        None,
        Decimal(5),
        "r",
        d,
    )
    conn = BulkFileConnector("meta", tmp_path)
    res = conn.execute([meta_kw_bid, google, alert, no_old])
    assert [r.status for r in res] == [ResultStatus.SKIPPED] * 4
    assert "set_bid" in res[0].message and "google_ads" in res[1].message
    assert "old value" in res[3].message
    assert conn.last_export is not None and conn.last_export.files == []


def test_microsoft_layout_and_google_precision(tmp_path: Path) -> None:
    d = date(2026, 1, 1)
    kw = Action(
        EntityRef("microsoft", Level.KEYWORD, "9", "10", "11", "12"),
        ActionKind.SET_BID,
        Decimal("0.50"),
        Decimal("0.6789"),
        "r",
        d,
    )
    exp = export_bulk([kw], tmp_path, "microsoft_bulk")
    rows = list(csv.DictReader(exp.files[0].changes.open(encoding="utf-8-sig", newline="")))
    assert rows[0]["Type"] == "Format Version" and rows[0]["Name"] == "6.0"
    assert rows[1]["Type"] == "Keyword" and rows[1]["Id"] == "12" and rows[1]["Parent Id"] == "11"
    assert rows[1]["Bid"] == "0.67" and rows[1]["Client Id"] == "9/10/11/12"
    assert exp.results[0].applied_value == Decimal("0.67")
    undo = list(csv.DictReader(exp.files[0].undo.open(encoding="utf-8-sig", newline="")))
    assert undo[1]["Bid"] == "0.50"

    jp = Action(
        EntityRef("google_ads", Level.CAMPAIGN, "1", "2"),
        ActionKind.SET_BUDGET,
        Decimal(1000),
        Decimal("1234.56"),
        "r",
        d,
    )
    exp = export_bulk([jp], tmp_path / "jpy", "google_ads_editor", currency="JPY")
    assert parse_bulk(exp.files[0].changes, "google_ads_editor", account_id="1")[0].value == 1234


def test_parser_rejects_foreign_and_broken_files(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match="missing columns"):
        parse_bulk(p, "meta", account_id="1")
    header = ",".join(FORMATS["meta"].columns)
    p.write_text(header + "\n5,c,,abc,,,,,,,\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match="row 2"):
        parse_bulk(p, "meta", account_id="1")
    with pytest.raises(ConfigError, match="unknown bulk format"):
        parse_bulk(p, "tiktok", account_id="1")


def test_names_come_from_entities_rows(tmp_path: Path) -> None:
    from spendlab.automate.connectors import directory_from_entities

    rows = [
        {
            "platform": "google_ads",
            "level": "campaign",
            "account_id": "1",
            "campaign_id": "2",
            "ad_group_id": "",
            "keyword_id": "",
            "ad_id": "",
            "name": "Brand = US",
        },
        {
            "platform": "google_ads",
            "level": "ad_group",
            "account_id": "1",
            "campaign_id": "2",
            "ad_group_id": "3",
            "keyword_id": None,
            "ad_id": None,
            "name": "Shoes",
        },
        {
            "platform": "google_ads",
            "level": "keyword",
            "account_id": "1",
            "campaign_id": "2",
            "ad_group_id": "3",
            "keyword_id": "4",
            "ad_id": "",
            "name": "red shoes",
            "match_type": "Exact",
        },
    ]
    a = Action(
        EntityRef("google_ads", Level.KEYWORD, "1", "2", "3", "4"),
        ActionKind.SET_BID,
        Decimal("1.00"),
        Decimal("1.10"),
        "r",
        date(2026, 1, 1),
    )
    exp = export_bulk([a], tmp_path, "google_ads_editor", directory=directory_from_entities(rows))
    assert exp.warnings == []
    row = next(csv.DictReader(exp.files[0].changes.open(encoding="utf-8-sig", newline="")))
    assert (row["Campaign"], row["Ad group"], row["Keyword"], row["Criterion Type"]) == (
        "Brand = US",
        "Shoes",
        "red shoes",
        "Exact",
    )
    assert row["Max CPC"] == "1.10" and row["Keyword ID"] == "4"
    unnamed = export_bulk([a], tmp_path / "u", "google_ads_editor")
    assert "no names" in unnamed.warnings[0]


def test_amounts_go_out_in_the_account_currency(tmp_path: Path) -> None:
    """Actions carry workspace-currency amounts (USD here); an EUR account at fx 1.1 receives
    EUR, a JPY account receives whole yen; the undo file restores the account's old values."""
    d = date(2026, 1, 1)
    eur = EntityRef("google_ads", Level.CAMPAIGN, "1", "2")
    jpy = EntityRef("google_ads", Level.CAMPAIGN, "7", "8")
    directory = {
        eur.key(): EntityInfo("EU", currency="EUR", fx_rate=1.1),
        jpy.key(): EntityInfo("JP", currency="JPY", fx_rate=0.0067),
    }
    acts = [
        Action(eur, ActionKind.SET_BUDGET, Decimal("5.50"), Decimal("11.00"), "r", d),
        Action(jpy, ActionKind.SET_BUDGET, Decimal("6.70"), Decimal("8.04"), "r", d),
    ]
    exp = export_bulk(acts, tmp_path, "google_ads_editor", directory=directory)
    assert [r.applied_value for r in exp.results] == [Decimal("10.00"), Decimal("1200")]
    assert [c.value for c in read_export(tmp_path)] == [Decimal("10.00"), Decimal("1200")]
    assert [c.value for c in read_export(tmp_path, undo=True)] == [
        Decimal("5.00"),
        Decimal("1000"),
    ]


def test_microsoft_rows_without_client_id(tmp_path: Path) -> None:
    """A file edited or downloaded from Microsoft (no SpendLab Client Id) still parses by Id and
    Parent Id; the campaign id of a keyword is then unknown ('')."""
    cols = FORMATS["microsoft_bulk"].columns
    rows = [
        {"Type": "Format Version", "Name": "6.0"},
        {"Type": "Keyword", "Status": "Paused", "Id": "12", "Parent Id": "11", "Keyword": "x"},
        {"Type": "Campaign", "Id": "5", "Parent Id": "1", "Budget": "20.5"},
    ]
    p = tmp_path / "ms.csv"
    with p.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    kw, camp = parse_bulk(p, "microsoft_bulk", account_id="1")
    assert kw.entity == EntityRef("microsoft", Level.KEYWORD, "1", "", "11", "12")
    assert kw.kind is ActionKind.PAUSE and kw.value == "paused"
    assert camp.entity == EntityRef("microsoft", Level.CAMPAIGN, "1", "5")
    assert camp.kind is ActionKind.SET_BUDGET and camp.value == Decimal("20.5")
