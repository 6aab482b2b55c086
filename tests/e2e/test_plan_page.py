"""The Plan page in a real browser: sliders recompute the prediction, the optimizer's numbers
equal the domain functions', a saved scenario shows in the comparison table; viewers look only."""

from __future__ import annotations

from playwright.sync_api import expect

from spendlab.app.web.pages.plan import money
from spendlab.plan.constraints import TrustRegion
from spendlab.plan.scenarios import predict, recommend
from spendlab.plan.service import context

from .conftest import sign_in


def _expected(site):
    pc = context(site["state"].workspaces.handle("e2e"))
    return pc, pc.cs.curves()


def test_sliders_optimizer_and_saved_scenarios(page, site, shot):
    pc, curves = _expected(site)
    ids = curves.ids
    cur = [pc.current[i] for i in ids]
    sign_in(page, site)
    page.click("#nav-plan")
    outcome = page.locator("#plan-live-outcome")
    expect(outcome).to_have_text(money(predict(curves, cur)["outcome"]["mean"]))
    # move the first channel's slider three steps with the keyboard
    thumb = page.locator("#plan-slider-row-0 [role=slider]")
    thumb.focus()
    for _ in range(3):
        thumb.press("ArrowRight")
    expect(thumb).not_to_have_attribute("aria-valuenow", str(cur[0]))
    moved = float(thumb.get_attribute("aria-valuenow"))
    assert moved > cur[0]
    want = predict(curves, [moved, *cur[1:]])["outcome"]["mean"]
    expect(outcome).to_have_text(money(want))
    expect(page.locator("#plan-live-spend")).to_have_text(money(moved + sum(cur[1:])))
    # the optimizer at the current total budget
    page.click("#plan-opt-run")
    table = page.locator("#plan-opt-table")
    expect(table).to_be_visible()
    rec = recommend(
        pc.cs, pc.current, budget=round(sum(cur), 2), observed=pc.observed, trust=TrustRegion()
    )
    for k, i in enumerate(ids):
        row = table.locator("tr").nth(k + 1)
        expect(row.locator("td").nth(0)).to_have_text(i)
        expect(row.locator("td").nth(2)).to_have_text(money(rec["allocation"][i]))
    expect(page.locator("#plan-opt-uplift")).to_contain_text(money(rec["uplift"]["mean"]))
    expect(page.locator("#plan-opt-advice")).to_have_text(rec["trust"]["advice"])
    expect(table).to_contain_text("Bounds (why)")
    # save the slider scenario and see it side by side
    page.fill("#plan-name", "e2e more search")
    page.click("#plan-save")
    expect(page.locator("#plan-save-msg")).to_contain_text("Saved scenario")
    compare = page.locator("#plan-compare")
    expect(compare).to_contain_text("e2e more search")
    expect(compare).to_contain_text(money(want))
    expect(page.locator("#plan-frontier")).to_be_visible()
    shot(page, "plan")


def test_viewer_sees_the_plan_but_cannot_save(page, site):
    sign_in(page, site, "vic")
    page.click("#nav-plan")
    expect(page.locator("#plan-live-outcome")).not_to_be_empty()
    expect(page.locator("#plan-save")).to_be_disabled()
    expect(page.locator("#plan-save-ro")).to_contain_text("analyst role")
