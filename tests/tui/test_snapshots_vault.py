"""Snapshots of the vault's screens at 80x24 (cursor blink off, fixed data without times,
reached by keys): the pane with additional fields and check-out states, the new-resource
form with the org's fields, the shares, resource groups and policies dialogs, and the
check-out request a reveal of a controlled password leads to."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, settle, until
from tests.tui.keys import form_open, main_ready, rows, text_of
from tests.tui.test_snapshots import no_blink
from tests.tui.test_stories import make_user
from tui.screens.listing import ListModal

SIZE = (80, 24)


@pytest.fixture(scope="module")
def vault_snap(tui_server):
    """A password administrator with one Linux resource (an additional field), an open
    account and one under access control with a pending request, a share, a resource
    group and an own policy."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "vsnap", "password_administrator")
    make_user(tui_server, admin, "vsappr", "administrator")
    make_user(tui_server, admin, "carol", "password_user")
    for definition in (
        {"applies_to": "resource", "name": "os", "kind": "choice", "choices": ["Debian", "Ubuntu"]},
        {"applies_to": "account", "name": "pin", "kind": "secret"},
    ):
        status, body = tui_server.api("POST", "/orgs/MSPOrg/field-definitions", definition, admin)
        assert status == 201, body
    token = tui_server.login("vsnap", password)

    def call(method: str, path: str, body: dict | None = None, status: int = 201) -> dict:
        got, answer = tui_server.api(method, "/orgs/MSPOrg" + path, body, token)
        assert got == status, answer
        return answer

    db01 = call(
        "POST",
        "/resources",
        {"name": "db01", "type": "Linux", "url": "db01.example.net", "fields": {"os": "Debian"}},
    )
    accounts = f"/resources/{db01['id']}/accounts"
    call(
        "POST",
        accounts,
        {"username": "root", "password": "Fixed-Snapshot-pw-1!", "policy": "Medium"},
    )
    svc = call("POST", accounts, {"username": "svc", "password": "Fixed-Snapshot-pw-2!"})
    call(
        "PUT",
        f"/accounts/{svc['id']}/access-control",
        {"enabled": True, "approvers": ["vsappr"], "max_window_minutes": 60},
        status=200,
    )
    call("POST", f"/resources/{db01['id']}/shares", {"user": "carol", "permission": "view"})
    call("POST", "/resource-groups", {"name": "linux-boxes", "resources": [db01["id"]]})
    call(
        "POST",
        "/password-policies",
        {"name": "pin6", "min_length": 6, "max_length": 6, "require_digit": True},
    )
    return "vsnap", password


async def shot_ready(pilot) -> None:
    """Let the last repaint land, then freeze the cursors."""
    await settle(pilot)
    no_blink(pilot.app)


async def vault_settled(pilot, login: tuple[str, str]) -> DataTable:
    """Logged in, db01's accounts loaded with their states; the accounts list focused."""
    await log_in(pilot, *login)
    await main_ready(pilot)
    accounts = pilot.app.screen.query_one("#accounts", DataTable)
    server = pilot.app.screen.query_one("#server", Static)
    await until(
        pilot,
        lambda: text_of(server).startswith("PRIMARY") and rows(accounts) == ["root", "svc"],
        what="(vault loaded)",
    )
    return accounts


async def list_shown(pilot, rows_wanted: int) -> None:
    """A list dialog on top with its rows loaded."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, ListModal))
    table = app.screen.query_one("#items", DataTable)
    await until(pilot, lambda: table.row_count == rows_wanted, what="(list loaded)")


def test_vault_pane(snap_compare, make_app, vault_snap):
    """db01 with its field on the accounts' title line; svc free under access control."""

    async def before(pilot):
        accounts = await vault_settled(pilot, vault_snap)
        await until(pilot, lambda: rows(accounts, 3) == ["", "free"])
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_new_resource_form(snap_compare, make_app, vault_snap):
    """n: name, type picker, address, description and the org's 'os' choice."""

    async def before(pilot):
        await vault_settled(pilot, vault_snap)
        await pilot.press("n")
        await form_open(pilot, "New resource in MSPOrg")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_shares_dialog(snap_compare, make_app, vault_snap):
    """S on the resource: shared with carol (view), and the dialog's keys."""

    async def before(pilot):
        await vault_settled(pilot, vault_snap)
        await pilot.press("S")
        await list_shown(pilot, 1)
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_resource_groups_dialog(snap_compare, make_app, vault_snap):
    """G: linux-boxes with db01."""

    async def before(pilot):
        await vault_settled(pilot, vault_snap)
        await pilot.press("G")
        await list_shown(pilot, 1)
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_policies_dialog(snap_compare, make_app, vault_snap):
    """P: the four built-in policies and pin6."""

    async def before(pilot):
        await vault_settled(pilot, vault_snap)
        await pilot.press("P")
        await list_shown(pilot, 5)
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_check_out_request_form(snap_compare, make_app, vault_snap):
    """r on the controlled svc: the request form (reason, window)."""

    async def before(pilot):
        await vault_settled(pilot, vault_snap)
        await pilot.press("tab", "down", "r")
        await form_open(pilot, "Request the password of svc")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_access_control_form(snap_compare, make_app, vault_snap):
    """A on the controlled svc: on, vsappr ticked among the org's users and groups, the
    approvals, the longest window, exclusive and rotation."""

    async def before(pilot):
        await vault_settled(pilot, vault_snap)
        await pilot.press("tab", "down", "A")
        await form_open(pilot, "Access control of account db01/svc")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)
