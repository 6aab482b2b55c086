"""Alerts: e-mail through a real local SMTP server (aiosmtpd, with AUTH), Slack-style webhook
through a real local HTTP server; secrets never logged."""

from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import date
from decimal import Decimal
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from spendlab.automate.connectors.base import ExecutionResult, ResultStatus
from spendlab.automate.notify import NotifySettings, digest, notify, send_email, send_slack
from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.core.hierarchy import Level

PASSWORD = "s3cret-pässword"
HOOK_TOKEN = "T000/B000/XXXXSECRET"


def _actions() -> list[Action]:
    d = date(2026, 11, 2)
    ref = EntityRef("google_ads", Level.KEYWORD, "1", "2", "3", "4")
    return [
        Action(
            ref,
            ActionKind.SET_BID,
            Decimal("1.00"),
            Decimal("1.20"),
            "roas 5.1 > 4",
            d,
            rule_id="raise",
        ),
        Action(
            ref,
            ActionKind.PAUSE,
            "enabled",
            "paused",
            "<!channel> & spend 80 > 0",
            d,
            rule_id="<b>x</b>",
        ),
        Action(
            ref, ActionKind.ALERT, None, None, "cpa spike: 120.00 > 2 x 50.00", d, rule_id="watch"
        ),
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _auth(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    port = _free_port()
    ctl = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=_auth, auth_require_tls=False
    )
    ctl.start()
    yield port, inbox
    ctl.stop()


@pytest.fixture
def hook_server(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    got: list[dict] = []
    script: dict[int, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"path": self.path, "json": json.loads(body)})
            code = script.get(len(got), 200)
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/{HOOK_TOKEN}", got, script
    server.shutdown()
    server.server_close()


def test_digest_counts_and_failures() -> None:
    acts = _actions()
    results = [
        ExecutionResult(acts[0], ResultStatus.EXECUTED),
        ExecutionResult(acts[1], ResultStatus.FAILED, "HTTP 400 bid too low"),
        ExecutionResult(acts[2], ResultStatus.SKIPPED, "alerts are not sent to platforms"),
    ]
    d = digest(acts, results, max_lines=2)
    assert d.counts == {
        "set_bid": 1,
        "pause": 1,
        "alert": 1,
        "result executed": 1,
        "result failed": 1,
        "result skipped": 1,
    }
    assert d.subject == "SpendLab rules run: 6 actions" or d.subject.endswith("actions")
    assert d.more == 1 and len(d.lines) == 2 and len(d.failures) == 2
    assert "1.00 -> 1.20" in d.lines[0] and "bid too low" in d.failures[0]


def test_email_through_a_real_smtp_server(monkeypatch, smtp_server, caplog) -> None:
    port, inbox = smtp_server
    monkeypatch.setenv("SPENDLAB_NOTIFY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SPENDLAB_NOTIFY_SMTP_PORT", str(port))
    monkeypatch.setenv("SPENDLAB_NOTIFY_SMTP_STARTTLS", "false")  # the test server has no TLS
    monkeypatch.setenv("SPENDLAB_NOTIFY_SMTP_USER", "bot")
    monkeypatch.setenv("SPENDLAB_NOTIFY_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SPENDLAB_NOTIFY_MAIL_TO", "am@example.com, lead@example.com")
    caplog.set_level(logging.DEBUG)
    settings = NotifySettings()
    (r,) = notify(digest(_actions()), settings)
    assert r.ok and r.channel == "email", r.message
    (mail_from, rcpts, raw) = inbox.messages[0]
    assert rcpts == ["am@example.com", "lead@example.com"]
    msg = message_from_bytes(raw, policy=default_policy)
    assert msg["Subject"] == "SpendLab rules run: 3 actions"
    body = msg.get_content()
    assert "set_bid keyword 4 on google_ads (rule raise): 1.00 -> 1.20; roas 5.1 > 4" in body
    assert PASSWORD not in caplog.text and PASSWORD not in repr(settings)

    monkeypatch.setenv("SPENDLAB_NOTIFY_SMTP_PASSWORD", "wrong")
    bad = send_email(digest(_actions()), NotifySettings())
    assert not bad.ok and "Authentication" in bad.message and "wrong" not in bad.message
    assert len(inbox.messages) == 1


def test_slack_webhook_through_a_real_http_server(monkeypatch, hook_server, caplog) -> None:
    url, got, script = hook_server
    script[1] = 503  # first call fails: retried
    monkeypatch.setenv("SPENDLAB_NOTIFY_SLACK_WEBHOOK_URL", url)
    caplog.set_level(logging.DEBUG)
    settings = NotifySettings()
    r = send_slack(digest(_actions()), settings, sleep=lambda s: None)
    assert r.ok and len(got) == 2
    payload = got[-1]["json"]
    assert payload["text"] == "SpendLab rules run: 3 actions"
    assert payload["blocks"][0]["type"] == "header"
    texts = " ".join(b["text"]["text"] for b in payload["blocks"] if "text" in b)
    assert "&lt;!channel&gt; &amp; spend" in texts and "<!channel>" not in texts
    assert HOOK_TOKEN not in caplog.text and HOOK_TOKEN not in repr(settings)
    assert HOOK_TOKEN not in r.message

    script[3] = 404  # 4xx: not retried
    r = send_slack(digest(_actions()), settings, sleep=lambda s: None)
    assert not r.ok and "404" in r.message and len(got) == 3


def test_slack_blocks_stay_within_limits() -> None:
    d = date(2026, 1, 1)
    ref = EntityRef("meta", Level.AD, "1", "2", "3", "", "9")
    many = [Action(ref, ActionKind.PAUSE, "enabled", "paused", "x" * 5000, d) for _ in range(120)]
    p = digest(many, max_lines=200).slack_payload()
    assert len(p["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in p["blocks"] if b.get("type") == "section")
    assert p["blocks"][-1]["elements"][0]["text"].startswith("... and ")


def test_unconfigured_channels_are_skipped(monkeypatch) -> None:
    for v in ("SMTP_HOST", "SLACK_WEBHOOK_URL", "MAIL_TO"):
        monkeypatch.delenv(f"SPENDLAB_NOTIFY_{v}", raising=False)
    assert notify(digest(_actions()), NotifySettings()) == []


def _self_signed(tmp_path):
    """A throwaway CA-less certificate for 127.0.0.1 (cert, key) written as PEM files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem, key_pem = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_pem, key_pem


def test_email_over_starttls_with_auth(monkeypatch, tmp_path) -> None:
    import ssl

    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    inbox = Inbox()
    port = _free_port()
    ctl = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=_auth,
        auth_require_tls=True,
    )
    ctl.start()
    try:
        env = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(port),
            "SMTP_USER": "bot",
            "SMTP_PASSWORD": PASSWORD,
            "MAIL_TO": "am@example.com",
        }
        for k, v in env.items():
            monkeypatch.setenv(f"SPENDLAB_NOTIFY_{k}", v)
        monkeypatch.delenv("SPENDLAB_NOTIFY_SMTP_STARTTLS", raising=False)
        # the server's certificate is not trusted by default: refused, nothing sent
        untrusted = send_email(digest(_actions()), NotifySettings())
        assert not untrusted.ok and "CERTIFICATE_VERIFY_FAILED" in untrusted.message
        monkeypatch.setenv("SPENDLAB_NOTIFY_SMTP_CA_FILE", str(cert))
        r = send_email(digest(_actions()), NotifySettings())
        assert r.ok, r.message
        assert len(inbox.messages) == 1
    finally:
        ctl.stop()
