"""Connectors carry actions to ad platforms: bulk files the user uploads, a signed webhook, and
request builders for the Google Ads and Meta Marketing APIs. Each implements
:class:`~spendlab.automate.connectors.base.Connector` and returns one
:class:`~spendlab.automate.connectors.base.ExecutionResult` per action."""

from spendlab.automate.connectors.base import (
    Change,
    Connector,
    EntityInfo,
    ExecutionResult,
    ResultStatus,
    change_of,
    directory_from_entities,
    round_amount,
)
from spendlab.automate.connectors.bulk import (
    BulkExport,
    BulkFileConnector,
    export_bulk,
    parse_bulk,
    read_export,
)
from spendlab.automate.connectors.bulk_formats import FORMATS

__all__ = [
    "FORMATS",
    "BulkExport",
    "BulkFileConnector",
    "Change",
    "Connector",
    "EntityInfo",
    "ExecutionResult",
    "ResultStatus",
    "change_of",
    "directory_from_entities",
    "export_bulk",
    "parse_bulk",
    "read_export",
    "round_amount",
]
