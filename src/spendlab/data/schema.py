"""The canonical data model: every table SpendLab stores, declared once.

From these declarations come the warehouse DDL (an Ibis schema per table), the validation run on
every load (:mod:`spendlab.data.quality`), the pandera schema users can run on their own frames,
and ``docs/data-model.md``. Readers in :mod:`spendlab.data.sources` produce columns named as here.

Conventions:

- Money columns (``money=True``) are stored in the workspace currency; the row's source
  ``currency`` and the ``fx_rate`` used are kept beside them.
- Key columns are never NULL. Hierarchy ids that do not apply to a row (the keyword of a campaign
  row) hold the empty string, so keys compare with plain equality on every backend.
- Every table also carries ``_load_id``, the load that wrote the row (lineage, undo of a load).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.datatypes as dt

from spendlab.core.hierarchy import DEVICES, LIFECYCLE_STAGES, Level
from spendlab.core.money import CURRENCIES

LOAD_ID = "_load_id"

#: Upper bound on any single row's metric: a value above it is almost surely a parsing error
#: (a missing decimal point, micros read as units) and is rejected with a clear message.
MAX_METRIC = 1e13


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    ``default`` fills the column when a reader does not provide it (and, for key columns, replaces
    NULL). ``required`` columns must be present and non-NULL in every row.
    """

    name: str
    dtype: str
    description: str
    key: bool = False
    required: bool = False
    default: object = None
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    isin: frozenset[str] | None = None
    money: bool = False

    @property
    def ibis_type(self) -> dt.DataType:
        if self.dtype == "timestamp":  # microseconds, naive UTC: what DuckDB stores
            return dt.Timestamp(scale=6)
        return dt.dtype(self.dtype)


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[Column, ...]
    grain: str = ""
    examples: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.key)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def money_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.money)

    @property
    def has_currency(self) -> bool:
        return "currency" in self.names and "fx_rate" in self.names

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(
            f"table {self.name!r} has no column {name!r}; columns: {', '.join(self.names)}"
        )

    def ibis_schema(self) -> ibis.Schema:
        """The stored schema, with the lineage column appended."""
        pairs = [(c.name, c.ibis_type) for c in self.columns]
        pairs.append((LOAD_ID, dt.string))
        return ibis.schema(pairs)


def _metric(name: str, dtype: str, description: str, *, money: bool = False) -> Column:
    return Column(name, dtype, description, default=0, ge=0, le=MAX_METRIC, money=money)


def _id(name: str, description: str) -> Column:
    return Column(name, "string", description, key=True, default="")


_CURRENCY = Column(
    "currency",
    "string",
    "ISO 4217 code the source reported amounts in",
    required=True,
    isin=CURRENCIES,
)
_FX = Column(
    "fx_rate",
    "float64",
    "Rate applied to convert source amounts to the workspace currency (1 when the same)",
    default=1.0,
    gt=0,
    le=MAX_METRIC,
)
_GEO = Column(
    "geo",
    "string",
    "Geography: 'national' or a region / DMA / country code",
    key=True,
    default="national",
)

