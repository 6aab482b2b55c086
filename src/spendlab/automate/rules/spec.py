"""The rule spec: what an account manager writes (YAML or JSON), validated by pydantic.

A rule is *scope -> conditions -> action -> limits -> schedule*::

    id: cut-bids-high-cpa
    version: 1
    name: Cut bids where CPA > 2x campaign CPA
    scope: {level: keyword, platform: [google_ads], campaign_name: ["Generic*"]}
    min_data: {all: [{kpi: clicks, window: {days: 14}, op: ">=", value: 100}]}
    conditions:
      all:
        - {kpi: cpa, window: {days: 14}, op: ">", factor: 2,
           other: {kpi: cpa, level: campaign, window: {days: 14}}}
    action: {type: bid, mode: percent, value: -15, min: 0.10, max_step_pct: 25}
    schedule: {every: daily, timezone: Europe/Madrid}

Every part is plain data: names, patterns and labels are compared as values and never become
code or SQL (the compiler passes them to Ibis as literals).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spendlab.core.hierarchy import Level
from spendlab.core.metrics import ZeroPolicy
from spendlab.errors import ConfigError

SPEC_VERSION = 1

#: Additive KPIs and the ``ad_performance`` column each sums (profit is derived).
BASE_KPIS: dict[str, str] = {
    "impressions": "impressions",
    "clicks": "clicks",
    "spend": "spend",
    "conversions": "conversions",
    "revenue": "conversion_value",
}
ADDITIVE_KPIS = (*BASE_KPIS, "profit")

#: Ratio KPIs: (numerator, denominator, zero-denominator policy). The policy is the glossary's
#: (``core.metrics``): CTR, CPC, CPM, conversion rate and ROAS are NULL (the condition is not
#: met) when the denominator is 0; CPA is +inf when there is spend and no conversion (and NULL
#: when both are 0).
RATIO_KPIS: dict[str, tuple[str, str, ZeroPolicy]] = {
    "ctr": ("clicks", "impressions", ZeroPolicy.NULL),
    "cpc": ("spend", "clicks", ZeroPolicy.NULL),
    "cpm": ("spend", "impressions", ZeroPolicy.NULL),
    "cvr": ("conversions", "clicks", ZeroPolicy.NULL),
    "cpa": ("spend", "conversions", ZeroPolicy.INFINITE),
    "roas": ("revenue", "spend", ZeroPolicy.NULL),
    "impression_share": ("is_impressions", "eligible_impressions", ZeroPolicy.NULL),
}
#: Impression share, where the platform reports it: ``extras.search_impression_share`` (a
#: fraction, as the Google Ads API reader keeps it). Over a window it is impressions over
#: eligible impressions (impressions / share) of the rows that report a share above 0; NULL
#: (never matching) for an entity or window without such rows.
IMPRESSION_SHARE_KEY = "search_impression_share"
KPI_ALIASES = {
    "cost": "spend",
    "conversion_value": "revenue",
    "conversion_rate": "cvr",
    "search_impression_share": "impression_share",
}
KPIS = (*ADDITIVE_KPIS, *RATIO_KPIS)
RATIO_SCALE = {"cpm": 1000.0}

Kpi = Literal[
    "impressions",
    "clicks",
    "spend",
    "conversions",
    "revenue",
    "profit",
    "ctr",
    "cpc",
    "cpm",
    "cvr",
    "cpa",
    "roas",
    "impression_share",
]
Op = Literal[">", ">=", "<", "<=", "==", "!="]
Analytic = Literal["sum", "avg", "min", "max", "last", "trend", "days", "share_days"]

#: Levels a rule may act on, and the levels conditions may refer to.
RULE_LEVELS = (
    Level.KEYWORD,
    Level.AD,
    Level.AD_GROUP,
    Level.CAMPAIGN,
    Level.CODE,
    Level.BUSINESS_UNIT,
    Level.ACCOUNT,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Model):
    """A date window relative to the run date ``as_of`` (today is excluded by default).

    - ``last_days``: the ``days`` days ending ``lag`` days before ``as_of`` (lag 1 = yesterday).
    - ``this_week`` (Monday to the day before ``as_of``), ``last_week`` (Monday-Sunday),
      ``month_to_date`` (1st to the day before ``as_of``), ``last_month``.
    - ``shift``: move the window back by that many window lengths (1 = the previous window).
    """

    kind: Literal["last_days", "this_week", "last_week", "month_to_date", "last_month"] = (
        "last_days"
    )
    days: int = Field(7, ge=1, le=1000)
    lag: int = Field(1, ge=0, le=1000)
    shift: int = Field(0, ge=0, le=52)

    def dates(self, as_of: date) -> tuple[date, date]:
        """Inclusive (start, end). An empty window (e.g. this week on a Monday) has end < start."""
        if self.kind == "last_days":
            end = as_of - timedelta(days=self.lag)
            start = end - timedelta(days=self.days - 1)
        elif self.kind == "this_week":
            start, end = as_of - timedelta(days=as_of.weekday()), as_of - timedelta(days=1)
        elif self.kind == "last_week":
            start = as_of - timedelta(days=as_of.weekday() + 7)
            end = start + timedelta(days=6)
        elif self.kind == "month_to_date":
            start, end = as_of.replace(day=1), as_of - timedelta(days=1)
        else:
            end = as_of.replace(day=1) - timedelta(days=1)
            start = end.replace(day=1)
        if self.shift:
            n = (end - start).days + 1
            if n <= 0:
                return start, end
            if self.kind == "last_month":  # previous calendar months
                for _ in range(self.shift):
                    end = start - timedelta(days=1)
                    start = end.replace(day=1)
            else:
                start -= timedelta(days=n * self.shift)
                end -= timedelta(days=n * self.shift)
        return start, end

    def previous(self) -> Window:
        return self.model_copy(update={"shift": self.shift + 1})

    def describe(self) -> str:
        base = {
            "last_days": f"last {self.days} days" + (f" (lag {self.lag})" if self.lag != 1 else ""),
            "this_week": "this week",
            "last_week": "last week",
            "month_to_date": "month to date",
            "last_month": "last month",
        }[self.kind]
        if self.shift == 1:
            return f"previous {base.removeprefix('last ')}"
        if self.shift > 1:
            return f"{base} shifted back {self.shift}x"
        return base


class Daily(_Model):
    """A condition on one day's value, counted by the ``days`` / ``share_days`` analytics."""

    op: Op
    value: float


