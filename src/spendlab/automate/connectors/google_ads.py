"""Google Ads API adapter: builds the real request messages of the ``google-ads`` package from
actions, without network. ``execute`` sends them through a ``send`` callable (in production
:func:`client_sender` around a ``GoogleAdsClient``) and maps partial failures back to actions.

| action | level | request | resource name (after customers/C/) | update mask |
|---|---|---|---|---|
| set_bid | keyword | MutateAdGroupCriteriaRequest | adGroupCriteria/AG~K | cpc_bid_micros |
| set_bid | ad_group | MutateAdGroupsRequest | adGroups/AG | cpc_bid_micros |
| pause/enable | keyword | MutateAdGroupCriteriaRequest | as above | status |
| pause/enable | ad_group | MutateAdGroupsRequest | as above | status |
| pause/enable | ad | MutateAdGroupAdsRequest | adGroupAds/AG~A | status |
| pause/enable | campaign | MutateCampaignsRequest | campaigns/CA | status |
| set_budget | campaign | MutateCampaignBudgetsRequest | campaignBudgets/B | amount_micros |

Every request sets ``partial_failure=True`` (one bad operation does not sink the batch) and
``validate_only`` as configured (True by default: the API checks everything and changes nothing).
Amounts: rounded to the currency's minor unit toward the old value (Google rejects bids that are
not a multiple of the billable unit, e.g. 10,000 micros for USD), then times 1,000,000.
A campaign's budget is its own resource: pass ``budget_ids`` (campaign id -> budget id, the
``campaign.campaign_budget`` of a GAQL query); a shared budget changes every campaign on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from google.ads.googleads.v26.enums.types.ad_group_ad_status import AdGroupAdStatusEnum
from google.ads.googleads.v26.enums.types.ad_group_criterion_status import (
    AdGroupCriterionStatusEnum,
)
from google.ads.googleads.v26.enums.types.ad_group_status import AdGroupStatusEnum
from google.ads.googleads.v26.enums.types.campaign_status import CampaignStatusEnum
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
from google.ads.googleads.v26.services.types import (
    ad_group_ad_service,
    ad_group_criterion_service,
    ad_group_service,
    campaign_budget_service,
    campaign_service,
)
from google.protobuf.field_mask_pb2 import FieldMask

from spendlab.automate.connectors.base import (
    Directory,
    ExecutionResult,
    ResultStatus,
    change_of,
    for_account,
)
from spendlab.core.actions import Action, ActionKind
from spendlab.core.hierarchy import Level
from spendlab.errors import DataError

API_VERSION = "v26"
MICROS = Decimal(1_000_000)

_AGC = AdGroupCriterionStatusEnum.AdGroupCriterionStatus
_AG = AdGroupStatusEnum.AdGroupStatus
_AGA = AdGroupAdStatusEnum.AdGroupAdStatus
_CS = CampaignStatusEnum.CampaignStatus

#: service name -> (request type, operation type, mutate method name)
SERVICES: dict[str, tuple[Any, Any, str]] = {
    "AdGroupCriterionService": (
        ad_group_criterion_service.MutateAdGroupCriteriaRequest,
        ad_group_criterion_service.AdGroupCriterionOperation,
        "mutate_ad_group_criteria",
    ),
    "AdGroupService": (
        ad_group_service.MutateAdGroupsRequest,
        ad_group_service.AdGroupOperation,
        "mutate_ad_groups",
    ),
    "AdGroupAdService": (
        ad_group_ad_service.MutateAdGroupAdsRequest,
        ad_group_ad_service.AdGroupAdOperation,
        "mutate_ad_group_ads",
    ),
    "CampaignService": (
        campaign_service.MutateCampaignsRequest,
        campaign_service.CampaignOperation,
        "mutate_campaigns",
    ),
    "CampaignBudgetService": (
        campaign_budget_service.MutateCampaignBudgetsRequest,
        campaign_budget_service.CampaignBudgetOperation,
        "mutate_campaign_budgets",
    ),
}

Send = Callable[[str, Any], Any]  # (service name, request) -> response


def to_micros(amount: Decimal) -> int:
    return int(amount * MICROS)


def customer_id(account_id: str) -> str:
    """Google's customer id without dashes (``123-456-7890`` -> ``1234567890``)."""
    cid = account_id.replace("-", "")
    if not cid.isdigit():
        raise DataError(f"Google Ads customer id {account_id!r} is not numeric (e.g. 1234567890)")
    return cid


