"""Webhook connector: each action is POSTed as signed JSON to a URL the user runs.

Request (one per action, so each action gets its own result)::

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <Action.idempotency_key()>       same on every retry of this action
    X-SpendLab-Timestamp: <unix seconds>              fresh on every attempt
    X-SpendLab-Signature: sha256=<hex>                HMAC-SHA256(secret, "<timestamp>.<body>")
    {"idempotency_key": ..., "action": Action.to_dict(), "connector": "webhook"}

The signature covers the timestamp and the body, so neither can be swapped; a receiver rejects a
timestamp older than its tolerance (5 minutes by default), which stops replays, and applies each
idempotency key once, so a retried delivery (first response lost, second attempt accepted) is not
applied twice. :func:`verify_signature` is the receiver's check.

Retries: timeouts, connection errors, HTTP 5xx and 429 are retried up to ``max_attempts`` with
exponential backoff and full jitter (sleep uniform in [0, min(cap, base * 2**(attempt-1))]); any
other 4xx fails at once (the request itself is wrong: retrying cannot help).

Secrets (``SPENDLAB_WEBHOOK_SECRET``, and the URL, which may carry a token) come from the
environment and are never written to results, logs or reprs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from spendlab.automate.connectors.base import ExecutionResult, ResultStatus, redacted_logs
from spendlab.core.actions import Action
from spendlab.errors import ConfigError

SIGNATURE_HEADER = "X-SpendLab-Signature"
TIMESTAMP_HEADER = "X-SpendLab-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class WebhookSettings(BaseSettings):
    """From ``SPENDLAB_WEBHOOK_*`` environment variables (URL and secret are secrets)."""

    model_config = SettingsConfigDict(env_prefix="SPENDLAB_WEBHOOK_", extra="ignore")

    url: SecretStr | None = Field(None, description="Endpoint receiving the actions")
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 key shared with the receiver")
    timeout: float = Field(10.0, gt=0, description="Seconds per attempt")
    max_attempts: int = Field(5, ge=1, description="Attempts per action, first one included")
    backoff_base: float = Field(0.5, ge=0, description="Seconds; doubles per retry")
    backoff_cap: float = Field(30.0, ge=0, description="Longest sleep between attempts")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """The receiver's check: a valid signature over a timestamp no older than ``tolerance``."""
    if not timestamp or not signature:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt - 1))]."""
    return rng.uniform(0.0, min(cap, base * 2 ** (attempt - 1)))


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


class WebhookConnector:
    """POST each action as signed JSON; see the module docstring for the protocol."""

    name = "webhook"

    def __init__(
        self,
        settings: WebhookSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or WebhookSettings()
        if self.settings.url is None or self.settings.secret is None:
            raise ConfigError(
                "the webhook connector needs SPENDLAB_WEBHOOK_URL and SPENDLAB_WEBHOOK_SECRET "
                "in the environment"
            )
        self._sleep, self._rng, self._clock = sleep, rng or random.Random(), clock

    def __repr__(self) -> str:  # never show the URL or the secret
        return f"WebhookConnector(max_attempts={self.settings.max_attempts})"

    def payload(self, action: Action) -> bytes:
        body: dict[str, Any] = {
            "idempotency_key": action.idempotency_key(),
            "connector": self.name,
            "action": action.to_dict(),
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def deliver(self, action: Action, client: httpx.Client) -> ExecutionResult:
        s = self.settings
        assert s.url is not None and s.secret is not None
        url, secret = s.url.get_secret_value(), s.secret.get_secret_value()
        body, key = self.payload(action), action.idempotency_key()
        message = ""
        for attempt in range(1, s.max_attempts + 1):
            ts = int(self._clock())
            headers = {
                "Content-Type": "application/json",
                IDEMPOTENCY_HEADER: key,
                TIMESTAMP_HEADER: str(ts),
                SIGNATURE_HEADER: sign(secret, ts, body),
            }
            try:
                r = client.post(url, content=body, headers=headers, timeout=s.timeout)
            except httpx.TimeoutException:
                message, retry = f"timed out after {s.timeout:g} s", True
            except httpx.TransportError as e:
                message, retry = f"connection failed: {type(e).__name__}", True
            else:
                text = r.text[:300]
                if 200 <= r.status_code < 300:
                    ref = None
                    try:
                        ref = r.json().get("id")
                    except (ValueError, AttributeError):
                        pass
                    return ExecutionResult(
                        action,
                        ResultStatus.EXECUTED,
                        f"HTTP {r.status_code} {text}".strip(),
                        self.name,
                        platform_ref=None if ref is None else str(ref),
                        attempts=attempt,
                    )
                message, retry = f"HTTP {r.status_code} {text}".strip(), _retryable(r.status_code)
            if not retry or attempt == s.max_attempts:
                return ExecutionResult(
                    action, ResultStatus.FAILED, message, self.name, attempts=attempt
                )
            self._sleep(
                backoff_delay(attempt, base=s.backoff_base, cap=s.backoff_cap, rng=self._rng)
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def execute(self, actions: Sequence[Action]) -> list[ExecutionResult]:
        s = self.settings
        secrets = [x.get_secret_value() for x in (s.url, s.secret) if x is not None]
        with redacted_logs(*secrets), httpx.Client() as client:
            return [self.deliver(a, client) for a in actions]
