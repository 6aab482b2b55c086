"""The Automate page in a real browser: a rule from a template, its live preview equal to the
domain preview, save, a suggest run, approve one action, see it in the log, undo it, and the
entity's bid back to its old value in DuckDB. Screenshots go to test-output/screenshots;
``SPENDLAB_DOC_IMAGES=1`` also copies them to docs/img."""

from __future__ import annotations

import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import expect

from spendlab.automate import service as svc
from spendlab.automate import store
from spendlab.automate.pipeline import run_rules
from spendlab.automate.rules import parse_rules
from spendlab.automate.specs import templates

from .conftest import SHOTS, sign_in

DOC_IMG = Path(__file__).parents[2] / "docs" / "img"
TEMPLATE = "raise-bids-roas-rising"


def _bid(site, action_id: int) -> Decimal:
    """The entity's bid, read from the server's DuckDB warehouse."""
    state = site["app"].state.spendlab
    ws = state.workspaces.handle("e2e")
    ((_, a, _),) = store.select_actions(store.RuleStore.of(ws), ids=[action_id])
    e = a.entity
    with state.workspaces.warehouse("e2e") as wh:
        t = wh.table("entities")
        (row,) = (
            t.filter((t.platform == e.platform) & (t.level == e.level.value)
                     & (t.campaign_id == e.campaign_id) & (t.ad_group_id == e.ad_group_id)
                     & (t.keyword_id == e.keyword_id))
            .select("bid").to_pyarrow().to_pylist()
        )  # fmt: skip
    return Decimal(str(row["bid"])), a


def _domain_preview(site) -> int:
    state = site["app"].state.spendlab
    spec = next(t["spec"] for t in templates() if t["id"] == TEMPLATE)
    ws = state.workspaces.handle("e2e")
    day = svc.default_as_of(ws)
    with ws.warehouse() as wh:
        res = run_rules(wh, parse_rules([spec]), day, respect_schedule=False)
    return len({a.entity.key() for a in res.actions})


def test_rule_from_template_preview_save_run_approve_undo(page, site, shot):
    want = _domain_preview(site)
    assert want > 0
    sign_in(page, site)
    page.click("#nav-automate")
    page.click("#au-template")
    page.keyboard.type("ROAS above target")
    page.keyboard.press("Enter")
    page.click("#au-use-template")
    expect(page.locator("#au-yaml")).to_have_value(re.compile(f"id: {TEMPLATE}"))
    expect(page.locator("#au-preview-n")).to_have_text(str(want))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#au-editor").screenshot(path=str(SHOTS / "automate-editor.png"))
    page.click("#au-save")
    expect(page.locator("#au-saved-ok")).to_contain_text(f"Saved {TEMPLATE} version 1")
    expect(page.locator("#au-library-table")).to_contain_text(TEMPLATE)

    page.click("#au-run")
    expect(page.locator("#au-run-ok")).to_contain_text("(suggest)")
    queue = page.locator("#au-queue .ag-center-cols-container .ag-row")
    expect(queue.first).to_be_visible()
    row = queue.first
    action_id = int(row.get_attribute("row-id"))
    before, action = _bid(site, action_id)
    assert before == action.old_value
    row.locator("[col-id=rule_id]").click()
    page.click("#au-approve")
    expect(page.locator("#au-queue-msg")).to_contain_text(f"executed 1 action(s): {action_id}")
    assert _bid(site, action_id)[0] == action.new_value != before

    log_row = page.locator(f"#au-log .ag-center-cols-container .ag-row[row-id='{action_id}']")
    expect(log_row.locator("[col-id=status]")).to_have_text("executed")
    log_row.locator("[col-id=rule_id]").click()
    page.click("#au-undo")
    expect(page.locator("#au-undo-msg")).to_contain_text(f"Undid 1 action(s): {action_id}")
    expect(log_row.locator("[col-id=status]")).to_have_text("undone")
    assert _bid(site, action_id)[0] == before
    # the charts count the executed (since undone) action on its weekday
    expect(page.locator("#au-day")).to_contain_text("Actions per day")
    expect(page.locator("#au-weekday")).to_contain_text(action.as_of.strftime("%a"))
    expect(page.locator("#au-eff")).to_contain_text(TEMPLATE)
    page.wait_for_timeout(500)
    shot(page, "automate")
    # a tall viewport: the grids render only the rows on screen
    page.set_viewport_size({"width": 1280, "height": 4200})
    page.wait_for_timeout(1000)
    page.evaluate("document.getElementById('au-queue-panel').scrollIntoView()")
    page.wait_for_timeout(500)
    top = page.locator("#au-queue-panel").bounding_box()
    bottom = page.locator("#au-eff-panel").bounding_box()
    clip = {"x": top["x"], "y": top["y"], "width": top["width"],
            "height": bottom["y"] + bottom["height"] - top["y"]}  # fmt: skip
    page.screenshot(path=str(SHOTS / "automate-log.png"), clip=clip)
    if os.environ.get("SPENDLAB_DOC_IMAGES"):  # refresh the docs' screenshots on demand
        DOC_IMG.mkdir(exist_ok=True)
        shutil.copy(SHOTS / "automate-editor.png", DOC_IMG / "dashboard-automate-editor.png")
        shutil.copy(SHOTS / "automate-log.png", DOC_IMG / "dashboard-automate-log.png")


def test_viewer_sees_automate_read_only(page, site):
    sign_in(page, site, "vic")
    page.click("#nav-automate")
    expect(page.locator("#au-readonly")).to_contain_text("analyst role")
    expect(page.locator("#au-save")).to_be_disabled()
    expect(page.locator("#au-approve")).to_be_disabled()
    expect(page.locator("#au-undo")).to_be_disabled()
