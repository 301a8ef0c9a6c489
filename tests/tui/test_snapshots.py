"""Snapshots of every screen at 80x24 and 120x40 (cursor blink off, fixed data, reached
by keys). Screens whose content carries the time (audit rows, request expiry) are shot
with data that has none."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Static

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, settle, type_text, until
from tests.tui.keys import fill, form_open, main_ready, screen_text, show_tab, text_of
from tui.screens.modals import KeysModal, RevealModal, TextModal

SIZES = [(80, 24), (120, 40)]
SNAP = ("snap", "snap-initial-pass-1", "snap-final-pass-22")


@pytest.fixture(scope="module")
def snapshot_data(tui_server):
    """A password administrator with two resources, one client org, a filed request, and
    a user who has not chosen a password yet."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    for username, role, password in (
        ("snap", "password_administrator", SNAP[1]),
        ("adm2", "administrator", "adm2-initial-pass-1"),
        ("adm3", "administrator", "adm3-initial-pass-1"),
        ("fresh", "password_user", "fresh-initial-pass-1"),
    ):
        tui_server.api(
            "POST",
            "/orgs/MSPOrg/users",
            {
                "username": username,
                "full_name": username.title(),
                "role": role,
                "password": password,
            },
            admin,
        )
    first = tui_server.login("snap", SNAP[1])
    tui_server.api(
        "POST", "/me/password", {"current_password": SNAP[1], "new_password": SNAP[2]}, first
    )
    token = tui_server.login("snap", SNAP[2])
    for name, kind, url in (
        ("core-router", "Cisco IOS", "10.0.0.1"),
        ("mail-server", "Linux", "mail.example.net"),
    ):
        status, res = tui_server.api(
            "POST", "/orgs/MSPOrg/resources", {"name": name, "type": kind, "url": url}, token
        )
        assert status == 201, res
        tui_server.api(
            "POST",
            f"/orgs/MSPOrg/resources/{res['id']}/accounts",
            {"username": "admin", "password": "Fixed-Snapshot-pw1!"},
            token,
        )
    tui_server.api(
        "POST",
        "/orgs",
        {"name": "Acme Ltd", "display_name": "acme", "account_manager": ADMIN},
        admin,
    )
    adm2 = tui_server.login("adm2", "adm2-initial-pass-1")
    tui_server.api(
        "POST",
        "/me/password",
        {"current_password": "adm2-initial-pass-1", "new_password": "adm2-final-pass-22"},
        adm2,
    )
    adm2 = tui_server.login("adm2", "adm2-final-pass-22")
    status, body = tui_server.api(
        "POST",
        "/org-access-requests",
        {"org": "acme", "user": "adm3", "approver": ADMIN, "reason": "on call"},
        adm2,
    )
    assert status == 201, body
    return "snap", SNAP[2]


def no_blink(app) -> None:
    """Freeze every input's cursor so screenshots are stable."""
    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False


async def shot_ready(pilot) -> None:
    """Let the last repaint land, then freeze the cursors."""
    await settle(pilot)
    no_blink(pilot.app)


async def main_settled(pilot) -> None:
    """The main screen with everything loaded: server state, both vault lists."""
    await main_ready(pilot)
    screen = pilot.app.screen
    resources = screen.query_one("#resources", DataTable)
    accounts = screen.query_one("#accounts", DataTable)
    server = screen.query_one("#server", Static)
    await until(
        pilot,
        lambda: (
            text_of(server).startswith("PRIMARY")
            and resources.row_count == 2
            and accounts.row_count == 1
        ),
        what="(main screen loaded)",
    )
    # The band's text is set before it is drawn: wait until a screenshot shows it too.
    await until(pilot, lambda: "PRIMARY" in pilot.app.export_screenshot(), what="(band drawn)")


async def as_admin(pilot) -> None:
    """Log in as the MSP's administrator and wait for the main screen, loaded."""
    await log_in(pilot, ADMIN, ADMIN_PASSWORD)
    await main_settled(pilot)


def snap(snap_compare, make_app, size, before) -> bool:
    """Run the app, drive it with ``before``, compare the screen."""
    return snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_login_screen(snap_compare, make_app, tui_server, size):
    """The login screen (once it has learnt that the server is a primary)."""

    async def before(pilot):
        line = pilot.app.screen.query_one("#login-server", Static)
        await until(pilot, lambda: "PRIMARY" in text_of(line))
        await shot_ready(pilot)

    assert snap(snap_compare, make_app, size, before)


@pytest.mark.parametrize("size", SIZES)
def test_first_password_form(snap_compare, make_app, snapshot_data, size):
    """The first-login password change, with the server's refusal of a short one."""

    async def before(pilot):
        await log_in(pilot, "fresh", "fresh-initial-pass-1")
        form = await form_open(pilot, "Choose a new password")
        await fill(pilot, "short", "short")
        await pilot.press("enter")
        await until(pilot, lambda: form.query_one("#e-new").has_class("shown"))
        await shot_ready(pilot)

    assert snap(snap_compare, make_app, size, before)


