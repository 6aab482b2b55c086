"""Meta Marketing API adapter: the real batch requests of the ``facebook-business`` SDK, built
from actions without network; ``execute`` runs the SDK's batch call.

| action | level | object | params |
|---|---|---|---|
| set_budget | campaign | Campaign (CBO) | ``daily_budget`` in minor units |
| set_budget | ad_group | AdSet | ``daily_budget`` in minor units |
| set_bid | ad_group | AdSet | ``bid_amount`` in minor units |
| pause/enable | campaign, ad_group, ad | Campaign, AdSet, Ad | ``status`` = PAUSED / ACTIVE |

Minor units: the Marketing API takes amounts as integers in the currency's smallest unit (cents
for USD: 12.34 -> 1234; whole units for zero-decimal currencies such as JPY). The amount is first
rounded toward the old value at that precision (see ``base``). ``validate_only=True`` (default)
adds ``execution_options=["validate_only"]``: Meta validates and changes nothing. Requests go in
batches of at most 50 (the Graph API's batch limit). The access token comes from
``SPENDLAB_META_ACCESS_TOKEN`` and is never written to results.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from facebook_business.adobjects.ad import Ad
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.campaign import Campaign
from facebook_business.api import FacebookAdsApi, FacebookAdsApiBatch, FacebookSession

from spendlab.automate.connectors.base import (
    Directory,
    ExecutionResult,
    ResultStatus,
    change_of,
    for_account,
)
from spendlab.core.actions import Action, ActionKind
from spendlab.core.hierarchy import Level
from spendlab.errors import ConfigError, DataError

BATCH_LIMIT = 50


def minor_units(amount: Decimal, decimals: int) -> int:
    return int(amount.scaleb(decimals))


@dataclass
class MetaBatch:
    """SDK batches (<= 50 calls each) and the action index behind each call."""

    batches: list[FacebookAdsApiBatch] = field(default_factory=list)
    origin: list[list[int]] = field(default_factory=list)
    params: dict[int, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    applied: dict[int, Decimal | str] = field(default_factory=dict)


def _target(a: Action, api: FacebookAdsApi) -> Any:
    lv, e = Level(a.entity.level), a.entity
    if lv is Level.CAMPAIGN:
        return Campaign(e.campaign_id, api=api)
    if lv is Level.AD_GROUP:
        return AdSet(e.ad_group_id, api=api)
    if lv is Level.AD:
        return Ad(e.ad_id, api=api)
    raise DataError(f"Meta has no {lv.value} objects; act on campaigns, ad sets or ads")


def _params(a: Action, decimals: int) -> tuple[dict[str, Any], Decimal | str]:
    lv, kind = Level(a.entity.level), a.kind
    ch = change_of(a, decimals=decimals)
    if kind in (ActionKind.PAUSE, ActionKind.ENABLE):
        return {"status": "PAUSED" if kind is ActionKind.PAUSE else "ACTIVE"}, ch.value
    if kind is ActionKind.SET_BUDGET and lv in (Level.CAMPAIGN, Level.AD_GROUP):
        return {"daily_budget": minor_units(ch.value, decimals)}, ch.value  # type: ignore[arg-type]
    if kind is ActionKind.SET_BID and lv is Level.AD_GROUP:
        return {"bid_amount": minor_units(ch.value, decimals)}, ch.value  # type: ignore[arg-type]
    raise DataError(f"the Meta adapter does not carry {kind.value} at level {lv.value}")


def build_batch(
    actions: Sequence[Action],
    api: FacebookAdsApi,
    *,
    validate_only: bool = True,
    currency: str = "USD",
    on_result: Any = None,
    directory: Directory | None = None,
) -> MetaBatch:
    """Queue one SDK update call per action (no network). ``on_result(index, response, ok)``
    receives each call's response when the batch executes."""
    out = MetaBatch()
    for i, a in enumerate(actions):
        a, decimals = for_account(a, directory, currency)
        if a.entity.platform != "meta":
            out.skipped[i] = f"platform {a.entity.platform!r} is not 'meta'"
            continue
        try:
            target = _target(a, api)
            params, value = _params(a, decimals)
        except DataError as err:
            out.skipped[i] = str(err)
            continue
        if validate_only:
            params["execution_options"] = ["validate_only"]
        if not out.batches or len(out.origin[-1]) >= BATCH_LIMIT:
            out.batches.append(api.new_batch())
            out.origin.append([])
        cb_ok = cb_fail = None
        if on_result is not None:

            def cb_ok(resp: Any, i: int = i) -> None:
                on_result(i, resp, True)

            def cb_fail(resp: Any, i: int = i) -> None:
                on_result(i, resp, False)

        target.api_update(params=params, batch=out.batches[-1], success=cb_ok, failure=cb_fail)
        out.origin[-1].append(i)
        out.params[i], out.applied[i] = params, value
    return out