AD_PERFORMANCE = TableSpec(
    "ad_performance",
    "Daily delivery and platform-reported results of ad entities at any level of the hierarchy.",
    grain="one row per date x entity (platform, account, campaign, ad group, keyword or ad) x "
    "country x device",
    columns=(
        Column(
            "date", "date", "Day of delivery in the account's time zone", key=True, required=True
        ),
        Column(
            "platform",
            "string",
            "Ad platform: google_ads, meta, microsoft, ...",
            key=True,
            required=True,
        ),
        Column(
            "level",
            "string",
            "Finest hierarchy level this row describes",
            required=True,
            isin=frozenset(lv.value for lv in Level),
        ),
        _id("account_id", "Ad account (customer) id"),
        Column("account_name", "string", "Ad account name"),
        Column("business_unit", "string", "Business unit the entity belongs to (JOT hierarchy)"),
        Column("code", "string", "Code / product line the entity belongs to (JOT hierarchy)"),
        _id("campaign_id", "Campaign id; '' for account-level rows"),
        Column("campaign_name", "string", "Campaign name"),
        _id("ad_group_id", "Ad group (ad set) id; '' above ad-group level"),
        Column("ad_group_name", "string", "Ad group (ad set) name"),
        _id("keyword_id", "Keyword (criterion) id; '' unless a keyword row"),
        Column("keyword_text", "string", "Keyword text"),
        Column("match_type", "string", "Keyword match type: exact, phrase, broad"),
        _id("ad_id", "Ad / creative id; '' unless an ad row"),
        Column("ad_name", "string", "Ad name"),
        Column(
            "country",
            "string",
            "ISO 3166-1 alpha-2 country, '' when not segmented",
            key=True,
            default="",
        ),
        Column(
            "device",
            "string",
            "desktop, mobile, tablet, tv, other; '' when not segmented",
            key=True,
            default="",
            isin=DEVICES | {""},
        ),
        _CURRENCY,
        _FX,
        Column("objective", "string", "Campaign objective (sales, leads, traffic, awareness...)"),
        Column(
            "lifecycle_stage",
            "string",
            "acquisition, maximization or retention",
            isin=LIFECYCLE_STAGES,
        ),
        Column("language", "string", "Language the campaign targets (en, ...); NULL if unknown"),
        _metric("impressions", "int64", "Impressions"),
        _metric("clicks", "int64", "Clicks"),
        _metric("spend", "float64", "Media cost", money=True),
        _metric("conversions", "float64", "Platform-reported conversions (may be fractional)"),
        _metric("conversion_value", "float64", "Platform-reported conversion value", money=True),
        Column("extras", "json", "Other platform-reported metrics, kept as reported"),
    ),
)

OUTCOMES = TableSpec(
    "outcomes",
    "Business outcomes the marketing mix explains (sales, revenue, units, sign-ups).",
    grain="one row per date x geo x KPI",
    columns=(
        Column(
            "date",
            "date",
            "Day (or first day of the week for weekly data)",
            key=True,
            required=True,
        ),
        _GEO,
        Column(
            "kpi",
            "string",
            "KPI name: sales, revenue, units, signups, ...",
            key=True,
            required=True,
        ),
        Column("value", "float64", "KPI value", required=True, le=MAX_METRIC),
    ),
)

CONTROLS = TableSpec(
    "controls",
    "Non-media drivers: price, promotions, competitor spend, macro indicators, weather, events.",
    grain="one row per date x geo x control name",
    columns=(
        Column("date", "date", "Day (or week start)", key=True, required=True),
        _GEO,
        Column("name", "string", "Control variable name", key=True, required=True),
        Column(
            "value",
            "float64",
            "Value (may be negative, e.g. a temperature)",
            required=True,
            ge=-MAX_METRIC,
            le=MAX_METRIC,
        ),
    ),
)

TOUCHPOINTS = TableSpec(
    "touchpoints",
    "Marketing interactions of identified users, for journeys and attribution.",
    grain="one row per user x timestamp x channel x campaign x interaction",
    columns=(
        Column("user_id", "string", "Pseudonymous user id", key=True, required=True),
        Column(
            "timestamp", "timestamp", "When the interaction happened (UTC)", key=True, required=True
        ),
        Column(
            "channel",
            "string",
            "Channel (paid_search, paid_social, email, direct, ...)",
            key=True,
            required=True,
        ),
        Column("campaign", "string", "Campaign name or id; '' when unknown", key=True, default=""),
        Column(
            "interaction_type",
            "string",
            "impression, click or visit",
            key=True,
            default="visit",
            isin=frozenset({"impression", "click", "visit"}),
        ),
        Column("source", "string", "Traffic source as reported (e.g. google)"),
        Column("medium", "string", "Traffic medium as reported (e.g. cpc)"),
        Column("session_id", "string", "Session the interaction started, when known"),
    ),
)

