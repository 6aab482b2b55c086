"""Readers for platform exports and other sources, one module per source.

Each module defines one :class:`~spendlab.data.sources.base.Source` subclass. The registry below
names them; modules import lazily so that ``spendlab --help`` stays fast.
"""

from __future__ import annotations

import difflib
import importlib

from spendlab.data.sources.base import ReadContext, Source
from spendlab.errors import ConfigError

_REGISTRY: dict[str, str] = {
    "google_ads_ui": "spendlab.data.sources.google_ads_ui:GoogleAdsUI",
    "google_ads_api": "spendlab.data.sources.google_ads_api:GoogleAdsAPI",
    "meta": "spendlab.data.sources.meta:MetaAds",
    "microsoft": "spendlab.data.sources.microsoft:MicrosoftAds",
    "ga4": "spendlab.data.sources.ga4:GA4Export",
    "crm_orders": "spendlab.data.sources.crm:CRMOrders",
    "generic": "spendlab.data.sources.generic:Generic",
}


def source_names() -> list[str]:
    return list(_REGISTRY)


def describe_sources() -> list[dict[str, object]]:
    """Name, description, accepted suffixes and filled tables of every reader."""
    out: list[dict[str, object]] = []
    for name in source_names():
        s = get_source(name)
        out.append(
            {
                "name": name,
                "description": s.description,
                "suffixes": list(s.suffixes),
                "tables": list(s.tables),
            }
        )
    return out


def get_source(name: str) -> Source:
    """An instance of the named source; the error suggests the closest valid name."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown source {name!r}; {hint}valid sources: {', '.join(_REGISTRY)}"
        ) from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()


__all__ = ["ReadContext", "Source", "get_source", "source_names"]
