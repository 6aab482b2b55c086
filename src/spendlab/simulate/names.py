"""Realistic names for the simulated advertiser (an outdoor brand, "Northpeak"): campaigns, ad
groups, keywords, ad sets, ads, business units and codes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BRAND = "northpeak"

#: business unit -> (code prefix, products)
BUSINESS_UNITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Footwear": ("FW", ("Running Shoes", "Trail Shoes", "Hiking Boots", "Sandals", "Sneakers")),
    "Apparel": ("AP", ("Rain Jackets", "Fleece", "Base Layers", "Hiking Pants", "Down Jackets")),
    "Equipment": ("EQ", ("Backpacks", "Tents", "Sleeping Bags", "Headlamps", "Trekking Poles")),
}
COMPETITORS = ("trailforge", "summit and co", "alpenwerk", "ridgeline outfitters")
KEYWORD_MODIFIERS = (
    "{}", "buy {}", "best {}", "{} sale", "womens {}", "mens {}", "cheap {}", "{} online",
    "waterproof {}", "{} near me", "lightweight {}", "{} outlet",
)  # fmt: skip
AD_GROUP_SUFFIXES = ("General", "Buy", "Sale", "Women", "Men", "Best", "Deals", "Reviews")
AUDIENCES = (
    "LAL 1% - Purchasers", "LAL 3% - Add to Cart", "Broad - 18-65+", "Interests - Hiking",
    "Interests - Running", "Engaged Shoppers", "Video Viewers 75%", "LAL 5% - Visitors",
)  # fmt: skip
AGES = ("18-34", "25-44", "25-54", "35-65+")
AD_FORMATS = ("Video", "Carousel", "Static", "UGC", "Collection")

#: theme -> (weight, lifecycle stage, iROAS multiplier, over-claim multiplier, spend multiplier)
SEARCH_THEMES = {
    "brand": (0.15, "maximization", 0.3, 2.5, 0.6),
    "generic": (0.65, "acquisition", 1.0, 1.0, 1.0),
    "competitor": (0.10, "acquisition", 0.7, 1.2, 0.7),
    "dsa": (0.10, "acquisition", 0.9, 1.1, 0.8),
}
SOCIAL_THEMES = {
    "lookalike": (0.35, "acquisition", 1.0, 1.0, 1.0),
    "broad": (0.25, "acquisition", 0.9, 1.1, 1.2),
    "interests": (0.20, "acquisition", 1.1, 1.0, 0.8),
    "advantage": (0.10, "acquisition", 1.2, 1.2, 1.5),
    "retention": (0.10, "retention", 0.4, 2.0, 0.5),
}
RETARGETING_THEMES = {
    "cart": (0.4, "retention", 1.0, 1.0, 1.0),
    "visitors": (0.4, "retention", 1.0, 1.0, 1.2),
    "viewers": (0.2, "retention", 1.0, 1.0, 0.8),
}


@dataclass
class CampaignNames:
    """Per-campaign naming and business attributes (lists of length ``n``)."""

    name: list[str]
    theme: list[str]
    product: list[str]
    business_unit: list[str]
    code: list[str]
    lifecycle: list[str]
    roas_mult: np.ndarray
    overclaim_mult: np.ndarray
    spend_mult: np.ndarray


def themes_for(campaign_type: str, level: str) -> dict[str, tuple]:
    if level == "campaign" or campaign_type == "Display":
        return RETARGETING_THEMES
    return SOCIAL_THEMES if level == "ad" else SEARCH_THEMES


def campaign_names(
    rng: np.random.Generator, campaign_type: str, level: str, countries: list[str]
) -> CampaignNames:
    """Names for ``len(countries)`` campaigns of one channel spec (``countries`` = targets)."""
    themes = themes_for(campaign_type, level)
    keys = list(themes)
    w = np.array([themes[k][0] for k in keys])
    n = len(countries)
    pick = rng.choice(len(keys), size=n, p=w / w.sum())
    units = list(BUSINESS_UNITS)
    bu_pick = rng.integers(0, len(units), n)
    prod_pick = rng.integers(0, 5, n)
    out = CampaignNames([], [], [], [], [], [], np.ones(n), np.ones(n), np.ones(n))
    for i, c in enumerate(countries):
        theme = keys[pick[i]]
        bu = units[bu_pick[i]]
        prefix, products = BUSINESS_UNITS[bu]
        product = products[prod_pick[i]]
        _, stage, rm, om, sm = themes[theme]
        out.name.append(_campaign_name(theme, product, c, i))
        out.theme.append(theme)
        out.product.append(product)
        out.business_unit.append(bu)
        out.code.append(f"{prefix}-{product.split()[0][:4].upper()}")
        out.lifecycle.append(stage)
        out.roas_mult[i], out.overclaim_mult[i], out.spend_mult[i] = rm, om, sm
    return out


def _campaign_name(theme: str, product: str, country: str, i: int) -> str:
    pct = (1, 3, 5)[i % 3]
    return {
        "brand": f"Brand - {country} - {('Exact', 'Phrase')[i % 2]}",
        "generic": f"Generic - {product} - {country}",
        "competitor": f"Competitor - {country}",
        "dsa": f"DSA - All Pages - {country}",
        "lookalike": f"Prospecting - Lookalike {pct}% - {country}",
        "broad": f"Prospecting - Broad - {country}",
        "interests": f"Prospecting - Interests - {product} - {country}",
        "advantage": f"Advantage+ Shopping - {product} - {country}",
        "retention": f"Retention - Existing Customers - {country}",
        "cart": f"Retargeting - Display - Cart Abandoners - {country}",
        "visitors": f"Retargeting - Display - Site Visitors 30d - {country}",
        "viewers": f"Retargeting - Display - Product Viewers - {country}",
    }[theme]


def dedupe(names: list[str]) -> list[str]:
    """Make names unique the way account managers do: ``"... - 02"``, ``"... - 03"``."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0) + 1
        seen[n] = k
        out.append(n if k == 1 else f"{n} - {k:02d}")
    return out


