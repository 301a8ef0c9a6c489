"""What a newcomer met at 80x24 (issue 35), by keys: the audit list and the audit settings
say operations in words and times in local time, the audit list opens at its newest event,
the two administrator roles read apart, Enter opens a picker (and the dialog says so),
and a field's problem goes once the field is changed."""

from __future__ import annotations

import re

from textual.widgets import DataTable

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, type_text, until
from tests.tui.keys import drawn, form_open, main_ready, rows, screen_text, show_tab
from tui.api_types import ServerState
from tui.client import ApiError
from tui.controls.picker import Picker
from tui.logic.times import local_minute
from tui.main_screen import MainScreen
from tui.screens.modals import TextModal
from tui.screens.server_view import server_lines

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d|[+-]\d\d:\d\d\b")


async def test_what_a_newcomer_met(tui_server, make_app):
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    for i in range(24):  # more events than the list shows at 80x24
        status, res = tui_server.api(
            "POST", "/orgs/MSPOrg/resources", {"name": f"nc{i:02d}", "type": "Linux"}, admin
        )
        assert status == 201, res
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)

        # Audit: the newest event on top with the cursor on it; words and local times.
        await show_tab(pilot, "f5", "audit")
        table = app.screen.query_one("#audit-table", DataTable)
        await until(pilot, lambda: "nc23" in rows(table, 3), what="(events)")
        # Newer events on refresh (r): the cursor that was on the newest stays on top.
        tui_server.api("POST", "/orgs/MSPOrg/resources", {"name": "nc24", "type": "Linux"}, admin)
        status, events = tui_server.api("GET", "/orgs/MSPOrg/audit?limit=1", token=admin)
        assert status == 200, events
        (newest,) = events["items"]
        await pilot.press("r")
        await until(pilot, lambda: "nc24" in rows(table, 3), what="(refreshed)")
        await pilot.pause(0.3)
        shown = drawn(table)
        assert table.cursor_row == 0 and rows(table, 3)[0] == "nc24", rows(table, 3)[:3]
        assert "nc24" in shown and "nc00" not in shown, shown
        assert re.search(r"row 1 of \d+", shown), shown
        assert "resource created" in shown and "resource_created" not in shown, shown
        assert not ISO.search(shown), shown
        assert "When (UTC)" not in shown
        when = rows(table, 0)[0]
        assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d", when), when
        assert when == local_minute(newest["at"]), (when, newest["at"])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TextModal), what="(details)")
        details = screen_text(app)
        assert "Operation: resource created (A resource was added to the vault.)" in details
        assert not ISO.search(details), details
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))

        # Audit settings (F7, 4): operations in words.
        await show_tab(pilot, "f7", "settings")
        await pilot.press("4")
        ops = app.screen.query_one("#audit-ops-table", DataTable)
        await until(pilot, lambda: ops.row_count > 0 and app.screen.focused is ops)
        listed = drawn(ops)
        assert "resource updated" in listed and "resource_updated" not in listed, listed

        # Users (F6): the two administrator roles read apart, even cut short.
        await show_tab(pilot, "f6", "users")
        users = app.screen.query_one("#users-table", DataTable)
        await until(pilot, lambda: ADMIN in rows(users), what="(users)")
        assert "PRIVILEGED admin" in drawn(users), drawn(users)

        # New user: a server refusal under Username goes once the name is changed; Enter
        # on the Role picker opens its list (the key line says so), Enter chooses.
        await pilot.press("n")
        form = await form_open(pilot, "New user in MSPOrg")
        await type_text(pilot, "Bad Name!")
        await pilot.press("enter")
        error = form.query_one("#e-username")
        await until(pilot, lambda: error.has_class("shown"), what="(refused)")
        assert "Please correct" in drawn(form.query_one("#form-error"))
        assert drawn(error).strip()
        await pilot.press("backspace")
        await until(pilot, lambda: not error.has_class("shown"), what="(error cleared)")
        await pilot.pause(0.2)
        assert not drawn(error).strip()
        # The password is still marked: the summary stays until that one is changed too.
        assert "Please correct" in drawn(form.query_one("#form-error"))
        await pilot.press("ctrl+u")
        await type_text(pilot, "newbie")
        await pilot.press("tab", "tab", "tab")
        role = form.query_one("#f-role", Picker)
        await until(pilot, lambda: form.focused is role, what="(role picker)")
        keys = form.query_one(".dialog-keys")
        assert "Enter: open the list" in drawn(keys), drawn(keys)
        await pilot.press("enter")
        await until(pilot, lambda: role.expanded, what="(list open)")
        assert app.screen is form
        await type_text(pilot, "adm")
        await pilot.press("enter")
        await until(pilot, lambda: not role.expanded, what="(chosen)")
        assert "administrator" in drawn(role) and "PRIVILEGED" not in drawn(role)
        assert "Enter: add" in drawn(keys), drawn(keys)
        await pilot.press("tab")
        await type_text(pilot, "x")
        await until(pilot, lambda: not form.query_one("#e-password").has_class("shown"))
        await pilot.pause(0.2)
        assert not drawn(form.query_one("#form-error")).strip()
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))


class _Pair:
    """A client on a secondary whose primary has (or has not) a backup."""

    def __init__(self, primary: dict | None, own: str | None = None) -> None:
        self._primary, self.asked = primary, 0
        self.state = ServerState("https://node2:7272", "secondary", True, last_backup_at=own)
        self.endpoints, self.base = [], "https://node2:7272"

    async def health(self) -> ServerState:
        return self.state

    async def cluster(self) -> dict:
        raise ApiError("forbidden", "not an MSPOrg administrator")

    async def primary_backup(self) -> dict | None:
        self.asked += 1
        return self._primary


async def test_the_secondary_names_the_primarys_backup():
    """A secondary keeps no backups: its server view says the primary's last backup
    (asked of the primary), or that the primary does not answer; never a bare 'none'."""
    at = "2026-12-01T02:50:13+00:00"
    lines = await server_lines(_Pair({"at": at, "ok": True}))
    assert "last backup: 02:50:13 UTC (on the primary)" in lines[1], lines
    lines = await server_lines(_Pair({"at": at, "failure": "disk full"}))
    assert "last backup: 02:50:13 UTC (on the primary) (the latest attempt FAILED)" in lines[1]
    lines = await server_lines(_Pair({"at": None}))
    assert lines[1].endswith("last backup: none (on the primary)"), lines
    lines = await server_lines(_Pair(None))
    assert "last backup: unknown (the primary does not answer)" in lines[1]
    own = _Pair(None, own=at)  # a node with a backup of its own says its own
    assert "last backup: 02:50:13 UTC" in (await server_lines(own))[1] and not own.asked
