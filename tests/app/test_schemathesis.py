"""Property-based run over the OpenAPI schema: no request, however odd, gets a 500."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select

from spendlab.app.api import create_app
from spendlab.app.auth import create_user
from spendlab.app.store import User, open_store
from spendlab.plan.curvesets import save_curve_set

from .conftest import PASSWORD, make_settings

EXAMPLES = int(os.environ.get("SPENDLAB_FUZZ", "25"))
DERANDOMIZE = "SPENDLAB_FUZZ" not in os.environ


@pytest.fixture(scope="module")
def served(tmp_path_factory, demo_template):
    root = tmp_path_factory.mktemp("schemathesis")
    shutil.copytree(demo_template, root / "ws")
    store = open_store(f"sqlite:///{root / 'app.db'}")
    # a high login limit: the fuzzer would otherwise lock itself out and test only 429s
    settings = make_settings(
        login_attempts_per_minute=10_000, max_upload_bytes=1024**2, home=root / "home"
    )
    app = create_app(settings, store)
    create_user(store, "ada", PASSWORD, "admin")
    app.state.spendlab.workspaces.register("demo", root / "ws")
    # a curve set, so the planning routes compute instead of answering 409
    frame = pd.DataFrame(
        {"channel": ["search", "social"], "type": ["hill", "logistic"], "beta": [900.0, 700.0],
         "half": [150.0, None], "s": [0.6, None], "lam": [None, 0.006], "current": [80.0, 0.0]}
    )  # fmt: skip
    ws = app.state.spendlab.workspaces.handle("demo")
    save_curve_set(ws.store.engine, ws.id, "fuzz", frame, "day", "manual")
    with TestClient(app) as c:
        token = c.post("/api/v1/auth/token", data={"username": "ada", "password": PASSWORD})
        yield app, token.json()["access_token"]


def test_no_server_errors(served):
    """Every operation, 25 generated requests each, as an admin (so requests get past auth)."""
    app, token = served
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in api.get_all_operations()]
    assert len(operations) >= 20
    seen: dict[int, int] = {}

    def restore_admin() -> None:  # the fuzzer may demote or disable its own user
        with app.state.spendlab.store.session() as s:
            ada = s.scalar(select(User).where(User.username == "ada"))
            ada.role, ada.disabled = "admin", False

    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=DERANDOMIZE,  # reproducible in CI; SPENDLAB_FUZZ=N explores N random
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            restore_admin()
            assert response.status_code < 500, (case.method, case.path, response.text[:500])
            if response.status_code >= 400:
                assert set(response.json()["error"]) >= {"status", "code", "message", "issues"}

        check()
    # the run reached the handlers, not only the validators
    assert seen.get(200, 0) > 50 and sum(seen.values()) > 300, seen
