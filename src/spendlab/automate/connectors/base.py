"""What every connector shares: the :class:`ExecutionResult` of one action, the
:class:`Connector` protocol, the :class:`Change` a platform receives, and the rounding of amounts
to a platform's precision.

Rounding (stated once, used by every connector): an amount is written at the platform's precision
(``decimals``, 2 for USD/EUR, 0 for JPY/KRW) rounding *toward the old value*: an increase rounds
down, a decrease rounds up, an amount without an old value rounds half-even. A rounded value
therefore never leaves the interval between the old and the proposed value, so it cannot break a
floor, a ceiling or a maximum step the rules engine enforced on the unrounded value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.core.money import MONEY_QUANTUM
from spendlab.errors import DataError

#: Currencies whose platforms bill in whole units (ISO 4217 minor unit 0).
ZERO_DECIMAL_CURRENCIES: frozenset[str] = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split()
)

#: Kinds a platform can receive (labels and alerts are not sent to ad platforms by connectors).
AMOUNT_KINDS = (ActionKind.SET_BID, ActionKind.SET_BUDGET)
STATUS_KINDS = (ActionKind.PAUSE, ActionKind.ENABLE)


def currency_decimals(currency: str | None) -> int:
    """Decimals a platform accepts for an amount in ``currency`` (2 unless zero-decimal)."""
    return 0 if currency and currency.upper() in ZERO_DECIMAL_CURRENCIES else 2


def round_amount(new: Decimal, old: Decimal | None = None, *, decimals: int = 2) -> Decimal:
    """``new`` at ``decimals`` places, rounded toward ``old`` (see the module docstring)."""
    quantum = Decimal(1).scaleb(-decimals)
    if old is None or new == old:
        mode = ROUND_HALF_EVEN
    else:
        mode = ROUND_FLOOR if new > old else ROUND_CEILING
    return new.quantize(quantum, rounding=mode)


class ResultStatus(StrEnum):
    """Outcome of one action at a connector."""

    EXECUTED = "executed"  # the platform applied it
    VALIDATED = "validated"  # validate_only / dry run: the platform accepted it, nothing changed
    EXPORTED = "exported"  # written to a bulk file; the user uploads it
    FAILED = "failed"  # the platform (or the transport) rejected it; ``message`` says why
    SKIPPED = "skipped"  # this connector cannot carry this kind/level; ``message`` says why


@dataclass(frozen=True)
class ExecutionResult:
    """What happened to one action at a connector, for the action log.

    ``message`` is the platform's own message where there is one (error text, HTTP status and
    body excerpt); ``platform_ref`` the platform's id for the change (resource name, row number,
    delivery id); ``applied_value`` the amount as sent to the platform: converted into the
    account's currency and rounded to its precision (None when the connector sent the action's
    own values, as the webhook does).
    """

    action: Action
    status: ResultStatus
    message: str = ""
    connector: str = ""
    platform_ref: str | None = None
    applied_value: Decimal | str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.status in (
            ResultStatus.EXECUTED,
            ResultStatus.VALIDATED,
            ResultStatus.EXPORTED,
        )

    @property
    def idempotency_key(self) -> str:
        return self.action.idempotency_key()

    def to_dict(self) -> dict[str, Any]:
        v = self.applied_value
        return {
            "idempotency_key": self.idempotency_key,
            "rule_id": self.action.rule_id,
            "level": Level(self.action.entity.level).value,
            "entity_id": self.action.entity.entity_id,
            "action": self.action.kind.value,
            "status": self.status.value,
            "message": self.message,
            "connector": self.connector,
            "platform_ref": self.platform_ref,
            "applied_value": str(v) if isinstance(v, Decimal) else v,
            "attempts": self.attempts,
        }


@runtime_checkable
class Connector(Protocol):
    """Something that carries actions to an ad platform: a bulk file, a webhook, an API."""

    name: str

    def execute(self, actions: Sequence[Action]) -> list[ExecutionResult]:
        """One result per action, in the order given."""
        ...


@dataclass(frozen=True)
class EntityInfo:
    """What a platform needs beyond ids, from the ``entities`` table: the entity's name (keyword
    text for keywords), the keyword match type, and the account's currency with the ``fx_rate``
    that converted its amounts into the workspace currency (workspace = account x fx_rate)."""

    name: str = ""
    match_type: str = ""
    currency: str = ""
    fx_rate: float = 1.0


def to_account_currency(action: Action, info: EntityInfo | None) -> Action:
    """``action`` with its amounts converted from the workspace currency back into the account's
    (amount / fx_rate, at micro precision, half-even). Actions carry workspace-currency amounts,
    platforms take account-currency amounts. Unchanged when fx_rate is 1 or unknown."""
    if action.kind not in AMOUNT_KINDS or info is None or not info.fx_rate:
        return action
    if info.fx_rate == 1:
        return action
    fx = Decimal(repr(float(info.fx_rate)))

    def conv(v: Any) -> Any:
        return (v / fx).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN) if isinstance(v, Decimal) else v

    return replace(action, old_value=conv(action.old_value), new_value=conv(action.new_value))


#: Entity key (``EntityRef.key()``) -> info. Build it with :func:`directory_from_entities`.
Directory = Mapping[tuple[str, ...], EntityInfo]


def for_account(action: Action, directory: Directory | None, currency: str) -> tuple[Action, int]:
    """``action`` in its account's currency and that currency's decimals (``currency`` when the
    directory does not know the entity)."""
    info = directory.get(action.entity.key()) if directory else None
    decimals = currency_decimals((info.currency if info else "") or currency)
    return to_account_currency(action, info), decimals


def parent_ref(ref: EntityRef, level: Level) -> EntityRef:
    """The ancestor of ``ref`` at ``level`` (same platform, ids below ``level`` cleared)."""
    keep = {"account": 1, "campaign": 2, "ad_group": 3}[Level(level).value]
    ids = ["account_id", "campaign_id", "ad_group_id", "keyword_id", "ad_id"]
    vals = {k: getattr(ref, k) if i < keep else "" for i, k in enumerate(ids)}
    return EntityRef(platform=ref.platform, level=Level(level), **vals)


def directory_from_entities(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, ...], EntityInfo]:
    """Build a :data:`Directory` from ``entities`` rows (dicts with the table's columns)."""
    out: dict[tuple[str, ...], EntityInfo] = {}
    for r in rows:
        ref = EntityRef(
            platform=str(r["platform"]),
            level=Level(r["level"]),
            **{
                k: "" if r.get(k) is None else str(r.get(k))
                for k in ("account_id", "campaign_id", "ad_group_id", "keyword_id", "ad_id")
            },
        )
        fx = r.get("fx_rate")
        out[ref.key()] = EntityInfo(
            name=str(r.get("name") or ""),
            match_type=str(r.get("match_type") or ""),
            currency=str(r.get("currency") or ""),
            fx_rate=float(fx) if fx else 1.0,
        )
    return out


@dataclass(frozen=True)
class Change:
    """One absolute change as a platform file carries it: entity, kind and value at platform
    precision ('enabled'/'paused' for status). ``names`` holds the names written in the file
    (level -> name), so a parsed file can be compared with what was written."""

    entity: EntityRef
    kind: ActionKind
    value: Decimal | str
    names: dict[str, str] = field(default_factory=dict, compare=False)


def change_of(action: Action, *, decimals: int = 2, undo: bool = False) -> Change:
    """The change a file carries for ``action`` (``undo=True``: the change restoring the old
    value). Raises :class:`DataError` for kinds or values a platform file cannot carry."""
    kind = action.kind
    if kind in AMOUNT_KINDS:
        new, old = action.new_value, action.old_value
        if undo:
            new, old = old, None
        if not isinstance(new, Decimal) or not new.is_finite() or new < 0:
            which = "old" if undo else "new"
            raise DataError(
                f"{kind.value} on {action.entity.entity_id!r}: {which} value {new!r} is not a "
                "non-negative amount; the action needs absolute Decimal old and new values"
            )
        if isinstance(old, Decimal) and not old.is_finite():
            old = None
        return Change(action.entity, kind, round_amount(new, old, decimals=decimals))
    if kind in STATUS_KINDS:
        if not undo:
            return Change(action.entity, kind, "paused" if kind is ActionKind.PAUSE else "enabled")
        old = action.old_value
        if old not in ("enabled", "paused"):
            raise DataError(
                f"{kind.value} on {action.entity.entity_id!r}: old status {old!r} is not "
                "'enabled' or 'paused', so there is nothing to restore; fix the action's old_value"
            )
        back = ActionKind.PAUSE if old == "paused" else ActionKind.ENABLE
        return Change(action.entity, back, str(old))
    raise DataError(
        f"{kind.value} actions are not sent to ad platforms by connectors; "
        "alerts go through spendlab.automate.notify"
    )


class _Redact(logging.Filter):
    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if any(s in msg for s in self.secrets):
            for s in self.secrets:
                msg = msg.replace(s, "***")
            record.msg, record.args = msg, ()
        return True


@contextmanager
def redacted_logs(*secrets: str, loggers: Sequence[str] = ("httpx", "httpcore")) -> Iterator[None]:
    """Within the block, replace ``secrets`` by ``***`` in what the HTTP client logs (httpx logs
    every request URL at INFO, and webhook URLs carry tokens)."""
    f = _Redact(secrets)
    targets = [logging.getLogger(n) for n in loggers]
    for lg in targets:
        lg.addFilter(f)
    try:
        yield
    finally:
        for lg in targets:
            lg.removeFilter(f)
