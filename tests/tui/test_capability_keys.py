"""What a custom role sees follows the server's capabilities (``GET /me``), not role names:
the tabs, the key bar and F1, the palette; and the audit's operation picker offers the
server's catalogue of audited operations (``GET /audit/operations``), no copy of it."""

from __future__ import annotations

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import TabbedContent, Tabs

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, make_user, until
from tests.tui.keys import (
    drawn,
    form_open,
    main_ready,
    picker_options,
    rows,
    screen_text,
    show_tab,
    type_burst,
)
from tui.screens.modals import KeysModal

ROLES = {"Auditing": ["read_audit"], "Desk": ["add_resources", "manage_users"]}
USERS = {"reader": "Auditing", "desk": "Desk"}


@pytest.fixture(scope="module")
def people(tui_server) -> dict[str, str]:
    """Two custom roles in MSPOrg and a user holding each: username → password."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    for name, permissions in ROLES.items():
        status, body = tui_server.api(
            "POST", "/orgs/MSPOrg/roles", {"name": name, "permissions": permissions}, admin
        )
        assert status == 201, body
    return {user: make_user(tui_server, admin, user, role) for user, role in USERS.items()}


async def keys_panel(pilot) -> str:
    """F1's text (the pane's keys and the keys everywhere); the panel is closed again."""
    app = pilot.app
    await pilot.press("f1")
    await until(pilot, lambda: isinstance(app.screen, KeysModal), what="(keys panel)")
    text = screen_text(app)
    await pilot.press("escape")
    await until(pilot, lambda: not isinstance(app.screen, KeysModal), what="(keys closed)")
    return text


async def palette_hits(pilot, search: str) -> list[str]:
    """The palette's entries for ``search`` (Ctrl+P, typed); the palette is closed again."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="(palette)")
    await type_burst(pilot, search)
    commands = app.screen.query_one(CommandList)
    await until(pilot, lambda: commands.option_count > 0, what="(palette hits)")
    await pilot.pause(0.3)  # every provider has answered
    hits = [commands.get_option_at_index(i).hit.text for i in range(commands.option_count)]
    await pilot.press("escape")
    await until(pilot, lambda: not isinstance(app.screen, CommandPalette), what="(closed)")
    return hits


def tab_bar(app) -> str:
    """The tab titles as drawn."""
    return drawn(app.screen.query_one(Tabs))


async def test_read_audit_only(tui_server, make_app, people):
    """A custom role with only read_audit: the Audit tab and its keys, not Users or
    Settings, no New resource or Groups key; F6 does nothing. The filter's operation
    picker offers exactly the server's catalogue."""
    reader = tui_server.login("reader", people["reader"])
    status, served = tui_server.api("GET", "/me", token=reader)
    assert status == 200
    assert served["capabilities"] == {"MSPOrg": ["read_audit"]}
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot, "reader", people["reader"])
        await main_ready(pilot)
        bar = tab_bar(app)
        assert "Vault F2" in bar and "Audit F5" in bar
        assert "Users F6" not in bar and "Settings F7" not in bar
        keys = await keys_panel(pilot)  # the vault's keys and the keys everywhere
        assert "Reveal the password" in keys and "Show the Audit tab" in keys
        for hidden in ("New resource", "Resource groups", "Show the Users tab"):
            assert hidden not in keys, hidden
        assert "Show the Settings tab" not in keys
        hits = await palette_hits(pilot, "Go to")
        assert "Go to Audit" in hits and "Go to Users" not in hits
        await pilot.press("f6")
        await pilot.pause(0.2)
        assert app.screen.query_one(TabbedContent).active == "vault"

        await show_tab(pilot, "f3", "orgs")  # the orgs it may look at; no org changes
        keys = await keys_panel(pilot)
        assert "Org report" in keys
        for hidden in ("New org", "Edit the org", "Delete the org", "Import orgs from a file"):
            assert hidden not in keys, hidden

        await show_tab(pilot, "f5", "audit")
        keys = await keys_panel(pilot)
        assert "Filter events" in keys and "Verify the chain" in keys
        table = app.screen.query_one("#audit-table")
        await until(pilot, lambda: "login" in rows(table, 2), what="(events)")
        await pilot.press("slash")
        form = await form_open(pilot, "Filter events")
        token = tui_server.login(ADMIN, ADMIN_PASSWORD)
        status, catalogue = tui_server.api("GET", "/audit/operations", token=token)
        assert status == 200
        names = sorted(o["name"] for o in catalogue["operations"])
        assert picker_options(form, "operation") == ["any", *names]
        assert "password_not_changed" not in names  # an error code the old copy listed


async def test_manage_users_and_add_resources(tui_server, make_app, people):
    """A custom role with manage_users and add_resources: Users and Settings, not Audit;
    the vault's New key but not Groups (manage_vault)."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await log_in(pilot, "desk", people["desk"])
        await main_ready(pilot)
        bar = tab_bar(app)
        assert "Users F6" in bar and "Settings F7" in bar and "Audit F5" not in bar
        keys = await keys_panel(pilot)
        assert "New resource" in keys and "Show the Users tab" in keys
        assert "Resource groups" not in keys and "Show the Audit tab" not in keys
        hits = await palette_hits(pilot, "Go to")
        assert "Go to Users" in hits and "Go to Audit" not in hits
        await show_tab(pilot, "f6", "users")
        await show_tab(pilot, "f7", "settings")
        keys = await keys_panel(pilot)
        assert "Replicate settings to client orgs" not in keys  # manage_orgs: none