CONVERSIONS = TableSpec(
    "conversions",
    "Conversions of identified users, the end points of journeys.",
    grain="one row per conversion",
    columns=(
        Column("user_id", "string", "Pseudonymous user id", key=True, required=True),
        Column(
            "timestamp", "timestamp", "When the conversion happened (UTC)", key=True, required=True
        ),
        Column(
            "conversion_id",
            "string",
            "Transaction / conversion id; '' when unknown",
            key=True,
            default="",
        ),
        Column(
            "event", "string", "Conversion event name (purchase, sign_up, ...)", default="purchase"
        ),
        Column("value", "float64", "Conversion value", default=0, ge=0, le=MAX_METRIC, money=True),
        _CURRENCY,
        _FX,
    ),
)

ORDERS = TableSpec(
    "orders",
    "CRM orders: who bought what, when, for how much.",
    grain="one row per order",
    columns=(
        Column("order_id", "string", "Order id, unique", key=True, required=True),
        Column("customer_id", "string", "Customer id", required=True),
        Column("timestamp", "timestamp", "Order time (UTC)", required=True),
        Column(
            "value",
            "float64",
            "Order value (net of tax); refunds as separate negative orders",
            required=True,
            ge=-MAX_METRIC,
            le=MAX_METRIC,
            money=True,
        ),
        _CURRENCY,
        _FX,
        Column("items", "int64", "Number of items", ge=0, le=MAX_METRIC),
        Column("channel", "string", "Channel credited by the CRM, when recorded"),
        Column("country", "string", "ISO 3166-1 alpha-2 country of the order"),
        Column("extras", "json", "Other CRM fields, kept as provided"),
    ),
)

CUSTOMERS = TableSpec(
    "customers",
    "CRM customers and their attributes.",
    grain="one row per customer",
    columns=(
        Column("customer_id", "string", "Customer id", key=True, required=True),
        Column("first_seen", "timestamp", "First order or sign-up (UTC)"),
        Column("country", "string", "ISO 3166-1 alpha-2 country"),
        Column("acquisition_channel", "string", "Channel that acquired the customer"),
        Column("attributes", "json", "Other attributes (segment, plan, ...)"),
    ),
)

CREATIVES = TableSpec(
    "creatives",
    "Ad creatives: their text and tags, for creative insights.",
    grain="one row per creative",
    columns=(
        Column("creative_id", "string", "Creative / ad id", key=True, required=True),
        Column("platform", "string", "Ad platform", key=True, default=""),
        Column("headline", "string", "Headline text"),
        Column("description", "string", "Description text"),
        Column("body", "string", "Primary / body text"),
        Column("call_to_action", "string", "Call to action"),
        Column("tags", "json", "Tags (list of strings)"),
        Column("extras", "json", "Other fields"),
    ),
)

ENTITIES = TableSpec(
    "entities",
    "Current state of campaigns, ad groups and keywords: what automation needs to act on them.",
    grain="one row per entity (latest known state)",
    columns=(
        Column("platform", "string", "Ad platform", key=True, required=True),
        Column(
            "level",
            "string",
            "campaign, ad_group, keyword, ad or account",
            key=True,
            required=True,
            isin=frozenset(lv.value for lv in Level),
        ),
        _id("account_id", "Ad account id"),
        _id("campaign_id", "Campaign id"),
        _id("ad_group_id", "Ad group id"),
        _id("keyword_id", "Keyword id"),
        _id("ad_id", "Ad id"),
        Column("name", "string", "Current name (keyword text for keywords)"),
        Column(
            "status",
            "string",
            "enabled, paused or removed",
            default="enabled",
            isin=frozenset({"enabled", "paused", "removed"}),
        ),
        Column(
            "bid",
            "float64",
            "Current max CPC / bid, when the level has one",
            ge=0,
            le=MAX_METRIC,
            money=True,
        ),
        Column(
            "budget",
            "float64",
            "Current daily budget, when the level has one",
            ge=0,
            le=MAX_METRIC,
            money=True,
        ),
        _CURRENCY,
        _FX,
        Column("match_type", "string", "Keyword match type"),
        Column("labels", "json", "Labels (list of strings)"),
        Column("updated_at", "timestamp", "When this state was observed (UTC)"),
    ),
)

