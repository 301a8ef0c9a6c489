"""Snapshots of the main screens at 80x24 and 120x40 (cursor blink off, fixed data)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Static

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, settle, until

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(scope="module")
def snapshot_data(tui_server):
    """A password administrator with two resources, and one client org."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    tui_server.api(
        "POST",
        "/orgs/MSPOrg/users",
        {
            "username": "snap",
            "full_name": "Snap Shot",
            "role": "password_administrator",
            "password": "snap-initial-pass-1",
        },
        admin,
    )
    first = tui_server.login("snap", "snap-initial-pass-1")
    tui_server.api(
        "POST",
        "/me/password",
        {"current_password": "snap-initial-pass-1", "new_password": "snap-final-pass-22"},
        first,
    )
    token = tui_server.login("snap", "snap-final-pass-22")
    for name, kind, url in (
        ("core-router", "Cisco", "10.0.0.1"),
        ("mail-server", "Linux", "mail.example.net"),
    ):
        _status, res = tui_server.api(
            "POST", "/orgs/MSPOrg/resources", {"name": name, "type": kind, "url": url}, token
        )
        tui_server.api(
            "POST",
            f"/orgs/MSPOrg/resources/{res['id']}/accounts",
            {"username": "admin", "generate": True},
            token,
        )
    tui_server.api(
        "POST",
        "/orgs",
        {"name": "Acme Ltd", "display_name": "acme", "account_manager": ADMIN},
        admin,
    )
    return "snap", "snap-final-pass-22"


def no_blink(app) -> None:
    """Freeze every input's cursor so screenshots are stable."""
    for field in app.screen.query(Input):
        field.cursor_blink = False


@pytest.mark.parametrize("size", SIZES)
def test_login_screen(snap_compare, make_app, tui_server, size):
    """The login screen (once it has learnt that the server is a primary)."""

    async def before(pilot):
        await until(
            pilot,
            lambda: "PRIMARY" in str(pilot.app.screen.query_one("#login-server", Static).render()),
        )
        await settle(pilot)
        no_blink(pilot.app)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_vault_screen(snap_compare, make_app, snapshot_data, size):
    """The vault after login: resources and the first resource's accounts."""
    username, password = snapshot_data

    async def before(pilot):
        await settle(pilot)
        await log_in(pilot, username, password)
        await until(
            pilot,
            lambda: (
                pilot.app.screen.query(DataTable)
                and pilot.app.screen.query_one("#accounts", DataTable).row_count == 1
            ),
        )
        pilot.app.screen.query_one("#resources", DataTable).focus()
        await settle(pilot)
        no_blink(pilot.app)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_orgs_screen(snap_compare, make_app, snapshot_data, size):
    """The organizations pane of an MSP administrator."""

    async def before(pilot):
        await settle(pilot)
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await pilot.press("f3")
        await until(
            pilot, lambda: pilot.app.screen.query_one("#orgs-table", DataTable).row_count >= 2
        )
        pilot.app.screen.query_one("#orgs-table", DataTable).focus()
        await settle(pilot)
        no_blink(pilot.app)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_new_org_dialog(snap_compare, make_app, snapshot_data, size):
    """The add-organization dialog with a display name being checked as typed."""

    async def before(pilot):
        await settle(pilot)
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await pilot.press("f3")
        await settle(pilot)
        pilot.app.screen.query_one("#orgs-table", DataTable).focus()
        await pilot.press("n")
        await until(pilot, lambda: bool(pilot.app.screen.query("#f-display_name")))
        pilot.app.screen.query_one("#f-display_name", Input).value = "two words"
        check = pilot.app.screen.query_one("#c-display_name", Static)
        await until(pilot, lambda: "letters and digits" in str(check.render()))
        await settle(pilot)
        no_blink(pilot.app)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_users_screen(snap_compare, make_app, snapshot_data, size):
    """The users pane of MSPOrg."""

    async def before(pilot):
        await settle(pilot)
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await pilot.press("f6")
        await until(
            pilot, lambda: pilot.app.screen.query_one("#users-table", DataTable).row_count >= 2
        )
        pilot.app.screen.query_one("#users-table", DataTable).focus()
        await settle(pilot)
        no_blink(pilot.app)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)
