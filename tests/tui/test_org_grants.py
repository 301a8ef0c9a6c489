"""Editing an org and revoking a grant by keys, on a database of its own (so its three
administrators are independent however the other stories ran)."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, until
from tests.tui.keys import cursor_to, fill, form_open, main_ready, notified, rows, show_tab, submit
from tests.tui.test_stories import make_user


async def test_edit_org_and_revoke_a_grant(tui_server, make_app):
    """e edits an org (vault control from a picker); v revokes a grant picked from the
    org's grants; the org report shows the change."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    for name in ("ed1", "ed2"):  # with admin, three independent administrators
        make_user(tui_server, admin, name, "administrator")
    tui_server.api(
        "POST",
        "/orgs",
        {"name": "Edit Me", "display_name": "editme", "account_manager": "ed1"},
        admin,
    )
    token1 = tui_server.login("ed1", "final-ed1-pw22")
    status, req = tui_server.api(
        "POST", "/org-access-requests", {"org": "editme", "user": "ed2", "approver": ADMIN}, token1
    )
    assert status == 201, req
    status, body = tui_server.api(
        "POST",
        f"/org-access-requests/{req['id']}/approve",
        {"current_password": ADMIN_PASSWORD},
        admin,
    )
    assert status == 200, body
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "ed1", "final-ed1-pw22")
        await main_ready(pilot)
        await show_tab(pilot, "f3", "orgs")
        table = app.screen.query_one("#orgs-table", DataTable)
        await cursor_to(pilot, table, "editme")
        await pilot.press("e")
        form = await form_open(pilot, "Edit editme")
        await pilot.press("tab", "tab", "tab")  # name, display name, account manager
        await fill(pilot, ">msp", "", "edited in the TUI")  # vault, reveal, description
        await submit(pilot, form)
        await until(pilot, lambda: "msp" in rows(table, 3))
        await show_tab(pilot, "f4", "access")
        await pilot.press("v")
        form = await form_open(pilot, "Revoke org access (1 of 2)")
        await fill(pilot, ">editme")
        await submit(pilot, form)
        form = await form_open(pilot, "Revoke org access to editme")
        await fill(pilot, ">user ed2")
        await submit(pilot, form)
        await notified(pilot, "Access of ed2 to editme revoked")
    _, org = tui_server.api("GET", "/orgs/editme", token=token1)  # its account manager
    assert (org["description"], org["vault_control"]) == ("edited in the TUI", "msp")
    _, access = tui_server.api("GET", "/orgs/editme/access", token=token1)
    assert access["users"] == []