FX_RATES = TableSpec(
    "fx_rates",
    "Exchange rates into the workspace currency, used to convert amounts at load time.",
    grain="one row per date x currency",
    columns=(
        Column("date", "date", "Day the rate applies to", key=True, required=True),
        Column(
            "currency",
            "string",
            "ISO 4217 code converted from",
            key=True,
            required=True,
            isin=CURRENCIES,
        ),
        Column(
            "rate",
            "float64",
            "Units of workspace currency per unit of `currency`",
            required=True,
            gt=0,
            le=MAX_METRIC,
        ),
    ),
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        AD_PERFORMANCE,
        OUTCOMES,
        CONTROLS,
        TOUCHPOINTS,
        CONVERSIONS,
        ORDERS,
        CUSTOMERS,
        CREATIVES,
        ENTITIES,
        FX_RATES,
    )
}


def table_spec(name: str) -> TableSpec:
    """The spec of a canonical table; the error lists the valid names."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; canonical tables: {', '.join(TABLES)}") from None


def pandera_schema(name: str):  # -> pandera.pandas.DataFrameSchema
    """A pandera (pandas) schema for a canonical table, for users validating their own frames
    before a load. The loader runs the same rules in the warehouse (see ``quality``)."""
    import pandera.pandas as pa

    pd_types = {
        "date": "datetime64[ns]",
        "timestamp": "datetime64[ns]",
        "json": object,
        "string": object,
        "int64": "Int64",
        "float64": "float64",
    }
    cols = {}
    for c in table_spec(name).columns:
        checks = []
        if c.ge is not None:
            checks.append(pa.Check.ge(c.ge))
        if c.gt is not None:
            checks.append(pa.Check.gt(c.gt))
        if c.le is not None:
            checks.append(pa.Check.le(c.le))
        if c.isin is not None:
            checks.append(pa.Check.isin(sorted(c.isin)))
        cols[c.name] = pa.Column(
            pd_types[c.dtype],
            checks=checks,
            nullable=not (c.required or c.key),
            required=c.required,
            coerce=True,
        )
    return pa.DataFrameSchema(cols, unique=list(table_spec(name).key) or None, strict=False)


def data_model_markdown() -> str:
    """The table reference of ``docs/data-model.md``, generated from the declarations above
    (a test keeps the committed doc in sync)."""
    lines = []
    for spec in TABLES.values():
        lines += [
            f"### `{spec.name}`",
            "",
            spec.description,
            "",
            f"Grain: {spec.grain}. Key: {', '.join(f'`{k}`' for k in spec.key)}.",
            "",
            "| column | type | rules | description |",
            "|---|---|---|---|",
        ]
        for c in spec.columns:
            rules = []
            if c.key:
                rules.append("key")
            if c.required:
                rules.append("required")
            if c.default is not None:
                rules.append(f"default `{c.default!r}`")
            if c.ge is not None:
                rules.append(f">= {c.ge:g}")
            if c.gt is not None:
                rules.append(f"> {c.gt:g}")
            if c.le is not None:
                rules.append(f"<= {c.le:g}")
            if c.isin is not None:
                rules.append(
                    "ISO 4217"
                    if c.name == "currency"
                    else "one of " + ", ".join(f"`{v}`" for v in sorted(c.isin) if v)
                )
            if c.money:
                rules.append("money (workspace currency)")
            lines.append(f"| `{c.name}` | {c.dtype} | {'; '.join(rules)} | {c.description} |")
        lines.append("")
    return "\n".join(lines)
