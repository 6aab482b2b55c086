"""Count spend once: which ``ad_performance`` rows count when exports describe the same spend at
several levels of the hierarchy.

A workspace may hold a campaign report and a keyword report of the same campaign, an ad-group
report and its keywords, or a keyword report and an ad report of the same ad group; and the
reports need not cover the same days (campaign rows for January to June, keyword rows from
March). Summing every row counts the overlap twice; taking one level per campaign for the whole
period drops the days only the other level reports. :func:`count_once` is the one rule every
consumer uses (the explorer, the MMM input, current spend for planning, the daily allocator,
attribution's spend per channel):

    **Per day, each part of the hierarchy is counted at the coarsest level that reports it that
    day.** A row counts unless a row of one of its ancestors reports the same day: an account row
    covers the account's campaigns, a campaign row its ad groups, keywords and ads, an ad-group
    row its keywords and ads, and a keyword row the ads of its ad group (keyword and ad reports
    are two splits of the same ad-group spend).

Why per day: coverage is decided for each day on its own, so levels reported on different days
add up (campaign rows on Monday, keyword rows on Tuesday: both days count, each once). Why the
coarsest: a coarse row is the platform's total for the entity, while finer reports often leave
spend out (a Google Ads keyword report has no row for spend not tied to a keyword, such as
dynamic search ads; exports are often cut to the top keywords or to active ads), so a finer
total is at most the coarser one, never more. Where a coarse row is missing, the finer rows
below it count, subtree by subtree: with an ad-group row for ad group 1 and keyword rows for ad
groups 1 and 2 on one day, the day counts ad group 1's row and ad group 2's keywords. The
simulator reports each campaign at one level (keywords, ads or the campaign), so the rule keeps
every simulated row.

Segments (country, device) do not take part in coverage: a campaign row per device covers the
campaign's unsegmented keyword rows of that day, and the other way round. Rows above the id
hierarchy (``platform``, ``business_unit``, ``code`` levels) are groupings, not entities, and
never count.

``level`` is the finest grouping the consumer needs: rows coarser than it cannot be split over
its entities and are left out (at ``campaign`` level an account-only row is not counted), so a
total at ``campaign`` level can be below the total at ``account`` level. ``keyword`` keeps
keyword rows only (ads are siblings of keywords, not below them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from spendlab.core.hierarchy import Level
from spendlab.errors import ConfigError

if TYPE_CHECKING:
    from spendlab.data.warehouse import Warehouse

#: Levels that can cover finer rows, with the ids that say what they cover (a keyword row
#: covers the ad rows of its ad group).
COVERS: dict[str, tuple[str, ...]] = {
    "account": ("platform", "account_id"),
    "campaign": ("platform", "account_id", "campaign_id"),
    "ad_group": ("platform", "account_id", "campaign_id", "ad_group_id"),
    "keyword": ("platform", "account_id", "campaign_id", "ad_group_id"),
}
#: Coarse (0) to fine of the levels whose rows can count.
RANK: dict[str, int] = {"account": 1, "campaign": 2, "ad_group": 3, "keyword": 4, "ad": 5}
LEVELS: tuple[str, ...] = tuple(RANK)


def count_once(ap: ir.Table, level: Level | str = Level.ACCOUNT) -> ir.Table:
    """The rows of ``ap`` (``ad_performance`` or a filtered view of it) that count, each day's
    spend once (see the module docstring for the rule); the same columns as ``ap``.

    Filter ``ap`` by date or entity before calling: coverage is decided among the rows given
    (filtering on ``ad_group_id`` keeps that ad group's keyword rows even on days a campaign row
    covers them, which is what a drill-down into the ad group wants).
    """
    name = Level(level).value if isinstance(level, Level) else str(level)
    if name not in RANK:
        raise ConfigError(f"cannot count spend at level {name!r}; use one of {', '.join(LEVELS)}")
    want = RANK[name]
    t = ap.filter(ap.level.isin([lv for lv, r in RANK.items() if r >= want]))
    if name == "keyword":  # ads are siblings of keywords, not below them
        t = t.filter(t.level == "keyword")
    rank = ibis.cases(*((t.level == lv, r) for lv, r in RANK.items()), else_=99)
    covered = ibis.literal(False)
    for anc, keys in COVERS.items():
        if RANK[anc] < want:
            continue
        w = ibis.window(group_by=[t.date, *(t[k] for k in keys)])
        reported = (t.level == anc).cast("int8").max().over(w) == 1
        covered = covered | ((rank > RANK[anc]) & reported)
    cols = ap.columns
    return t.mutate(_covered=covered).filter(lambda x: ~x._covered).select(*cols)


def counted_rows(
    wh: Warehouse,
    level: Level | str = Level.ACCOUNT,
    start: dt.date | None = None,
    end: dt.date | None = None,
    filters: Mapping[str, str] | None = None,
) -> ir.Table:
    """The warehouse's ``ad_performance`` rows from ``start`` to ``end`` (inclusive; open when
    None) whose columns equal ``filters``, that count at ``level`` (:func:`count_once`)."""
    t = wh.table("ad_performance")
    if start is not None:
        t = t.filter(t.date >= start)
    if end is not None:
        t = t.filter(t.date <= end)
    for col, value in (filters or {}).items():
        t = t.filter(t[col] == ibis.literal(str(value)))
    return count_once(t, level)
