"""Snapshots of the Organizations and Audit screens at 80x24, reached by keys: the edit
form with the account manager refusal, the import preview and results, the delete
preview, the audit filter form and the audit filtered to a time range without events
(event rows carry the time)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, type_text, until
from tests.tui.keys import cursor_to, fill, form_open, main_ready, screen_text, show_tab, text_of
from tests.tui.test_snapshots import shot_ready
from tests.tui.test_stories import make_user
from tui.screens.modals import TextModal
from tui.screens.org_import import ImportScreen

SIZE = (80, 24)
IMPORT_FILE = (
    "name,display_name,account_manager,department,location\r\n"
    "Delta Works,delta,admin,Ops,Lyon\r\n"
    "Echo Bad,echo bad,admin,,\r\n"
    "Foxtrot Inc,foxtrot,nobody,,\r\n"
)


@pytest.fixture(scope="module")
def snapshot_data(tui_server, tmp_path_factory):
    """An org with a user, a group, a resource and an account; a second administrator;
    an import file (written under a fixed name)."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    make_user(tui_server, admin, "snapadm", "administrator")
    tui_server.api(
        "POST",
        "/orgs",
        {
            "name": "Acme Ltd",
            "display_name": "acme",
            "account_manager": ADMIN,
            "description": "Our first client",
            "department": "Operations",
            "location": "Paris",
        },
        admin,
    )
    tui_server.api(
        "POST",
        "/orgs/acme/users",
        {"username": "ivy", "role": "password_user", "password": "ivy-initial-pw-1"},
        admin,
    )
    tui_server.api("POST", "/orgs/acme/groups", {"name": "staff", "members": ["ivy"]}, admin)
    _, res = tui_server.api("POST", "/orgs/acme/resources", {"name": "fw1", "type": "Linux"}, admin)
    tui_server.api(
        "POST",
        f"/orgs/acme/resources/{res['id']}/accounts",
        {"username": "root", "password": "Fw1-root-Secret!"},
        admin,
    )
    path = tmp_path_factory.mktemp("import") / "clients.csv"
    path.write_text(IMPORT_FILE)
    return path


async def at_orgs(pilot) -> DataTable:
    """Logged in as the MSP's administrator, on the organizations list with acme."""
    await log_in(pilot, ADMIN, ADMIN_PASSWORD)
    await main_ready(pilot)
    server = pilot.app.screen.query_one("#server", Static)
    await until(pilot, lambda: text_of(server).startswith("PRIMARY"))
    await show_tab(pilot, "f3", "orgs")
    table = pilot.app.screen.query_one("#orgs-table", DataTable)
    await cursor_to(pilot, table, "acme")
    return table


def test_edit_org_refused_manager(snap_compare, make_app, snapshot_data):
    """The edit form with every field; another account manager refused under its field."""

    async def before(pilot):
        await at_orgs(pilot)
        await pilot.press("e")
        form = await form_open(pilot, "Edit acme")
        await pilot.press("tab", "tab")
        await fill(pilot, ">snapadm")
        await pilot.press("enter")
        await until(pilot, lambda: form.query_one("#e-account_manager").has_class("shown"))
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_import_preview(snap_compare, make_app, snapshot_data):
    """The import's second step: what the file holds, its first rows, the confirmation."""

    async def before(pilot):
        await at_orgs(pilot)
        await pilot.press("i")
        await form_open(pilot, "Import organizations")
        await type_text(pilot, str(snapshot_data))
        await pilot.press("enter")
        await form_open(pilot, "Import clients.csv?")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_import_results(snap_compare, make_app, snapshot_data):
    """The import done: the bar full, each row created or refused with its reason."""

    async def before(pilot):
        await at_orgs(pilot)
        await pilot.press("i")
        await form_open(pilot, "Import organizations")
        await type_text(pilot, str(snapshot_data))
        await pilot.press("enter")
        await form_open(pilot, "Import clients.csv?")
        await type_text(pilot, "import")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, ImportScreen))
        await until(pilot, lambda: "Created" in screen_text(pilot.app))
        await pilot.press("down", "down")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_org_report(snap_compare, make_app, snapshot_data):
    """p on acme: details, users, groups, MSP staff and through what, requests waiting."""

    async def before(pilot):
        await at_orgs(pilot)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextModal))
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_delete_preview(snap_compare, make_app, snapshot_data):
    """Deleting acme: the counts of what goes with it, before the typed confirmation."""

    async def before(pilot):
        await at_orgs(pilot)
        await pilot.press("d")
        await form_open(pilot, "Delete acme")
        await type_text(pilot, "acm")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_audit_filter_form(snap_compare, make_app, snapshot_data):
    """The audit's filter form: operation picker, actor, from and to."""

    async def before(pilot):
        await at_orgs(pilot)
        await show_tab(pilot, "f5", "audit")
        await pilot.press("slash")
        await form_open(pilot, "Filter events")
        await fill(pilot, ">created", "admin", "2000-01-01", "2000-01-02 12:00")
        await pilot.press("enter")  # a range without events behind the form: no times
        table = pilot.app.screen.query_one("#audit-table", DataTable)
        line = pilot.app.screen.query_one("#audit-filters", Static)
        await until(pilot, lambda: "(0 shown)" in text_of(line) and table.row_count == 0)
        await pilot.press("slash")
        await form_open(pilot, "Filter events")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_audit_filtered(snap_compare, make_app, snapshot_data):
    """The audit with every filter set (a time range without events: rows carry times)."""

    async def before(pilot):
        await at_orgs(pilot)
        await show_tab(pilot, "f5", "audit")
        await pilot.press("slash")
        await form_open(pilot, "Filter events")
        await fill(pilot, ">created", "admin", "2000-01-01", "2000-01-02 12:00")
        await pilot.press("enter")
        line = pilot.app.screen.query_one("#audit-filters", Static)
        await until(pilot, lambda: "2000-01-02 12:00" in text_of(line))
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)
