"""A real HTTP receiver on 127.0.0.1 for the webhook tests: verifies signatures, applies each
idempotency key once, and can fail, hang or lose responses on chosen calls."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from spendlab.automate.connectors.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)

SECRET = "test-secret-Ünïcode-🔑"


@dataclass
class Receiver:
    url: str = ""
    calls: int = 0
    # scripted behaviour per call number (1-based): "503", "hang", "lost" (apply, then 500), "400"
    script: dict[int, str] = field(default_factory=dict)
    applied: dict[str, dict] = field(default_factory=dict)  # key -> body applied once
    apply_count: int = 0
    rejected_signatures: int = 0
    log: list[tuple[int, str, int]] = field(default_factory=list)  # (call, key, status)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            key = self.headers.get(IDEMPOTENCY_HEADER, "")
            with rec.lock:
                rec.calls += 1
                n = rec.calls
                what = rec.script.get(n, "")
            if not verify_signature(
                SECRET, body, self.headers.get(TIMESTAMP_HEADER), self.headers.get(SIGNATURE_HEADER)
            ):
                with rec.lock:
                    rec.rejected_signatures += 1
                    rec.log.append((n, key, 401))
                return self._send(401, {"error": "bad signature"})
            if what == "hang":
                time.sleep(1.0)
            if what in ("503", "hang"):
                rec.log.append((n, key, 503))
                return self._send(503, {"error": "try later"})
            if what == "400":
                rec.log.append((n, key, 400))
                return self._send(400, {"error": "bid below the platform minimum"})
            with rec.lock:
                dup = key in rec.applied
                if not dup:
                    rec.applied[key] = json.loads(body)
                    rec.apply_count += 1
            if what == "lost":  # applied, but the response says otherwise (lost on the way)
                rec.log.append((n, key, 500))
                return self._send(500, {"error": "gateway"})
            rec.log.append((n, key, 200))
            self._send(200, {"id": f"chg-{key[:8]}", "duplicate": dup})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)
