"""Webhook connector against a real local HTTP server: signatures, retries with backoff on 5xx
and timeouts, no retry on 4xx, idempotency keys so a retried delivery is applied once."""

from __future__ import annotations

import logging
import random
from datetime import date
from decimal import Decimal

import pytest

from spendlab.automate.connectors import Connector, ResultStatus
from spendlab.automate.connectors.webhook import (
    WebhookConnector,
    WebhookSettings,
    backoff_delay,
    sign,
    verify_signature,
)
from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.errors import ConfigError

from .conftest import SECRET


def _actions(n: int) -> list[Action]:
    return [
        Action(
            EntityRef("google_ads", Level.KEYWORD, "1", "2", "3", str(10 + i)),
            ActionKind.SET_BID,
            Decimal("1.00"),
            Decimal("1.10") + i,
            'cpa "high", =1+1',
            date(2026, 11, 2),
            rule_id="r1",
        )
        for i in range(n)
    ]


def _connector(monkeypatch, url: str, sleeps: list[float], **kw) -> WebhookConnector:
    monkeypatch.setenv("SPENDLAB_WEBHOOK_URL", url)
    monkeypatch.setenv("SPENDLAB_WEBHOOK_SECRET", SECRET)
    for k, v in kw.items():
        monkeypatch.setenv(f"SPENDLAB_WEBHOOK_{k.upper()}", str(v))
    return WebhookConnector(WebhookSettings(), sleep=sleeps.append, rng=random.Random(1))


def test_retries_5xx_then_delivers_each_action_once(monkeypatch, receiver) -> None:
    receiver.script = {1: "503", 2: "503", 4: "lost"}
    sleeps: list[float] = []
    conn = _connector(monkeypatch, receiver.url, sleeps, backoff_base=0.01, max_attempts=5)
    assert isinstance(conn, Connector)
    actions = _actions(2)
    res = conn.execute(actions)
    assert [r.status for r in res] == [ResultStatus.EXECUTED] * 2
    assert [r.attempts for r in res] == [3, 2]  # 503, 503, ok | lost (applied), duplicate ok
    assert receiver.apply_count == 2  # the retried delivery was not applied twice
    assert set(receiver.applied) == {a.idempotency_key() for a in actions}
    body = receiver.applied[actions[0].idempotency_key()]
    assert body["action"]["new_value"] == 1.1 and body["action"]["reason"] == 'cpa "high", =1+1'
    assert len(sleeps) == 3 and 0 <= sleeps[0] <= 0.01 and 0 <= sleeps[1] <= 0.02
    assert res[0].platform_ref == f"chg-{actions[0].idempotency_key()[:8]}"
    # every key sent on every attempt was the action's idempotency key
    keys = [k for _, k, _ in receiver.log]
    assert keys == [actions[0].idempotency_key()] * 3 + [actions[1].idempotency_key()] * 2


def test_4xx_is_not_retried(monkeypatch, receiver, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.script = {1: "400"}
    sleeps: list[float] = []
    conn = _connector(monkeypatch, receiver.url, sleeps)
    (r,) = conn.execute(_actions(1))
    assert r.status is ResultStatus.FAILED and r.attempts == 1 and sleeps == []
    assert "400" in r.message and "bid below the platform minimum" in r.message
    assert receiver.apply_count == 0
    assert "POST" in caplog.text and receiver.url not in caplog.text  # httpx's log is redacted


def test_timeout_is_retried(monkeypatch, receiver) -> None:
    receiver.script = {1: "hang"}
    sleeps: list[float] = []
    conn = _connector(monkeypatch, receiver.url, sleeps, timeout=0.3, backoff_base=0)
    (r,) = conn.execute(_actions(1))
    assert r.status is ResultStatus.EXECUTED and r.attempts == 2
    assert receiver.apply_count == 1


def test_gives_up_after_max_attempts(monkeypatch, receiver) -> None:
    receiver.script = dict.fromkeys(range(1, 10), "503")
    sleeps: list[float] = []
    conn = _connector(monkeypatch, receiver.url, sleeps, max_attempts=3, backoff_base=0)
    (r,) = conn.execute(_actions(1))
    assert r.status is ResultStatus.FAILED and r.attempts == 3 and "503" in r.message
    assert receiver.calls == 3


def test_wrong_secret_is_rejected_by_the_receiver(monkeypatch, receiver) -> None:
    sleeps: list[float] = []
    conn = _connector(monkeypatch, receiver.url, sleeps)
    monkeypatch.setenv("SPENDLAB_WEBHOOK_SECRET", "not-the-secret")
    conn = WebhookConnector(WebhookSettings(), sleep=sleeps.append)
    (r,) = conn.execute(_actions(1))
    assert r.status is ResultStatus.FAILED and "401" in r.message
    assert receiver.rejected_signatures == 1 and receiver.apply_count == 0
    assert "not-the-secret" not in repr(conn) and receiver.url not in repr(conn)
    assert "not-the-secret" not in str(r.to_dict()) and "127.0.0.1" not in str(r.to_dict())


def test_signature_and_replay_window() -> None:
    body = b'{"a":1}'
    sig = sign("k", 1_000, body)
    assert verify_signature("k", body, "1000", sig, now=1_100)
    assert not verify_signature("k", body, "1000", sig, now=1_000 + 301)  # replayed too late
    assert not verify_signature("k", body + b" ", "1000", sig, now=1_000)  # body changed
    assert not verify_signature("k", body, "1001", sig, now=1_000)  # timestamp swapped
    assert not verify_signature("k", body, None, sig)


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(0)
    caps = [min(4.0, 0.5 * 2 ** (n - 1)) for n in range(1, 8)]
    for n, cap in enumerate(caps, start=1):
        delays = [backoff_delay(n, base=0.5, cap=4.0, rng=rng) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= cap and max(delays) > 0.8 * cap


def test_needs_url_and_secret(monkeypatch) -> None:
    monkeypatch.delenv("SPENDLAB_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("SPENDLAB_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="SPENDLAB_WEBHOOK_SECRET"):
        WebhookConnector()
