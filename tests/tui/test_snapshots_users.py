"""Snapshots at 80x24 of My account, the 2FA enrolment dialog, the user form and the group
form (reached by keys; fixed data without times: the account shown has no API key, the
enrolment dialog a fixed secret)."""

from __future__ import annotations

import pyotp
import pytest
from textual.widgets import DataTable

import tui.screens.me as me_screen
from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, settle, type_text, until
from tests.tui.keys import form_open, main_ready, rows, screen_text, show_tab
from tests.tui.test_snapshots import no_blink
from tui.screens.me import MeScreen

SIZE = (80, 24)


@pytest.fixture(scope="module")
def users_data(tui_server):
    """Two more MSPOrg users with full names and e-mail addresses, one group."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    for username, name, role in (
        ("alice", "Alice Admin", "administrator"),
        ("bob", "Bob User", "password_user"),
    ):
        status, body = tui_server.api(
            "POST",
            "/orgs/MSPOrg/users",
            {
                "username": username,
                "full_name": name,
                "email": f"{username}@example.com",
                "role": role,
                "password": f"{username}-initial-pass-1",
            },
            admin,
        )
        assert status in (201, 409), body
    tui_server.api(
        "POST",
        "/orgs/MSPOrg/groups",
        {"name": "ops", "description": "Operators", "members": ["bob"]},
        admin,
    )


async def users_tab(pilot) -> None:
    """As the administrator, on the users tab with both lists loaded."""
    await log_in(pilot, ADMIN, ADMIN_PASSWORD)
    await main_ready(pilot)
    await show_tab(pilot, "f6", "users")
    screen = pilot.app.screen
    users = screen.query_one("#users-table", DataTable)
    groups = screen.query_one("#groups-table", DataTable)
    await until(pilot, lambda: "bob" in rows(users) and rows(groups) == ["ops"])


async def shot_ready(pilot) -> None:
    """Let the last repaint land, then freeze the cursors."""
    await settle(pilot)
    no_blink(pilot.app)


def test_me_screen(snap_compare, make_app, users_data):
    """My account: who I am, 2FA state, the (empty) API key list, its keys."""

    async def before(pilot):
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(pilot.app.screen, MeScreen))
        await until(pilot, lambda: "Two-factor: off" in screen_text(pilot.app))
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_user_form(snap_compare, make_app, users_data):
    """Editing a user: name, e-mail, role, scope and status, filled in."""

    async def before(pilot):
        await users_tab(pilot)
        table = pilot.app.screen.query_one("#users-table", DataTable)
        target = rows(table).index("alice")
        while table.cursor_row != target:
            await pilot.press("down" if table.cursor_row < target else "up")
        await pilot.press("e")
        await form_open(pilot, "Edit alice")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_group_form(snap_compare, make_app, users_data):
    """Editing a group: description, default permission, the members checklist."""

    async def before(pilot):
        await users_tab(pilot)
        await pilot.press("m")
        await form_open(pilot, "Edit group ops")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


FIXED_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def fixed_secret(monkeypatch):
    """The enrolment dialog shows a fixed secret (the server makes a new one each run)."""
    real = me_screen.confirm_form

    def fixed(client, _secret, _uri, required=False):
        uri = pyotp.TOTP(FIXED_SECRET).provisioning_uri(
            name="admin@MSPOrg", issuer_name="Strongroom"
        )
        return real(client, FIXED_SECRET, uri, required)

    monkeypatch.setattr(me_screen, "confirm_form", fixed)


def test_totp_dialog(snap_compare, make_app, users_data, fixed_secret):
    """Ctrl+T, t, the password, Enter: the whole QR code (finder patterns at three corners),
    the secret, the URI and the code field at 80x24, from the dialog's top."""

    async def before(pilot):
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(pilot.app.screen, MeScreen))
        await pilot.press("t")
        await form_open(pilot, "Set up two-factor")
        await type_text(pilot, ADMIN_PASSWORD)
        await pilot.press("enter")
        await form_open(pilot, "Two-factor authentication")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)