def ad_group_names(theme: str, product: str, groups: int) -> list[str]:
    if theme in SOCIAL_THEMES:
        return [f"{AUDIENCES[g % len(AUDIENCES)]} - {AGES[g % len(AGES)]}" for g in range(groups)]
    stem = _stem(theme, product)
    return [
        f"{stem.title()} - {AD_GROUP_SUFFIXES[g % len(AD_GROUP_SUFFIXES)]}"
        + (f" {g // len(AD_GROUP_SUFFIXES) + 1}" if g >= len(AD_GROUP_SUFFIXES) else "")
        for g in range(groups)
    ]


def _stem(theme: str, product: str, g: int = 0) -> str:
    if theme == "brand":
        return BRAND
    if theme == "competitor":
        return COMPETITORS[g % len(COMPETITORS)]
    if theme == "dsa":
        return f"{BRAND} {product.lower()}"
    return product.lower()


def keyword_texts(theme: str, product: str, group: int, n: int) -> list[str]:
    """``n`` distinct keywords of one ad group."""
    stem = _stem(theme, product, group)
    if theme == "brand":
        stem = f"{BRAND} {product.lower()}" if group % 2 else BRAND
    out = []
    for k in range(n):
        j = (k + group * 3) % len(KEYWORD_MODIFIERS)
        text = KEYWORD_MODIFIERS[j].format(stem)
        rep = (k + group * 3) // len(KEYWORD_MODIFIERS)
        out.append(text if rep == 0 else f"{text} {rep + 1}")
    # two groups may map the same modifier; keep texts distinct within the group
    return dedupe_words(out)


def dedupe_words(texts: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for t in texts:
        k = seen.get(t, 0) + 1
        seen[t] = k
        out.append(t if k == 1 else f"{t} {k}")
    return out


def ad_names(product: str, group: int, n: int) -> list[str]:
    return [f"{AD_FORMATS[(group + a) % len(AD_FORMATS)]} - {product} - v{a + 1}" for a in range(n)]


def match_types(theme: str, n: int, group: int) -> list[str]:
    if theme == "brand":
        return ["exact"] * n
    cycle = ("exact", "phrase", "broad")
    return [cycle[(k + group) % 3] for k in range(n)]