@dataclass
class GoogleAdsBatch:
    """The requests built from a list of actions, and which action each operation came from."""

    requests: dict[tuple[str, str], Any] = field(default_factory=dict)  # (customer, service)
    origin: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # -> action indexes
    skipped: dict[int, str] = field(default_factory=dict)  # action index -> reason
    applied: dict[int, Decimal | str] = field(default_factory=dict)


def _operation(
    a: Action, cid: str, decimals: int, budget_ids: Mapping[str, str]
) -> tuple[str, Any, Decimal | str]:
    e, lv, kind = a.entity, Level(a.entity.level), a.kind
    ch = change_of(a, decimals=decimals)
    pause = kind is ActionKind.PAUSE
    if lv is Level.KEYWORD and kind in (ActionKind.SET_BID, ActionKind.PAUSE, ActionKind.ENABLE):
        svc = "AdGroupCriterionService"
        op = SERVICES[svc][1]()
        op.update.resource_name = f"customers/{cid}/adGroupCriteria/{e.ad_group_id}~{e.keyword_id}"
        if kind is ActionKind.SET_BID:
            op.update.cpc_bid_micros, path = to_micros(ch.value), "cpc_bid_micros"  # type: ignore[arg-type]
        else:
            op.update.status, path = (_AGC.PAUSED if pause else _AGC.ENABLED), "status"
    elif lv is Level.AD_GROUP and kind in (ActionKind.SET_BID, ActionKind.PAUSE, ActionKind.ENABLE):
        svc = "AdGroupService"
        op = SERVICES[svc][1]()
        op.update.resource_name = f"customers/{cid}/adGroups/{e.ad_group_id}"
        if kind is ActionKind.SET_BID:
            op.update.cpc_bid_micros, path = to_micros(ch.value), "cpc_bid_micros"  # type: ignore[arg-type]
        else:
            op.update.status, path = (_AG.PAUSED if pause else _AG.ENABLED), "status"
    elif lv is Level.AD and kind in (ActionKind.PAUSE, ActionKind.ENABLE):
        svc = "AdGroupAdService"
        op = SERVICES[svc][1]()
        op.update.resource_name = f"customers/{cid}/adGroupAds/{e.ad_group_id}~{e.ad_id}"
        op.update.status, path = (_AGA.PAUSED if pause else _AGA.ENABLED), "status"
    elif lv is Level.CAMPAIGN and kind in (ActionKind.PAUSE, ActionKind.ENABLE):
        svc = "CampaignService"
        op = SERVICES[svc][1]()
        op.update.resource_name = f"customers/{cid}/campaigns/{e.campaign_id}"
        op.update.status, path = (_CS.PAUSED if pause else _CS.ENABLED), "status"
    elif lv is Level.CAMPAIGN and kind is ActionKind.SET_BUDGET:
        budget = budget_ids.get(e.campaign_id)
        if not budget:
            raise DataError(
                f"campaign {e.campaign_id!r} has no budget id: pass budget_ids "
                "(campaign id -> campaign.campaign_budget id) to change its budget"
            )
        svc = "CampaignBudgetService"
        op = SERVICES[svc][1]()
        op.update.resource_name = f"customers/{cid}/campaignBudgets/{budget}"
        op.update.amount_micros, path = to_micros(ch.value), "amount_micros"  # type: ignore[arg-type]
    else:
        raise DataError(f"the Google Ads adapter does not carry {kind.value} at level {lv.value}")
    op.update_mask = FieldMask(paths=[path])
    return svc, op, ch.value


