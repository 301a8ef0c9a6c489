"""Keys typed right after the Enter that saves a form (issue 35, item 1): while the server
answers, they wait in order; when the form closes they go to the list under it (so ``a``
opens the next form and the rest fills it), when the server refuses they go into the
form again. Each case is one burst of key events while every save takes 0.6 s."""

from __future__ import annotations

import asyncio

from textual import events
from textual.widgets import DataTable

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, until
from tests.tui.keys import cursor_to, main_ready, notified, rows, show_tab
from tui.main_screen import MainScreen
from tui.screens.form import FormModal

SLOW = 0.6  # seconds every save takes (a slow server, or a slow link)
NAMED = {"Tab": ("tab", "\t"), "Enter": ("enter", "\r"), "Escape": ("escape", "\x1b")}


async def burst(pilot, *parts: str) -> None:
    """Send ``parts`` as ONE burst of key events, without waiting for the screen between
    them (as tmux send-keys or a fast typist over SSH does): Tab, Enter and Escape are keys,
    anything else is typed text."""
    for part in parts:
        if part in NAMED:
            key, character = NAMED[part]
            pilot.app.post_message(events.Key(key, character))
            continue
        for character in part:
            key = "space" if character == " " else character
            pilot.app.post_message(events.Key(key, character))
    await pilot.pause()


def slowed(client, *names: str) -> list[str]:
    """Make the client's ``names`` take ``SLOW`` seconds more; the calls made, in order."""
    calls: list[str] = []
    for name in names:
        method = getattr(client, name)

        async def slow(*args, _method=method, _name=name, **kwargs):
            calls.append(_name)
            await asyncio.sleep(SLOW)
            return await _method(*args, **kwargs)

        setattr(client, name, slow)
    return calls


def forms_opened(app) -> list[str]:
    """Record the title of every dialog pushed from now on."""
    titles: list[str] = []
    push = app.push_screen

    def recording(screen, *args, **kwargs):
        titles.append(getattr(screen, "_title", type(screen).__name__))
        return push(screen, *args, **kwargs)

    app.push_screen = recording
    return titles


async def all_done(pilot) -> None:
    """No key waits any more and the main screen's list has the focus again."""
    app = pilot.app
    await until(
        pilot,
        lambda: (
            app.keys_queue.pending() == 0
            and isinstance(app.screen, MainScreen)
            and isinstance(app.screen.focused, DataTable)
        ),
        what="(every key handled, back on the list)",
    )


