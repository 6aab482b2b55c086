"""Alerts: a digest of a run's actions, sent by e-mail (SMTP) and to a Slack-style webhook.

Settings come from ``SPENDLAB_NOTIFY_*`` environment variables; the SMTP password and the
webhook URL (which is itself the credential for Slack incoming webhooks) are ``SecretStr`` and are
never logged, put in results or shown in reprs. Sending never raises: each channel returns a
:class:`NotificationResult`, so a broken mail server cannot fail a rules run.

Slack message: ``text`` (the fallback shown in notifications) plus ``blocks``: a header, a section
with the counts and one section per action line (at most 45 lines; the rest summarised). Text from
rules and entities is escaped for Slack mrkdwn (``&``, ``<``, ``>``), so a rule named
``<!channel>`` cannot ping a channel.
"""

from __future__ import annotations

import base64
import logging
import random
import smtplib
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage
from typing import Annotated, Any

import httpx
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from spendlab.automate.connectors.base import ExecutionResult, redacted_logs
from spendlab.core.actions import Action
from spendlab.core.hierarchy import Level

log = logging.getLogger(__name__)

MAX_LINES = 45  # Slack allows 50 blocks per message
SECTION_LIMIT = 3000  # characters per Slack section text


class NotifySettings(BaseSettings):
    """Where alerts go. Unset channels are skipped."""

    model_config = SettingsConfigDict(env_prefix="SPENDLAB_NOTIFY_", extra="ignore")

    smtp_host: str | None = Field(None, description="SMTP server; unset = no e-mail")
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(True, description="Upgrade with STARTTLS (port 587)")
    smtp_ssl: bool = Field(False, description="Implicit TLS (port 465)")
    smtp_ca_file: str | None = Field(
        None, description="PEM file of CAs to trust for the server (default: system CAs)"
    )
    mail_from: str = "spendlab@localhost"
    mail_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated recipients"
    )
    slack_webhook_url: SecretStr | None = Field(None, description="Incoming-webhook URL")
    timeout: float = 10.0

    @field_validator("mail_to", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [x.strip() for x in v.split(",") if x.strip()]
        return v


@dataclass(frozen=True)
class NotificationResult:
    channel: str  # "email" or "slack"
    ok: bool
    message: str


@dataclass
class Digest:
    """A run's actions summarised for people."""

    title: str
    counts: dict[str, int]
    lines: list[str]
    more: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def subject(self) -> str:
        total = sum(self.counts.values())
        return f"{self.title}: {total} action{'s' if total != 1 else ''}"

    def text(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "no actions"
        parts = [self.subject, "", counts, ""]
        if self.failures:
            parts += ["Failed:", *(f"  - {f}" for f in self.failures), ""]
        parts += [f"  - {line}" for line in self.lines]
        if self.more:
            parts.append(f"  ... and {self.more} more")
        return "\n".join(parts) + "\n"

    def slack_payload(self) -> dict[str, Any]:
        counts = ", ".join(f"*{k}* {v}" for k, v in sorted(self.counts.items())) or "no actions"
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": self.subject[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": counts}},
        ]
        if self.failures:
            body = "\n".join(f"• {_esc(f)}" for f in self.failures)
            blocks.append(_section(f":warning: *Failed*\n{body}"))
        room = 50 - len(blocks) - 1
        for line in self.lines[:room]:
            blocks.append(_section(_esc(line)))
        hidden = self.more + max(0, len(self.lines) - room)
        if hidden:
            blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": f"... and {hidden} more"}],
                }
            )
        return {"text": _esc(self.subject), "blocks": blocks}


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _v(v: Any) -> str:
    if isinstance(v, Decimal):
        return f"{v:f}"
    return "-" if v is None else str(v)


def describe(action: Action) -> str:
    """One plain line: "set_bid keyword 123 (rule r1): 1.00 -> 1.20; <reason>"."""
    e = action.entity
    rule = f" (rule {action.rule_id})" if action.rule_id else ""
    change = f"{_v(action.old_value)} -> {_v(action.new_value)}"
    return (
        f"{action.kind.value} {Level(e.level).value} {e.entity_id} on {e.platform}{rule}: "
        f"{change}; {action.reason}"
    ).replace("\n", " ")