def default_api(graph_url: str | None = None) -> FacebookAdsApi:
    """An SDK api object from ``SPENDLAB_META_ACCESS_TOKEN`` (no network until a call)."""
    token = os.environ.get("SPENDLAB_META_ACCESS_TOKEN")
    if not token:
        raise ConfigError("the Meta connector needs SPENDLAB_META_ACCESS_TOKEN in the environment")
    session = FacebookSession(access_token=token)
    if graph_url:
        session.GRAPH = graph_url
    return FacebookAdsApi(session)


class MetaConnector:
    """Meta Marketing API :class:`~spendlab.automate.connectors.base.Connector`."""

    name = "meta_api"

    def __init__(
        self,
        api: FacebookAdsApi | None = None,
        *,
        validate_only: bool = True,
        currency: str = "USD",
        directory: Directory | None = None,
    ) -> None:
        self.api = api or default_api()
        self.validate_only, self.currency = validate_only, currency
        self.directory = directory

    def __repr__(self) -> str:
        return f"MetaConnector(validate_only={self.validate_only})"

    def build(self, actions: Sequence[Action]) -> MetaBatch:
        return build_batch(
            actions,
            self.api,
            validate_only=self.validate_only,
            currency=self.currency,
            directory=self.directory,
        )

    def execute(self, actions: Sequence[Action]) -> list[ExecutionResult]:
        answers: dict[int, tuple[Any, bool]] = {}
        batch = build_batch(
            actions,
            self.api,
            validate_only=self.validate_only,
            currency=self.currency,
            on_result=lambda i, resp, ok: answers.__setitem__(i, (resp, ok)),
            directory=self.directory,
        )
        results: dict[int, ExecutionResult] = {
            i: ExecutionResult(actions[i], ResultStatus.SKIPPED, why, self.name)
            for i, why in batch.skipped.items()
        }
        good = ResultStatus.VALIDATED if self.validate_only else ResultStatus.EXECUTED
        for sdk_batch, idxs in zip(batch.batches, batch.origin, strict=True):
            try:
                sdk_batch.execute()
            except Exception as err:  # the whole batch call failed (token, network)
                msg = f"batch call failed: {type(err).__name__}: {_short(err)}"
                for i in idxs:
                    answers.setdefault(i, (msg, False))
            for i in idxs:
                resp, ok = answers.get(i, ("no response in the batch; retry later", False))
                if ok:
                    results[i] = ExecutionResult(
                        actions[i],
                        good,
                        _body(resp),
                        self.name,
                        platform_ref=actions[i].entity.entity_id,
                        applied_value=batch.applied[i],
                    )
                else:
                    results[i] = ExecutionResult(
                        actions[i], ResultStatus.FAILED, _error(resp), self.name
                    )
        return [results[i] for i in range(len(actions))]


def _short(err: Exception) -> str:
    return str(err).splitlines()[0][:300] if str(err) else ""


def _body(resp: Any) -> str:
    try:
        return str(resp.body())[:300]
    except AttributeError:
        return str(resp)[:300]


def _error(resp: Any) -> str:
    if isinstance(resp, str):
        return resp
    try:
        err = resp.error()
        return str(err.api_error_message() or err.body())[:300]
    except (AttributeError, TypeError):
        return _body(resp)
