"""Google Ads adapter: the real google-ads request messages built from actions (no network),
and partial-failure responses mapped back to per-action results."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from google.ads.googleads.v26.errors.types.errors import (
    ErrorLocation,
    GoogleAdsError,
    GoogleAdsFailure,
)
from google.ads.googleads.v26.services.types import ad_group_criterion_service as agc
from google.ads.googleads.v26.services.types import campaign_budget_service as cbs
from google.protobuf import any_pb2
from google.rpc import status_pb2

from spendlab.automate.connectors import Connector, ResultStatus
from spendlab.automate.connectors.google_ads import (
    GoogleAdsConnector,
    build_requests,
    operation_errors,
)
from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.core.hierarchy import Level

D = date(2026, 11, 2)


def kw(kid: str, kind=ActionKind.SET_BID, old=Decimal("1.00"), new=Decimal("1.2345")) -> Action:
    ref = EntityRef("google_ads", Level.KEYWORD, "123-456-7890", "11", "22", kid)
    return Action(ref, kind, old, new, "r", D)


def budget(cid: str, old: str, new: str) -> Action:
    ref = EntityRef("google_ads", Level.CAMPAIGN, "1234567890", cid)
    return Action(ref, ActionKind.SET_BUDGET, Decimal(old), Decimal(new), "r", D)


def test_builds_keyword_and_budget_requests() -> None:
    actions = [
        kw("33"),
        kw("34", ActionKind.PAUSE, "enabled", "paused"),
        budget("11", "100.00", "90.004"),
        budget("12", "100.00", "120"),  # no budget id: skipped
        Action(
            EntityRef("meta", Level.CAMPAIGN, "1", "2"),
            ActionKind.PAUSE,
            "enabled",
            "paused",
            "r",
            D,
        ),
    ]
    batch = build_requests(actions, budget_ids={"11": "555"})
    assert set(batch.requests) == {
        ("1234567890", "AdGroupCriterionService"),
        ("1234567890", "CampaignBudgetService"),
    }
    req = batch.requests[("1234567890", "AdGroupCriterionService")]
    assert isinstance(req, agc.MutateAdGroupCriteriaRequest)
    assert req.customer_id == "1234567890" and req.validate_only and req.partial_failure
    op0, op1 = req.operations
    assert op0.update.resource_name == "customers/1234567890/adGroupCriteria/22~33"
    assert op0.update.cpc_bid_micros == 1_230_000  # 1.2345 raised from 1.00: floor to 1.23
    assert list(op0.update_mask.paths) == ["cpc_bid_micros"]
    assert op1.update.status.name == "PAUSED" and list(op1.update_mask.paths) == ["status"]
    breq = batch.requests[("1234567890", "CampaignBudgetService")]
    assert isinstance(breq, cbs.MutateCampaignBudgetsRequest)
    (bop,) = breq.operations
    assert bop.update.resource_name == "customers/1234567890/campaignBudgets/555"
    assert bop.update.amount_micros == 90_010_000  # a cut rounds up (toward old), to cents
    assert list(bop.update_mask.paths) == ["amount_micros"]
    assert set(batch.skipped) == {3, 4} and "budget id" in batch.skipped[3]
    # the protobuf serialises (what goes on the wire)
    assert (
        agc.MutateAdGroupCriteriaRequest.deserialize(
            agc.MutateAdGroupCriteriaRequest.serialize(req)
        )
        == req
    )


def _partial_failure(index: int, message: str) -> status_pb2.Status:
    failure = GoogleAdsFailure(
        errors=[
            GoogleAdsError(
                message=message,
                location=ErrorLocation(
                    field_path_elements=[
                        ErrorLocation.FieldPathElement(field_name="operations", index=index)
                    ]
                ),
            )
        ]
    )
    detail = any_pb2.Any(
        type_url="type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
        value=GoogleAdsFailure.serialize(failure),
    )
    return status_pb2.Status(code=3, message="partial failure", details=[detail])


def test_partial_failure_maps_to_actions() -> None:
    sent = []

    def send(service: str, request):
        sent.append((service, request))
        return agc.MutateAdGroupCriteriaResponse(
            results=[
                agc.MutateAdGroupCriterionResult(
                    resource_name=request.operations[0].update.resource_name
                ),
                agc.MutateAdGroupCriterionResult(),
                agc.MutateAdGroupCriterionResult(
                    resource_name=request.operations[2].update.resource_name
                ),
            ],
            partial_failure_error=_partial_failure(1, "Bid is below the minimum for the currency."),
        )

    conn = GoogleAdsConnector(send, validate_only=False)
    assert isinstance(conn, Connector)
    actions = [kw("1"), kw("2", new=Decimal("0.001")), kw("3")]
    res = conn.execute(actions)
    assert [r.status for r in res] == [
        ResultStatus.EXECUTED,
        ResultStatus.FAILED,
        ResultStatus.EXECUTED,
    ]
    assert res[1].message == "Bid is below the minimum for the currency."
    assert res[0].platform_ref == "customers/1234567890/adGroupCriteria/22~1"
    assert res[0].applied_value == Decimal("1.23")
    assert len(sent) == 1 and sent[0][1].validate_only is False


def test_request_level_failure_and_validate_only() -> None:
    def broken(service, request):
        raise PermissionError("developer token not approved")

    res = GoogleAdsConnector(broken).execute([kw("1")])
    assert res[0].status is ResultStatus.FAILED and "developer token" in res[0].message

    def fine(service, request):
        return agc.MutateAdGroupCriteriaResponse()

    res = GoogleAdsConnector(fine).execute([kw("1")])
    assert res[0].status is ResultStatus.VALIDATED
    assert operation_errors(agc.MutateAdGroupCriteriaResponse()) == {}