class Feature(_Model):
    """A KPI summarised over a window by an analytic, at the rule's level or an ancestor.

    Analytics: ``sum`` (ratio KPIs: ratio of sums), ``avg`` (additive: sum / days in window;
    ratios: mean of the defined daily ratios), ``min`` / ``max`` / ``last`` (over days with
    data), ``trend`` (this window's sum-value over the previous window's, minus 1; from 0 to
    anything positive is +inf, 0 to 0 is 0), ``days`` (number of days with data where ``daily``
    holds), ``share_days`` (that number over the days in the window: ``> 0.5`` is "most days").
    """

    kpi: Kpi
    analytic: Analytic = "sum"
    window: Window = Window()
    level: Level | None = None  # None: the rule's level; else an ancestor (parent) level
    daily: Daily | None = None

    @field_validator("kpi", mode="before")
    @classmethod
    def _alias(cls, v: Any) -> Any:
        return KPI_ALIASES.get(v, v) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> Feature:
        if self.analytic in ("days", "share_days") and self.daily is None:
            raise ValueError(
                f"analytic {self.analytic!r} needs a daily condition, e.g. daily: {{op: '>', "
                "value: 0}}"
            )
        if self.daily is not None and self.analytic not in ("days", "share_days"):
            raise ValueError("'daily' only applies to the days / share_days analytics")
        return self

    def describe(self, rule_level: Level | None = None) -> str:
        lvl = f"{self.level.value} " if self.level and self.level != rule_level else ""
        w = self.window.describe()
        if self.analytic == "sum":
            return f"{lvl}{self.kpi} {w}"
        if self.analytic in ("days", "share_days"):
            assert self.daily is not None
            what = "days" if self.analytic == "days" else "share of days"
            return f"{what} with {lvl}{self.kpi} {self.daily.op} {self.daily.value:g} {w}"
        name = {"avg": "average daily", "min": "min daily", "max": "max daily"}.get(
            self.analytic, self.analytic
        )
        return f"{name} {lvl}{self.kpi} {w}"


class Condition(_Model):
    """``feature op factor x other`` where other is a constant ``value`` or another feature
    (another KPI, another window, or the same KPI at a parent level)."""

    kpi: Kpi
    analytic: Analytic = "sum"
    window: Window = Window()
    level: Level | None = None
    daily: Daily | None = None
    op: Op
    value: float | None = None
    other: Feature | None = None
    factor: float = Field(1.0, gt=0, le=1e9)

    @field_validator("kpi", mode="before")
    @classmethod
    def _alias(cls, v: Any) -> Any:
        return KPI_ALIASES.get(v, v) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> Condition:
        if (self.value is None) == (self.other is None):
            raise ValueError("a condition compares with exactly one of 'value' or 'other'")
        self.feature  # validates analytic/daily  # noqa: B018
        return self

    @cached_property
    def feature(self) -> Feature:
        return Feature(
            kpi=self.kpi,
            analytic=self.analytic,
            window=self.window,
            level=self.level,
            daily=self.daily,
        )


