"""The dashboard in a real browser: log in, Overview numbers, upload errors, drill-down, logout."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from spendlab.app.web.pages.overview import fmt

from .conftest import PASSWORD, sign_in

BAD_FILE = Path(__file__).parents[1] / "data" / "fixtures" / "google_ads_ui" / "negative_cost.csv"


def test_login_rejects_wrong_password_without_saying_which_part(page, site, shot):
    page.goto(site["url"] + "/app/")
    expect(page).to_have_url(site["url"] + "/login?next=/app/")
    page.fill("#username", "ada")
    page.fill("#password", PASSWORD + "!")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_have_text("wrong user name or password")
    shot(page, "login")


def test_overview_matches_the_warehouse(page, site, shot):
    sign_in(page, site)
    expect(page.locator("#kpi-spend")).to_have_text(fmt("spend", site["spend"], "USD"))
    expect(page.locator("#kpi-clicks")).to_have_text(fmt("clicks", site["clicks"], "USD"))
    expect(page.locator(".ag-row").first).to_be_visible()
    page.wait_for_timeout(500)
    shot(page, "overview")


def test_drill_down_campaign_to_ad_groups_to_keywords(page, site, shot):
    sign_in(page, site)
    search = page.locator(".ag-row", has_text="google_ads").filter(has_text="Generic").first
    name = search.locator("[col-id=name]").inner_text()
    search.locator("[col-id=name]").click()
    expect(page.locator("#ov-crumbs")).to_contain_text(name)
    expect(page.locator(".ag-header-cell-text").first).to_have_text("Ad group")
    group = page.locator(".ag-row [col-id=name]").first
    expect(group).to_have_text(re.compile(r"\w"))  # loaded, not a loading placeholder
    group_name = group.inner_text()
    group.click()
    expect(page.locator("#ov-crumbs")).to_contain_text(group_name)
    expect(page.locator(".ag-header-cell-text").first).to_have_text("Keyword")
    expect(page.locator(".ag-row [col-id=name]").first).to_have_text(re.compile(r"\w"))
    shot(page, "drill-down")
    page.get_by_role("button", name="All campaigns").click()
    expect(page.locator(".ag-header-cell-text").first).to_have_text("Campaign")


def test_bad_upload_shows_the_row_level_error(page, site, shot):
    sign_in(page, site)
    page.click("#nav-data")
    page.locator("#data-upload input[type=file]").set_input_files(str(BAD_FILE))
    expect(page.locator("#data-error")).to_contain_text("Rejected")
    issues = page.locator("#data-issues")
    expect(issues).to_contain_text("spend is negative")
    expect(issues.locator("tr").nth(1).locator("td").nth(1)).to_have_text("5")
    expect(issues.locator("tr").nth(1).locator("td").nth(2)).to_have_text("spend")
    shot(page, "data-upload-error")


def test_every_page_renders_and_unconfigured_ones_say_what_to_do(page, site, shot):
    sign_in(page, site)
    for slug in ("experiments",):
        page.click(f"#nav-{slug}")
        expect(page.locator(f"#empty-{slug}")).to_contain_text("not configured")
        shot(page, slug)
    page.click("#nav-automate")
    expect(page.locator("#au-sec-scope")).to_be_visible()
    page.click("#nav-settings")
    expect(page.locator("#settings-users")).to_contain_text("vic")
    shot(page, "settings")


def test_viewer_cannot_upload_or_manage_users(page, site):
    sign_in(page, site, "vic")
    page.click("#nav-data")
    expect(page.locator("#data-ro")).to_contain_text("analyst role")
    page.click("#nav-settings")
    expect(page.locator("#settings-denied")).to_be_visible()


def test_logout_ends_the_session(page, site):
    sign_in(page, site)
    page.click("#logout")
    expect(page).to_have_url(site["url"] + "/login")
    page.goto(site["url"] + "/app/")
    expect(page).to_have_url(site["url"] + "/login?next=/app/")


def test_measure_runs_attribution_with_intervals(page, site, shot):
    sign_in(page, site)
    page.click("#nav-measure")
    expect(page.locator("#empty-measure")).to_contain_text("not configured")
    page.click("#at-run")
    table = page.locator("#at-credits")
    expect(table).to_contain_text("interval")
    assert table.locator("tr").count() >= 3  # header + at least two channels
    money = page.locator("#at-money")
    expect(money).to_contain_text("CPA (90% interval)")
    expect(money.locator("tr").nth(1).locator("td").nth(1)).to_have_text(re.compile(r"\d"))
    expect(page.locator("#at-roas")).to_contain_text("Credited ROAS")
    shot(page, "measure")


def test_every_page_runs_under_the_content_security_policy(page, site):
    """Strict CSP on the dashboard: scripts from this origin and Dash's hashed inline scripts
    only; no page breaks under it (a violation shows as a console error)."""
    from spendlab.app.web.pages import PAGES

    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    response = page.goto(site["url"] + "/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    sign_in(page, site)
    app = page.request.get(site["url"] + "/app/")
    assert "'sha256-" in app.headers["content-security-policy"]
    for p in PAGES:
        page.click(f"#nav-{p.slug}")
        expect(page.locator("#nav-" + p.slug)).to_be_visible()
        page.wait_for_load_state("networkidle")
    assert violations == []


def test_admin_grants_and_revokes_workspace_access(page, site, shot):
    """Settings > Workspace access: revoke vic from the workspace, then grant vic back."""
    from spendlab.app.access import grant as grant_access

    sign_in(page, site)
    page.click("#nav-settings")
    grants = page.locator("#settings-grants")
    expect(grants).to_contain_text("vic")
    try:
        page.fill("#grant-user", "vic")
        page.click("#grant-revoke")
        expect(page.locator("#grant-msg")).to_contain_text("vic no longer opens")
        expect(grants).not_to_contain_text("vic")
        page.click("#grant-add")  # viewer, the default
        expect(page.locator("#grant-msg")).to_contain_text("vic is viewer in")
        expect(grants).to_contain_text("vic")
        shot(page, "settings-grants")
    finally:  # the other tests of the session use vic
        state = site["app"].state.spendlab
        grant_access(state.store, "vic", state.workspaces.get(1), "viewer", by="test")
