"""Geographies: ISO 3166-1 alpha-2 countries with population weights (millions, rounded).

With ``geos == 1`` the outcome is one national series and campaigns still target countries from the
head of this list (their names say so). With ``geos > 1`` the first ``geos`` countries are the
outcome geos; every campaign targets exactly one of them and its ``ad_performance`` rows carry that
``country`` (the geo breakdown of spend).
"""

from __future__ import annotations

import numpy as np

GEO_POPULATIONS: dict[str, float] = {
    "US": 335, "DE": 84, "GB": 68, "FR": 68, "IT": 59, "ES": 48, "CA": 40, "PL": 37, "AU": 27,
    "NL": 18, "BE": 12, "SE": 10.5, "CZ": 10.5, "PT": 10.4, "AT": 9.1, "CH": 8.8, "IL": 9.8,
    "DK": 5.9, "FI": 5.6, "NO": 5.5, "IE": 5.3, "NZ": 5.2, "SG": 5.9, "HU": 9.6, "RO": 19,
    "GR": 10.4, "SK": 5.4, "HR": 3.9, "SI": 2.1, "LT": 2.9, "LV": 1.9, "EE": 1.4, "LU": 0.7,
    "MX": 128, "BR": 216, "AR": 46, "CL": 19.6, "CO": 52, "JP": 124, "KR": 52, "IN": 1430,
    "ZA": 60, "AE": 9.5, "SA": 36, "TR": 85, "MY": 34, "TH": 70, "PH": 117, "ID": 277, "VN": 99,
}  # fmt: skip

#: Countries the national market's campaigns target (geos == 1): mostly US, some Europe.
NATIONAL_COUNTRIES: tuple[str, ...] = ("US", "GB", "DE", "FR", "CA")
NATIONAL_WEIGHTS: tuple[float, ...] = (0.55, 0.15, 0.12, 0.1, 0.08)


def geo_names(geos: int) -> list[str]:
    """Outcome geos: ``['national']`` or the ``geos`` first countries of the list."""
    if geos == 1:
        return ["national"]
    return list(GEO_POPULATIONS)[:geos]


def geo_weights(geos: int) -> np.ndarray:
    """Population weights of the outcome geos, summing to 1."""
    if geos == 1:
        return np.ones(1)
    w = np.array([GEO_POPULATIONS[g] for g in geo_names(geos)], dtype=float)
    return w / w.sum()


def target_countries(geos: int) -> tuple[list[str], np.ndarray]:
    """Countries campaigns may target, and how likely each is."""
    if geos == 1:
        w = np.array(NATIONAL_WEIGHTS)
        return list(NATIONAL_COUNTRIES), w / w.sum()
    return geo_names(geos), geo_weights(geos)


def assign_countries(
    rng: np.random.Generator, spec_index: np.ndarray, geos: int
) -> tuple[np.ndarray, list[str]]:
    """Give every campaign one target country (index into the returned list).

    With several geos, each channel's first campaigns cover distinct geos (so every geo sees
    every channel when there are enough campaigns); the rest are drawn by population weight.
    """
    names, w = target_countries(geos)
    out = rng.choice(len(names), size=spec_index.size, p=w)
    if geos > 1:
        order = np.argsort(-w, kind="stable")
        for s in np.unique(spec_index):
            idx = np.flatnonzero(spec_index == s)
            k = min(idx.size, len(names))
            out[idx[:k]] = order[:k]
    return out, names