class All(_Model):
    all: list[Node] = Field(min_length=1)


class Any_(_Model):
    any: list[Node] = Field(min_length=1)


Node = Annotated[Condition | All | Any_, Field(union_mode="left_to_right")]
All.model_rebuild()
Any_.model_rebuild()


class Scope(_Model):
    """Which entities a rule looks at. Each filter is a list of accepted values (any of);
    ``campaign_name`` / ``exclude_campaign_name`` are case-insensitive glob patterns
    (``*`` and ``?``); ``labels`` matches entities carrying any of them; ``country`` and
    ``device`` restrict the performance rows counted (segments); ``language`` is the campaign's
    language (``ad_performance.language``; a campaign without one matches no language filter)."""

    level: Level = Level.KEYWORD
    platform: list[str] = []
    account: list[str] = []
    business_unit: list[str] = []
    code: list[str] = []
    campaign: list[str] = []
    campaign_name: list[str] = []
    exclude_campaign_name: list[str] = []
    objective: list[str] = []
    lifecycle_stage: list[str] = []
    language: list[str] = []
    labels: list[str] = []
    status: list[Literal["enabled", "paused", "removed"]] = []
    country: list[str] = []
    device: list[str] = []

    @field_validator("level")
    @classmethod
    def _level(cls, v: Level) -> Level:
        if v not in RULE_LEVELS:
            raise ValueError(f"level must be one of {', '.join(x.value for x in RULE_LEVELS)}")
        return v


class ActionSpec(_Model):
    """What to do to each matched entity.

    ``bid`` / ``budget``: ``mode`` percent (value = +-%), absolute (value added), set (value),
    target_cpa / target_roas (value = the target: new = old x target/CPA or ROAS/target, over
    ``window``). Bounded by ``min`` / ``max`` and a maximum step (``max_step_pct`` of the old
    value, ``max_step``, absolute). ``pause_until`` re-enables after ``days``.
    """

    type: Literal["bid", "budget", "pause", "enable", "pause_until", "label", "alert"]
    mode: Literal["percent", "absolute", "set", "target_cpa", "target_roas"] = "percent"
    value: float | None = None
    window: Window = Window(days=30)
    min: float | None = Field(None, ge=0)
    max: float | None = Field(None, ge=0)
    max_step_pct: float | None = Field(None, gt=0, le=1000)
    max_step: float | None = Field(None, gt=0)
    days: int | None = Field(None, ge=1, le=365)
    label: str | None = Field(None, min_length=1, max_length=200)
    message: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _check(self) -> ActionSpec:
        if self.type in ("bid", "budget"):
            if self.value is None:
                raise ValueError(f"a {self.type} action needs a 'value'")
            if self.mode in ("set", "target_cpa", "target_roas") and self.value <= 0:
                raise ValueError(f"mode {self.mode!r} needs a positive value")
            if self.mode == "percent" and self.value <= -100:
                raise ValueError("a percent change must be above -100")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.type == "pause_until" and self.days is None:
            raise ValueError("pause_until needs 'days'")
        if self.type == "label" and not self.label:
            raise ValueError("a label action needs 'label'")
        return self


class Limits(_Model):
    """Per-rule limits (global ones are :class:`spendlab.automate.guardrails.Guardrails`)."""

    cooldown_days: int = Field(0, ge=0, le=365)
    max_executions: int | None = Field(None, ge=1)  # per entity, ever, for this rule
    max_actions_per_run: int | None = Field(None, ge=1)


class Schedule(_Model):
    """When the rule runs: ``once`` (on ``on``), ``daily``, ``weekly`` (``days`` 1=Mon..7=Sun),
    ``monthly`` (``days`` of the month; 31 also means the last day of shorter months)."""

    every: Literal["once", "daily", "weekly", "monthly"] = "daily"
    on: date | None = None
    days: list[int] = []
    start: date | None = None
    end: date | None = None
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name like Europe/Madrid"
            ) from None
        return v

    @model_validator(mode="after")
    def _check(self) -> Schedule:
        if self.every == "once" and self.on is None:
            raise ValueError("a once schedule needs 'on' (a date)")
        if self.every == "weekly" and not all(1 <= d <= 7 for d in self.days or [0]):
            raise ValueError("weekly days are 1 (Monday) to 7 (Sunday)")
        if self.every == "monthly" and not all(1 <= d <= 31 for d in self.days or [0]):
            raise ValueError("monthly days are 1 to 31")
        return self

    def is_due(self, day: date) -> bool:
        """Whether the rule runs on ``day`` (a date in the schedule's time zone)."""
        if (self.start and day < self.start) or (self.end and day > self.end):
            return False
        if self.every == "once":
            return day == self.on
        if self.every == "weekly":
            return day.isoweekday() in self.days
        if self.every == "monthly":
            last = calendar.monthrange(day.year, day.month)[1]
            return day.day in self.days or (day.day == last and any(d > last for d in self.days))
        return True


