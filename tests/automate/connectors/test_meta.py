"""Meta adapter: the facebook-business SDK's batch calls built from actions (no network), and a
batch executed by the SDK against a real local Graph-like HTTP server."""

from __future__ import annotations

import json
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from facebook_business.api import FacebookAdsApi, FacebookSession

from spendlab.automate.connectors import Connector, ResultStatus
from spendlab.automate.connectors.meta import BATCH_LIMIT, MetaConnector, build_batch
from spendlab.core.actions import Action, ActionKind, EntityRef
from spendlab.core.hierarchy import Level
from spendlab.errors import ConfigError

D = date(2026, 11, 2)


def act(level: Level, kind: ActionKind, old, new, **ids) -> Action:
    return Action(EntityRef("meta", level, "act_1", **ids), kind, old, new, "r", D)


def _api(graph: str | None = None) -> FacebookAdsApi:
    s = FacebookSession(access_token="test-token")
    if graph:
        s.GRAPH = graph
    return FacebookAdsApi(s)


def test_builds_sdk_batch_calls() -> None:
    actions = [
        act(
            Level.AD_GROUP,
            ActionKind.SET_BUDGET,
            Decimal("50.00"),
            Decimal("61.239"),
            campaign_id="2",
            ad_group_id="3",
        ),
        act(Level.CAMPAIGN, ActionKind.PAUSE, "enabled", "paused", campaign_id="2"),
        act(
            Level.AD,
            ActionKind.ENABLE,
            "paused",
            "enabled",
            campaign_id="2",
            ad_group_id="3",
            ad_id="4",
        ),
        act(
            Level.AD_GROUP,
            ActionKind.SET_BID,
            Decimal("2.00"),
            Decimal("1.994"),
            campaign_id="2",
            ad_group_id="3",
        ),
        act(
            Level.AD,
            ActionKind.SET_BUDGET,
            Decimal(1),
            Decimal(2),
            campaign_id="2",
            ad_group_id="3",
            ad_id="4",
        ),
    ]
    b = build_batch(actions, _api())
    (calls,) = [x._batch for x in b.batches]
    assert [c["relative_url"] for c in calls] == ["3/", "2/", "4/", "3/"]
    bodies = [parse_qs(c["body"]) for c in calls]
    assert bodies[0]["daily_budget"] == ["6123"]  # 61.239 raised from 50: floor to cents
    assert bodies[1]["status"] == ["PAUSED"] and bodies[2]["status"] == ["ACTIVE"]
    assert bodies[3]["bid_amount"] == ["200"]  # 1.994 cut from 2.00: rounds up to 2.00
    assert all(json.loads(x["execution_options"][0]) == ["validate_only"] for x in bodies)
    assert set(b.skipped) == {4}
    jpy = build_batch(actions[:1], _api(), currency="JPY", validate_only=False)
    body = parse_qs(jpy.batches[0]._batch[0]["body"])
    assert body["daily_budget"] == ["61"] and "execution_options" not in body


def test_batches_hold_at_most_50_calls() -> None:
    actions = [
        act(Level.CAMPAIGN, ActionKind.PAUSE, "enabled", "paused", campaign_id=str(i))
        for i in range(2 * BATCH_LIMIT + 1)
    ]
    b = build_batch(actions, _api())
    assert [len(x._batch) for x in b.batches] == [50, 50, 1]


@pytest.fixture
def graph(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            calls = json.loads(form["batch"][0])
            seen.append({"path": self.path, "token": form.get("access_token"), "calls": calls})
            out = []
            for c in calls:
                body = parse_qs(c["body"])
                if body.get("daily_budget") == ["1"]:
                    err = {
                        "error": {
                            "message": "Budget too low",
                            "type": "OAuthException",
                            "code": 100,
                        }
                    }
                    out.append({"code": 400, "headers": [], "body": json.dumps(err)})
                else:
                    out.append({"code": 200, "headers": [], "body": json.dumps({"success": True})})
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_execute_runs_the_sdk_batch(graph) -> None:
    url, seen = graph
    conn = MetaConnector(_api(url), validate_only=False)
    assert isinstance(conn, Connector)
    actions = [
        act(
            Level.AD_GROUP,
            ActionKind.SET_BUDGET,
            Decimal("5"),
            Decimal("7.5"),
            campaign_id="2",
            ad_group_id="3",
        ),
        act(Level.CAMPAIGN, ActionKind.SET_BUDGET, Decimal("5"), Decimal("0.01"), campaign_id="9"),
        act(
            Level.KEYWORD,
            ActionKind.PAUSE,
            "enabled",
            "paused",
            campaign_id="2",
            ad_group_id="3",
            keyword_id="5",
        ),
    ]
    res = conn.execute(actions)
    assert [r.status for r in res] == [
        ResultStatus.EXECUTED,
        ResultStatus.FAILED,
        ResultStatus.SKIPPED,
    ]
    assert res[1].message == "Budget too low"
    assert res[0].applied_value == Decimal("7.50")
    assert len(seen) == 1 and len(seen[0]["calls"]) == 2
    assert "test-token" not in str([r.to_dict() for r in res]) and "test-token" not in repr(conn)


def test_needs_a_token(monkeypatch) -> None:
    monkeypatch.delenv("SPENDLAB_META_ACCESS_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="SPENDLAB_META_ACCESS_TOKEN"):
        MetaConnector()