@pytest.mark.parametrize("size", SIZES)
def test_vault_screen(snap_compare, make_app, snapshot_data, size):
    """The vault after login: resources and the first resource's accounts."""
    username, password = snapshot_data

    async def before(pilot):
        await log_in(pilot, username, password)
        await main_settled(pilot)
        await shot_ready(pilot)

    assert snap(snap_compare, make_app, size, before)


@pytest.mark.parametrize("size", SIZES)
def test_reveal_dialog(snap_compare, make_app, snapshot_data, size):
    """A revealed password with its countdown."""
    username, password = snapshot_data

    async def before(pilot):
        await log_in(pilot, username, password)
        await main_settled(pilot)
        await pilot.press("tab", "r")
        await until(pilot, lambda: isinstance(pilot.app.screen, RevealModal))
        # The countdown stopped at its first second: a loaded machine may take more than a
        # second to reach the shot, and the text is then "hides in 9 s".
        modal = pilot.app.screen
        await until(pilot, lambda: modal._timer is not None)
        modal._timer.pause()
        modal._left = 10
        modal._tick()
        await until(pilot, lambda: "hides in 10 s" in screen_text(pilot.app))
        no_blink(pilot.app)

    assert snap(snap_compare, make_app, size, before)


@pytest.mark.parametrize("size", SIZES)
def test_orgs_screen(snap_compare, make_app, snapshot_data, size):
    """The organizations pane of an MSP administrator."""

    async def before(pilot):
        await as_admin(pilot)
        await show_tab(pilot, "f3", "orgs")
        table = pilot.app.screen.query_one("#orgs-table", DataTable)
        await until(pilot, lambda: table.row_count >= 2)
        await shot_ready(pilot)

    assert snap(snap_compare, make_app, size, before)


@pytest.mark.parametrize("size", SIZES)
def test_new_org_dialog(snap_compare, make_app, snapshot_data, size):
    """The add-organization form: pickers, and the display name checked as typed."""

    async def before(pilot):
        await as_admin(pilot)
        await show_tab(pilot, "f3", "orgs")
        await pilot.press("n")
        form = await form_open(pilot, "New organization")
        await fill(pilot, "Two Words Ltd", "two words")
        await until(pilot, lambda: form.query_one("#e-display_name").has_class("shown"))
        await shot_ready(pilot)

    assert snap(snap_compare, make_app, size, before)


@pytest.mark.parametrize("size", SIZES)
def test_access_screen(snap_compare, make_app, snapshot_data, size):
    """The access pane of the approver: a request waiting, with when it expires."""

    async def before(pilot):
        await as_admin(pilot)
        await show_tab(pilot, "f4", "access")
        queue = pilot.app.screen.query_one("#queue", DataTable)
        await until(pilot, lambda: queue.row_count == 1)
        await shot_ready(pilot)

    assert snap(snap_compare, make_app, size, before)


@pytest.mark.parametrize("size", SIZES)
def test_request_form(snap_compare, make_app, snapshot_data, size):
    """Requesting org access, step one: org and designee pickers."""

    async def before(pilot):
        await as_admin(pilot)
        await show_tab(pilot, "f4", "access")
        await pilot.press("q")
        await form_open(pilot, "Request org access (1 of 2)")
        await fill(pilot, ">acme")
        await shot_ready(pilot)

    assert snap(snap_compare, make_app, size, before)


@pytest.mark.parametrize("size", SIZES)
def test_audit_screen(snap_compare, make_app, snapshot_data, size):
    """The audit pane with a filter that matches nothing (event rows carry the time)."""

    async def before(pilot):
        await as_admin(pilot)
        await show_tab(pilot, "f5", "audit")
        await pilot.press("slash")
        await form_open(pilot, "Filter events")
        await pilot.press("tab", "tab", "tab")  # to: before any event
        await type_text(pilot, "2000-01-01")
        await pilot.press("enter")
        table = pilot.app.screen.query_one("#audit-table", DataTable)
        await until(pilot, lambda: table.row_count == 0)
        await shot_ready(pilot)

    assert snap(snap_compare, make_app, size, before)


@pytest.mark.parametrize("size", SIZES)
def test_users_screen(snap_compare, make_app, snapshot_data, size):
    """The users pane of MSPOrg."""

    async def before(pilot):
        await as_admin(pilot)
        await show_tab(pilot, "f6", "users")
        table = pilot.app.screen.query_one("#users-table", DataTable)
        await until(pilot, lambda: table.row_count >= 5)
        await shot_ready(pilot)

    assert snap(snap_compare, make_app, size, before)


@pytest.mark.parametrize("size", SIZES)
def test_keys_panel(snap_compare, make_app, snapshot_data, size):
    """F1 on the vault: its keys and the keys that work everywhere."""

    async def before(pilot):
        await as_admin(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(pilot.app.screen, KeysModal))
        await shot_ready(pilot)

    assert snap(snap_compare, make_app, size, before)


@pytest.mark.parametrize("size", SIZES)
def test_server_view(snap_compare, make_app, snapshot_data, size):
    """Ctrl+K: the node, its role, replication."""

    async def before(pilot):
        await as_admin(pilot)
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextModal))
        await shot_ready(pilot)

    assert snap(snap_compare, make_app, size, before)