class Rule(_Model):
    """One versioned rule."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
    version: int = Field(1, ge=1)
    spec_version: int = SPEC_VERSION
    name: str = Field("", max_length=500)
    description: str = Field("", max_length=5000)
    enabled: bool = True
    priority: int = 0
    scope: Scope = Scope()
    min_data: Node | None = None
    conditions: Node
    action: ActionSpec
    limits: Limits = Limits()
    schedule: Schedule = Schedule()
    notify: list[str] = []

    @model_validator(mode="after")
    def _check(self) -> Rule:
        lvl = self.scope.level
        if lvl in (Level.BUSINESS_UNIT, Level.CODE, Level.ACCOUNT) and self.action.type not in (
            "alert",
            "budget",
        ):
            if lvl is not Level.ACCOUNT or self.action.type != "label":
                raise ValueError(
                    f"a {lvl.value}-level rule can only alert (use a campaign or finer level "
                    "to change bids, budgets or status)"
                )
        for f in iter_features(self):
            if f.level is not None and f.level != lvl and f.level not in ancestors(lvl):
                raise ValueError(
                    f"condition level {f.level.value!r} is not {lvl.value!r} or one of its "
                    f"parents ({', '.join(a.value for a in ancestors(lvl))})"
                )
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)


def ancestors(level: Level) -> tuple[Level, ...]:
    """Levels a condition of a ``level`` rule may refer to (broad to fine, excluding itself)."""
    chain = {
        Level.KEYWORD: (
            Level.ACCOUNT,
            Level.BUSINESS_UNIT,
            Level.CODE,
            Level.CAMPAIGN,
            Level.AD_GROUP,
        ),
        Level.AD: (Level.ACCOUNT, Level.BUSINESS_UNIT, Level.CODE, Level.CAMPAIGN, Level.AD_GROUP),
        Level.AD_GROUP: (Level.ACCOUNT, Level.BUSINESS_UNIT, Level.CODE, Level.CAMPAIGN),
        Level.CAMPAIGN: (Level.ACCOUNT, Level.BUSINESS_UNIT, Level.CODE),
        Level.CODE: (Level.BUSINESS_UNIT,),
    }
    return chain.get(Level(level), ())


def iter_conditions(node: Node | None) -> list[Condition]:
    if node is None:
        return []
    if isinstance(node, Condition):
        return [node]
    children = node.all if isinstance(node, All) else node.any
    return [c for ch in children for c in iter_conditions(ch)]


def iter_features(rule: Rule) -> list[Feature]:
    """Every feature a rule reads (conditions, guard and the action's target KPI)."""
    out = []
    for c in iter_conditions(rule.min_data) + iter_conditions(rule.conditions):
        out.append(c.feature)
        if c.other is not None:
            out.append(c.other)
    a = rule.action
    if a.type in ("bid", "budget") and a.mode in ("target_cpa", "target_roas"):
        out.append(Feature(kpi="cpa" if a.mode == "target_cpa" else "roas", window=a.window))
    return out


# -- loading -------------------------------------------------------------------------------------
def parse_rules(data: Any, *, source: str = "<data>") -> list[Rule]:
    """Rules from parsed YAML/JSON: one rule, a list, or ``{rules: [...]}``."""
    if isinstance(data, dict) and "rules" in data and "conditions" not in data:
        data = data["rules"]
    items = data if isinstance(data, list) else [data]
    rules = []
    for i, item in enumerate(items):
        try:
            rules.append(Rule.model_validate(item))
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            rid = item.get("id", f"#{i + 1}") if isinstance(item, dict) else f"#{i + 1}"
            raise ConfigError(
                f"{source}: rule {rid!r}: {loc or 'rule'}: {first['msg']}"
                f" ({len(e.errors())} problem(s)); fix the rule and validate again"
            ) from e
    ids = [r.id for r in rules]
    dupes = sorted({x for x in ids if ids.count(x) > 1})
    if dupes:
        raise ConfigError(f"{source}: duplicate rule id(s) {', '.join(dupes)}; ids must be unique")
    return rules


def load_rules(path: str | Path) -> list[Rule]:
    """Rules from a YAML/JSON file, or every ``*.yaml``/``*.yml``/``*.json`` in a folder."""
    p = Path(path)
    if p.is_dir():
        files = sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml", ".json"))
        rules = [r for f in files for r in load_rules(f)]
        return parse_rules([r.model_dump(mode="json") for r in rules], source=str(p))
    if not p.exists():
        raise ConfigError(f"rule file {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML/JSON: {e}") from e
    return parse_rules(data, source=str(p))
