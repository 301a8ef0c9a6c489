"""Snapshots of the Settings tab at 80x24, reached by keys: the roles section, the audit
section and its alerts list, the Replicate settings form with categories ticked, and the
per-org results after applying.
Nothing shown carries a clock time ('last applied' reads 'just now' / 'never')."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Static

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, settle, until
from tests.tui.keys import cursor_to, fill, form_open, main_ready, rows, show_tab, text_of, ticked
from tui.screens.audit_settings import AlertsScreen

SIZE = (80, 24)


@pytest.fixture(scope="module")
def settings_data(tui_server):
    """Two client orgs; in MSPOrg a custom role 'Helpdesk', a type and a field."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    for org in ("alpha", "beta"):
        status, body = tui_server.api(
            "POST",
            "/orgs",
            {"name": f"{org.title()} Ltd", "display_name": org, "account_manager": ADMIN},
            admin,
        )
        assert status == 201, body
    for path, body in (
        (
            "/orgs/MSPOrg/roles",
            {
                "name": "Helpdesk",
                "description": "First line",
                "permissions": ["manage_users", "read_audit"],
            },
        ),
        ("/orgs/MSPOrg/resource-types", {"name": "Mainframe"}),
    ):
        status, answer = tui_server.api("POST", path, body, admin)
        assert status == 201, answer
    # Audit: resource_updated off yet marked (it cannot alert); an alert with no event yet.
    operations = {"resource_updated": {"recorded": False, "alert": True}}
    operations["resource_type_deleted"] = {"alert": True}
    status, answer = tui_server.api(
        "PUT", "/orgs/MSPOrg/audit/settings", {"operations": operations}, admin
    )
    assert status == 200, answer


def no_blink(app) -> None:
    """Freeze every input's cursor so screenshots are stable."""
    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False


async def settings_shown(pilot) -> None:
    """Log in as admin, wait for the server state, show F7 with its roles loaded."""
    await log_in(pilot, ADMIN, ADMIN_PASSWORD)
    await main_ready(pilot)
    screen = pilot.app.screen
    server = screen.query_one("#server", Static)
    await until(pilot, lambda: text_of(server).startswith("PRIMARY"), what="(server state)")
    await show_tab(pilot, "f7", "settings")
    roles = screen.query_one("#roles-table", DataTable)
    await until(pilot, lambda: "Helpdesk" in rows(roles), what="(roles loaded)")


def test_settings_roles(snap_compare, make_app, settings_data):
    """The roles section with a custom role highlighted and described under the list."""

    async def before(pilot):
        await settings_shown(pilot)
        roles = pilot.app.screen.query_one("#roles-table", DataTable)
        await cursor_to(pilot, roles, "Helpdesk")
        note = pilot.app.screen.query_one("#roles-note", Static)
        await until(pilot, lambda: "First line" in text_of(note))
        await settle(pilot)
        no_blink(pilot.app)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_replicate_before_apply(snap_compare, make_app, settings_data):
    """The Replicate settings form: nothing saved yet, two categories ticked, rename."""

    async def before(pilot):
        await settings_shown(pilot)
        await pilot.press("R")
        form = await form_open(pilot, "Replicate settings: choose")
        await pilot.press("a", "down", "space", "down", "space")  # user roles, resource types
        await pilot.press("tab")
        await fill(pilot, ">ren")
        categories = form.query_one("#f-categories")
        await until(pilot, lambda: ticked(categories) == ["User roles", "Resource types"])
        await settle(pilot)
        no_blink(pilot.app)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_replicate_after_apply(snap_compare, make_app, settings_data):
    """After applying: the saved choice and each client org's result."""

    async def before(pilot):
        await settings_shown(pilot)
        await pilot.press("R")
        await form_open(pilot, "Replicate settings: choose")
        await pilot.press("a", "down", "space", "down", "space", "enter")
        await until(
            pilot,
            lambda: (
                pilot.app.screen.query("#replicate-results")
                and rows(pilot.app.screen.query_one("#replicate-results", DataTable))
                == ["alpha", "beta"]
            ),
            what="(results)",
        )
        await settle(pilot)
        no_blink(pilot.app)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_settings_audit_and_alerts(snap_compare, make_app, settings_data):
    """The audit section (an alert on an unrecorded operation said so), then l: the
    alerts list, empty, its note naming what alerts and what cannot."""

    async def before(pilot):
        await settings_shown(pilot)
        await pilot.press("4")
        ops = pilot.app.screen.query_one("#audit-ops-table", DataTable)
        await until(pilot, lambda: "ALERT (not recorded)" in rows(ops, 2), what="(audit)")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(pilot.app.screen, AlertsScreen), what="(alerts)")
        note = pilot.app.screen.query_one("#list-note", Static)
        await until(pilot, lambda: "cannot alert" in text_of(note), what="(alerts note)")
        await settle(pilot)
        no_blink(pilot.app)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)
