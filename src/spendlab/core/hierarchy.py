"""The ad-account hierarchy: platform > account > business unit / code > campaign > ad group >
keyword or ad. Entities are addressed by the ids of every level above and including their own."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """A level of the hierarchy, from the broadest to the finest."""

    PLATFORM = "platform"
    ACCOUNT = "account"
    BUSINESS_UNIT = "business_unit"
    CODE = "code"
    CAMPAIGN = "campaign"
    AD_GROUP = "ad_group"
    KEYWORD = "keyword"
    AD = "ad"


#: Levels that carry an id column in ``ad_performance`` and ``entities``, broad to fine.
ID_LEVELS: tuple[Level, ...] = (
    Level.ACCOUNT,
    Level.CAMPAIGN,
    Level.AD_GROUP,
    Level.KEYWORD,
    Level.AD,
)

#: Attribute levels: grouping labels between account and campaign (JOT's business unit and code).
ATTRIBUTE_LEVELS: tuple[Level, ...] = (Level.BUSINESS_UNIT, Level.CODE)


def id_column(level: Level | str) -> str:
    """The column holding a level's id, e.g. ``ad_group`` -> ``ad_group_id``."""
    return f"{Level(level).value}_id"


def parents(level: Level | str) -> tuple[Level, ...]:
    """Id levels strictly above ``level`` (for a keyword: account, campaign, ad group)."""
    lvl = Level(level)
    if lvl not in ID_LEVELS:
        return ()
    chain = ID_LEVELS[: ID_LEVELS.index(lvl)]
    # keywords and ads are siblings under an ad group, not parent and child
    return tuple(x for x in chain if not (lvl is Level.AD and x is Level.KEYWORD))


DEVICES: frozenset[str] = frozenset({"desktop", "mobile", "tablet", "tv", "other"})
LIFECYCLE_STAGES: frozenset[str] = frozenset({"acquisition", "maximization", "retention"})