async def test_vault_accounts_typed_after_enter(tui_server, make_app):
    """``a postgres Enter a backup Tab S3cret-pass-123 Enter`` in one burst: both accounts
    are created (backup with the typed password); then ``a acct7 Enter a``: acct7 is
    created and the last ``a`` opens the next form."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    status, resource = tui_server.api(
        "POST", "/orgs/MSPOrg/resources", {"name": "tadb01", "type": "Linux"}, admin
    )
    assert status == 201, resource
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        table = app.screen.query_one("#resources", DataTable)
        await cursor_to(pilot, table, "tadb01")
        calls = slowed(app.client, "create_account")
        opened = forms_opened(app)
        await burst(pilot, "a", "postgres", "Enter", "a", "backup", "Tab", "S3cret-pass-123")
        await burst(pilot, "Enter")
        await notified(pilot, "Account backup added")
        await all_done(pilot)
        assert calls == ["create_account", "create_account"]
        assert opened == ["New account on tadb01"] * 2, opened
        _, found = tui_server.api("GET", f"/orgs/MSPOrg/resources/{resource['id']}", token=admin)
        names = sorted(a["username"] for a in found["accounts"])
        assert names == ["backup", "postgres"], found
        backup = next(a for a in found["accounts"] if a["username"] == "backup")
        status, shown = tui_server.api(
            "POST", f"/orgs/MSPOrg/accounts/{backup['id']}/reveal", {}, admin
        )
        assert status == 200 and shown["password"] == "S3cret-pass-123", shown

        await burst(pilot, "a", "acct7", "Enter", "a")
        await notified(pilot, "Account acct7 added")
        await until(
            pilot,
            lambda: isinstance(app.screen, FormModal) and app.screen.focused is not None,
            what="(the last a opened the next form)",
        )
        assert app.screen._title == "New account on tadb01"
        assert app.screen.values()["username"] == ""  # nothing of the burst leaked into it
        await pilot.press("escape")
        await all_done(pilot)


async def test_groups_typed_after_enter_and_after_a_refusal(tui_server, make_app):
    """``g grp2 Enter g grp3 Enter``: both groups. A refused save keeps the keys typed after
    its Enter for the form: ``g grp2 Enter 9 Enter`` (grp2 exists) ends with grp29 created."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f6", "users")
        calls = slowed(app.client, "create_group")
        opened = forms_opened(app)
        await burst(pilot, "g", "grp2", "Enter", "g", "grp3", "Enter")
        await notified(pilot, "Group grp3 created")
        await all_done(pilot)
        assert calls == ["create_group"] * 2 and opened == ["New group in MSPOrg"] * 2, opened
        _, groups = tui_server.api("GET", "/orgs/MSPOrg/groups", token=admin)
        items = groups["items"] if isinstance(groups, dict) else groups
        names = {g["name"] for g in items}
        assert {"grp2", "grp3"} <= names, names

        # Refused (the name is taken): the keys typed after Enter land in the form again.
        await burst(pilot, "g", "grp2", "Enter", "9", "Enter")
        await notified(pilot, "Group grp29 created")
        await all_done(pilot)
        assert opened == ["New group in MSPOrg"] * 3, opened
        _, groups = tui_server.api("GET", "/orgs/MSPOrg/groups", token=admin)
        items = groups["items"] if isinstance(groups, dict) else groups
        assert "grp29" in {g["name"] for g in items}


async def test_orgs_typed_after_enter_never_reach_the_list(tui_server, make_app):
    """On acme: ``n "Beta Ltd" Tab beta Enter n "Gamma Ltd" Tab gamma Enter``: both orgs
    created, nothing else opened, acme not deleted (the d of "Ltd" once reached the list
    and opened "Delete acme"). A type-to-confirm dialog is the same: on gamma,
    ``d gamma Enter n "Delta Ltd" Tab delta Enter`` deletes gamma and creates delta."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    status, body = tui_server.api(
        "POST",
        "/orgs",
        {"name": "Acme Corporation", "display_name": "acme", "account_manager": ADMIN},
        admin,
    )
    assert status in (201, 409), body
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f3", "orgs")
        table = app.screen.query_one("#orgs-table", DataTable)
        await cursor_to(pilot, table, "acme")
        calls = slowed(app.client, "create_org", "delete_org")
        opened = forms_opened(app)
        await burst(pilot, "n", "Beta Ltd", "Tab", "beta", "Enter")
        await burst(pilot, "n", "Gamma Ltd", "Tab", "gamma", "Enter")
        await notified(pilot, "Organization gamma created")
        await all_done(pilot)
        assert calls == ["create_org"] * 2
        assert opened == ["New organization"] * 2, opened
        await until(pilot, lambda: {"beta", "gamma", "acme"} <= set(rows(table)))
        for name, full in (("beta", "Beta Ltd"), ("gamma", "Gamma Ltd"), ("acme", "Acme")):
            status, org = tui_server.api("GET", f"/orgs/{name}", token=admin)
            assert status == 200 and org["name"].startswith(full), org

        await cursor_to(pilot, table, "gamma")
        await burst(pilot, "d", "gamma", "Enter", "n", "Delta Ltd", "Tab", "delta", "Enter")
        await notified(pilot, "Organization delta created")
        await all_done(pilot)
        assert calls == ["create_org"] * 2 + ["delete_org", "create_org"]
        assert opened[2:] == ["Delete gamma", "New organization"], opened
        assert tui_server.api("GET", "/orgs/gamma", token=admin)[0] == 404
        for name in ("acme", "beta", "delta"):
            assert tui_server.api("GET", f"/orgs/{name}", token=admin)[0] == 200, name
