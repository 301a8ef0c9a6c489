"""The TUI asks the server only what it lets the user have: a password user and a password
administrator who visit every tab shown (and every Settings section) leave no
``access_denied`` event in the audit trail (newcomer pass, session 10: hidden tabs
loaded, the server view asked GET /cluster, the Access tab asked for org access requests
and Settings for sections the role may not read, each one refused and recorded, and
counted as alerts when an administrator alerts on access denied)."""

from __future__ import annotations

import pytest

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, make_user, settle, until
from tests.tui.keys import main_ready, screen_text, show_tab
from tui.main_screen import MainScreen

USERS = {"plainuser": "password_user", "pwadmin": "password_administrator"}


@pytest.fixture(scope="module")
def people(tui_server) -> dict[str, str]:
    """A password user and a password administrator of MSPOrg: username → password."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    return {user: make_user(tui_server, admin, user, role) for user, role in USERS.items()}


def refusals(server, username: str) -> list[str]:
    """The targets of the ``access_denied`` events whose actor is ``username``."""
    admin = server.login(ADMIN, ADMIN_PASSWORD)
    status, page = server.api(
        "GET", "/orgs/MSPOrg/audit?operation=access_denied&limit=500", token=admin
    )
    assert status == 200, page
    return [e["target"] for e in page["items"] if e["actor"] == username]


async def visit_everything(pilot) -> None:
    """Every tab shown (F2..F7), every Settings section by its number, two rounds of the
    server view."""
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, MainScreen)
    for key, tab in (
        ("f2", "vault"),
        ("f3", "orgs"),
        ("f4", "access"),
        ("f5", "audit"),
        ("f6", "users"),
        ("f7", "settings"),
    ):
        if tab in screen.hidden:
            continue
        await show_tab(pilot, key, tab)
        await settle(pilot, 0.5)
        if tab == "settings":
            for number in "123456":
                await pilot.press(number)
                await settle(pilot, 0.5)
        if tab == "access":
            await pilot.press("g")  # the org's grants and holds, and back
            await settle(pilot, 0.5)
            await pilot.press("g")
            await settle(pilot, 0.5)
    for _round in range(2):
        screen.refresh_server()
        await settle(pilot, 0.5)
    await until(pilot, lambda: not any(w.is_running for w in app.workers), what="(all loaded)")


@pytest.mark.parametrize("username", sorted(USERS))
async def test_no_refused_requests(tui_server, make_app, people, username):
    """Logging in and visiting every tab shown asks nothing the server refuses."""
    before = refusals(tui_server, username)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot, username, people[username])
        await main_ready(pilot)
        await visit_everything(pilot)
        if username == "pwadmin":  # Settings: a section it may not read says why, in words
            await pilot.press("4")
            await settle(pilot, 0.3)
            assert "Audit settings are for administrators and auditors" in screen_text(app)
            await pilot.press("5")
            await settle(pilot, 0.3)
            assert "Only the org's administrators see and set its directory" in screen_text(app)
    refused = refusals(tui_server, username)
    assert refused == before, refused