def build_requests(
    actions: Sequence[Action],
    *,
    validate_only: bool = True,
    currency: str = "USD",
    budget_ids: Mapping[str, str] | None = None,
    directory: Directory | None = None,
) -> GoogleAdsBatch:
    """One request per (customer, service); actions it cannot carry are listed in ``skipped``.
    With ``directory`` (from ``entities``), amounts are converted into each account's currency
    and rounded at its precision; without it they are sent as given at ``currency``'s."""
    batch = GoogleAdsBatch()
    for i, a in enumerate(actions):
        a, decimals = for_account(a, directory, currency)
        if a.entity.platform != "google_ads":
            batch.skipped[i] = f"platform {a.entity.platform!r} is not 'google_ads'"
            continue
        try:
            cid = customer_id(a.entity.account_id)
            svc, op, value = _operation(a, cid, decimals, budget_ids or {})
        except DataError as err:
            batch.skipped[i] = str(err)
            continue
        key = (cid, svc)
        if key not in batch.requests:
            batch.requests[key] = SERVICES[svc][0](
                customer_id=cid, partial_failure=True, validate_only=validate_only
            )
            batch.origin[key] = []
        batch.requests[key].operations.append(op)
        batch.origin[key].append(i)
        batch.applied[i] = value
    return batch


def operation_errors(response: Any) -> dict[int, str]:
    """Operation index -> the API's error message(s), from a response's partial_failure_error."""
    status = getattr(response, "partial_failure_error", None)
    out: dict[int, str] = {}
    if status is None or not getattr(status, "code", 0):
        return out
    for detail in status.details:
        failure = GoogleAdsFailure.deserialize(detail.value)
        for err in failure.errors:
            idx = next(
                (
                    el.index
                    for el in err.location.field_path_elements
                    if el.field_name == "operations"
                ),
                None,
            )
            if idx is not None:
                out[idx] = "; ".join(filter(None, [out.get(idx), err.message]))
    return out


def client_sender(client: Any) -> Send:
    """A ``send`` callable around a ``google.ads.googleads.client.GoogleAdsClient``."""

    def send(service: str, request: Any) -> Any:
        svc = client.get_service(service, version=API_VERSION)
        return getattr(svc, SERVICES[service][2])(request=request)

    return send


class GoogleAdsConnector:
    """Google Ads API :class:`~spendlab.automate.connectors.base.Connector`."""

    name = "google_ads_api"

    def __init__(
        self,
        send: Send,
        *,
        validate_only: bool = True,
        currency: str = "USD",
        budget_ids: Mapping[str, str] | None = None,
        directory: Directory | None = None,
    ) -> None:
        self.send, self.validate_only = send, validate_only
        self.currency, self.budget_ids = currency, dict(budget_ids or {})
        self.directory = directory

    def build(self, actions: Sequence[Action]) -> GoogleAdsBatch:
        return build_requests(
            actions,
            validate_only=self.validate_only,
            currency=self.currency,
            budget_ids=self.budget_ids,
            directory=self.directory,
        )

    def execute(self, actions: Sequence[Action]) -> list[ExecutionResult]:
        batch = self.build(actions)
        results: dict[int, ExecutionResult] = {
            i: ExecutionResult(actions[i], ResultStatus.SKIPPED, why, self.name)
            for i, why in batch.skipped.items()
        }
        ok = ResultStatus.VALIDATED if self.validate_only else ResultStatus.EXECUTED
        for key, request in batch.requests.items():
            idxs = batch.origin[key]
            try:
                response = self.send(key[1], request)
            except Exception as err:  # the whole request failed (auth, quota, network)
                msg = f"{key[1]} request failed: {type(err).__name__}: {err}"
                for i in idxs:
                    results[i] = ExecutionResult(actions[i], ResultStatus.FAILED, msg, self.name)
                continue
            errors = operation_errors(response)
            names = [getattr(r, "resource_name", "") for r in getattr(response, "results", [])]
            for op_idx, i in enumerate(idxs):
                if op_idx in errors:
                    results[i] = ExecutionResult(
                        actions[i], ResultStatus.FAILED, errors[op_idx], self.name
                    )
                else:
                    ref = names[op_idx] if op_idx < len(names) and names[op_idx] else None
                    results[i] = ExecutionResult(
                        actions[i],
                        ok,
                        "validated (validate_only)" if self.validate_only else "applied",
                        self.name,
                        platform_ref=ref or request.operations[op_idx].update.resource_name,
                        applied_value=batch.applied[i],
                    )
        return [results[i] for i in range(len(actions))]