def digest(
    actions: Sequence[Action],
    results: Sequence[ExecutionResult] | None = None,
    *,
    title: str = "SpendLab rules run",
    max_lines: int = MAX_LINES,
) -> Digest:
    """Counts per action kind (and per result status when ``results`` are given) and one line
    per action, failures first."""
    counts = Counter(a.kind.value for a in actions)
    failures: list[str] = []
    if results is not None:
        for r in results:
            counts[f"result {r.status.value}"] += 1
            if not r.ok:
                failures.append(f"{describe(r.action)} [{r.status.value}: {r.message}]")
    lines = [describe(a) for a in actions]
    return Digest(
        title=title,
        counts=dict(counts),
        lines=lines[:max_lines],
        more=max(0, len(lines) - max_lines),
        failures=failures[:max_lines],
    )


def _login(s: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH PLAIN with UTF-8 credentials (RFC 4616) when the server offers it (smtplib encodes
    credentials as ASCII, and after a rejected PLAIN it falls through to other mechanisms);
    otherwise ``SMTP.login``."""
    s.ehlo_or_helo_if_needed()
    if "PLAIN" not in s.esmtp_features.get("auth", "").upper().split():
        s.login(user, password)
        return
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    code, resp = s.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, resp)


def send_email(d: Digest, settings: NotifySettings) -> NotificationResult:
    if not settings.smtp_host or not settings.mail_to:
        return NotificationResult(
            "email", False, "not configured (SPENDLAB_NOTIFY_SMTP_HOST/MAIL_TO)"
        )
    msg = EmailMessage()
    msg["Subject"] = d.subject.replace("\n", " ")
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(settings.mail_to)
    msg.set_content(d.text())
    try:
        ctx = ssl.create_default_context(cafile=settings.smtp_ca_file)
        if settings.smtp_ssl:
            s = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=settings.timeout, context=ctx
            )
        else:
            s = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout)
        with s:
            if settings.smtp_starttls and not settings.smtp_ssl:
                s.starttls(context=ctx)
            if settings.smtp_user and settings.smtp_password is not None:
                _login(s, settings.smtp_user, settings.smtp_password.get_secret_value())
            s.send_message(msg)
    except (smtplib.SMTPException, OSError, ValueError) as e:
        # the exception text of a failed login can echo the server's reply, never our password
        reason = f"{type(e).__name__}: {e}".replace(
            settings.smtp_password.get_secret_value() if settings.smtp_password else "\0", "***"
        )
        log.warning("e-mail alert not sent: %s", reason)
        return NotificationResult("email", False, reason[:300])
    log.info("e-mail alert sent to %d recipients", len(settings.mail_to))
    return NotificationResult("email", True, f"sent to {len(settings.mail_to)} recipients")


def send_slack(
    d: Digest,
    settings: NotifySettings,
    *,
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> NotificationResult:
    if settings.slack_webhook_url is None:
        return NotificationResult(
            "slack", False, "not configured (SPENDLAB_NOTIFY_SLACK_WEBHOOK_URL)"
        )
    url = settings.slack_webhook_url.get_secret_value()
    rng, message = random.Random(), ""
    with redacted_logs(url), httpx.Client() as client:
        for attempt in range(1, attempts + 1):
            try:
                r = client.post(url, json=d.slack_payload(), timeout=settings.timeout)
            except httpx.HTTPError as e:
                message, retry = f"{type(e).__name__}", True
            else:
                if 200 <= r.status_code < 300:
                    log.info("slack alert sent")
                    return NotificationResult("slack", True, f"HTTP {r.status_code}")
                message = f"HTTP {r.status_code} {r.text[:200]}"
                retry = r.status_code >= 500 or r.status_code == 429
            if not retry or attempt == attempts:
                break
            sleep(rng.uniform(0, min(10.0, 0.5 * 2 ** (attempt - 1))))
    log.warning("slack alert not sent: %s", message)
    return NotificationResult("slack", False, message)


def notify(d: Digest, settings: NotifySettings | None = None) -> list[NotificationResult]:
    """Send ``d`` to every configured channel."""
    settings = settings or NotifySettings()
    out = []
    if settings.smtp_host:
        out.append(send_email(d, settings))
    if settings.slack_webhook_url is not None:
        out.append(send_slack(d, settings))
    return out
