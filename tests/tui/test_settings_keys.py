"""The Settings tab (F7) by keys only: a custom role with two permissions, a resource
type, an additional field, audit settings (an operation switched off, an alert, the
retention, a purge), and replicating MSPOrg's settings to two client orgs with the
role-clash rule 'rename'. Each step is checked against what the server then holds."""

from __future__ import annotations

import re

import pytest
from textual.widgets import DataTable, Select, Static

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, type_text, until
from tests.tui.keys import (
    cursor_to,
    drawn,
    fill,
    form_open,
    main_ready,
    notified,
    rows,
    screen_text,
    show_tab,
    submit,
    text_of,
    ticked,
)
from tui.main_screen import MainScreen
from tui.screens.audit_settings import AlertsScreen
from tui.screens.modals import KeysModal
from tui.screens.replicate import ReplicateScreen

CLIENTS = ("alpha", "beta")


@pytest.fixture(scope="module")
def two_clients(tui_server):
    """Two client orgs managed by admin; alpha has its own 'Helpdesk' role (so the MSP's
    arrives there as 'Helpdesk-MSP'); MSPOrg has a user group 'Ops'."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    for org in CLIENTS:
        status, body = tui_server.api(
            "POST",
            "/orgs",
            {"name": f"{org.title()} Ltd", "display_name": org, "account_manager": ADMIN},
            admin,
        )
        assert status == 201, body
    status, body = tui_server.api(
        "POST",
        "/orgs/alpha/roles",
        {"name": "Helpdesk", "permissions": ["read_audit"]},
        admin,
    )
    assert status == 201, body
    status, body = tui_server.api("POST", "/orgs/MSPOrg/groups", {"name": "Ops"}, admin)
    assert status == 201, body
    return admin


def items(tui_server, token: str, path: str) -> list[dict]:
    """A list from the API (one page is enough here)."""
    status, body = tui_server.api("GET", path + "?limit=1000", token=token)
    assert status == 200, body
    return body["items"]


async def test_settings_by_keys(tui_server, make_app, two_clients):
    admin = two_clients
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f7", "settings")
        screen = app.screen
        roles = screen.query_one("#roles-table", DataTable)
        await until(pilot, lambda: "password user" in rows(roles), what="(built-in roles)")
        assert rows(roles, 1)[0] == "built-in"

        # A custom role with two permissions, ticked in the checklist.
        await pilot.press("n")
        form = await form_open(pilot, "New custom role in MSPOrg")
        await fill(pilot, "Helpdesk", "Front desk")
        await pilot.press("tab", "m", "space", "r", "space")  # manage users, read audit
        await submit(pilot, form)
        await notified(pilot, "Role Helpdesk created in MSPOrg")
        await until(pilot, lambda: "Helpdesk" in rows(roles), what="(role listed)")
        held = {r["name"]: r for r in items(tui_server, admin, "/orgs/MSPOrg/roles")}
        assert held["Helpdesk"]["permissions"] == ["manage_users", "read_audit"]
        assert held["Helpdesk"]["description"] == "Front desk"

        # Built-in roles are not editable: e says so and opens nothing.
        await cursor_to(pilot, roles, "administrator")
        await pilot.press("e")
        await notified(pilot, "administrator is a built-in role")
        assert isinstance(app.screen, MainScreen)

        # Edit: untick read audit, tick add resources.
        await cursor_to(pilot, roles, "Helpdesk")
        await pilot.press("e")
        form = await form_open(pilot, "Edit role Helpdesk")
        await pilot.press("tab", "r", "space", "a", "space")
        await submit(pilot, form)
        await notified(pilot, "Role Helpdesk updated")
        held = {r["name"]: r for r in items(tui_server, admin, "/orgs/MSPOrg/roles")}
        assert held["Helpdesk"]["permissions"] == ["add_resources", "manage_users"]

        # A resource type.
        await pilot.press("2")
        types = screen.query_one("#types-table", DataTable)
        await until(pilot, lambda: screen.focused is types, what="(types section)")
        await pilot.press("n")
        form = await form_open(pilot, "New resource type")
        await type_text(pilot, "Mainframe")
        await submit(pilot, form)
        await until(pilot, lambda: "Mainframe" in rows(types), what="(type listed)")
        catalogue = {t["name"]: t for t in items(tui_server, admin, "/orgs/MSPOrg/resource-types")}
        assert catalogue["Mainframe"]["builtin"] is False

        # An additional field: a required choice field for Mainframe resources.
        await pilot.press("3")
        fields = screen.query_one("#fields-table", DataTable)
        await until(pilot, lambda: screen.focused is fields, what="(fields section)")
        await pilot.press("n")
        form = await form_open(pilot, "New additional field")
        await fill(pilot, "", ">Mainf", "rack", ">choice", "A1, B2", ">yes", "A1")
        await submit(pilot, form)
        await until(pilot, lambda: "rack" in rows(fields), what="(field listed)")
        assert rows(fields, 1) == ["resources: Mainframe"]
        (rack,) = items(tui_server, admin, "/orgs/MSPOrg/field-definitions")
        assert (rack["applies_to"], rack["resource_type"], rack["kind"]) == (
            "resource",
            "Mainframe",
            "choice",
        )
        assert (rack["choices"], rack["required"], rack["default"]) == (["A1", "B2"], True, "A1")

        # A secret field for resources is refused under its field; the form stays.
        await pilot.press("n")
        form = await form_open(pilot, "New additional field")
        await fill(pilot, "", "", "pin", ">secret")
        await pilot.press("enter")
        await until(pilot, lambda: form.query_one("#e-kind").has_class("shown"))
        assert "accounts" in text_of(form.query_one("#e-kind"))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))

        # Audit settings: stop recording a routine operation, alert on it, keep 45 days.
        await pilot.press("4")
        ops = screen.query_one("#audit-ops-table", DataTable)
        await until(pilot, lambda: screen.focused is ops, what="(audit section)")
        await cursor_to(pilot, ops, "resource updated")
        await pilot.press("r")
        await notified(pilot, "resource updated is no longer recorded")
        await pilot.press("a")  # kept, with a warning: an unrecorded operation cannot alert
        await notified(pilot, "resource updated is marked, but not recorded, so it cannot")
        await until(pilot, lambda: "ALERT (not recorded)" in rows(ops, 2))
        mute = screen.query_one("#audit-mute", Static)
        assert text_of(mute) == "resource updated: not recorded, so it cannot alert."
        await pilot.press("o")  # an alert on an operation that cannot be switched off
        form = await form_open(pilot, "Alert on an operation")
        await fill(pilot, ">role_created")
        await submit(pilot, form)
        await notified(pilot, "role created now raises an alert")
        await until(pilot, lambda: "role created" in rows(ops), what="(alert listed)")
        assert rows(ops, 1)[rows(ops).index("role created")] == "always"
        # l lists the alert events (role_created: the role made above), and says which
        # marked operation cannot alert; F1 lists the key.
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, KeysModal), what="(keys panel)")
        assert "List the org's audit alerts" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, AlertsScreen), what="(alerts)")
        alerts = app.screen.query_one("#items", DataTable)
        await until(pilot, lambda: "role created" in rows(alerts, 2), what="(alert events)")
        assert set(rows(alerts, 2)) == {"role created"} and ADMIN in rows(alerts, 1)
        note = text_of(app.screen.query_one("#list-note", Static))
        assert " of: role created." in note and "(s)" not in note  # '1 alert event of'
        assert re.search(r"\b\d+ alert events? of", note), note
        assert "resource updated: not recorded, so it cannot alert." in note
        _status, served = tui_server.api("GET", "/orgs/MSPOrg/audit/alerts", token=admin)
        assert len(served["items"]) == alerts.row_count
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("t")
        form = await form_open(pilot, "Audit retention of MSPOrg")
        await type_text(pilot, "45")
        await submit(pilot, form)
        _status, settings = tui_server.api("GET", "/orgs/MSPOrg/audit/settings", token=admin)
        assert settings["retention_days"] == 45
        updated = {o["operation"]: o for o in settings["operations"]}["resource_updated"]
        assert (updated["recorded"], updated["alert"]) == (False, True)
        created = {o["operation"]: o for o in settings["operations"]}["role_created"]
        assert (created["recorded"], created["alert"], created["switchable"]) == (
            True,
            True,
            False,
        )
        retention = screen.query_one("#audit-retention", Static)
        await until(pilot, lambda: "45 days" in text_of(retention))

        # Purge now, after typing 'purge': the server's answer is shown.
        await pilot.press("p")
        form = await form_open(pilot, "Purge old audit events")
        await type_text(pilot, "purg")
        await pilot.press("enter")  # not the word: refused in place
        await until(pilot, lambda: form.query_one("#e-confirm").has_class("shown"))
        await type_text(pilot, "e")
        await submit(pilot, form)
        purged = screen.query_one("#audit-purged", Static)
        await until(pilot, lambda: "Purge in MSPOrg" in text_of(purged))
        assert "nothing purged" in text_of(purged)  # every event is younger than 45 days

        # Replicate: roles, groups, types and fields to both client orgs, renaming clashes.
        await pilot.press("R")
        form = await form_open(pilot, "Replicate settings: choose")
        assert "last applied never" in screen_text(app)
        # user groups; additional fields, then user roles and resource types below it
        await pilot.press("u", "space", "a", "space", "down", "space", "down", "space")
        await pilot.press("tab")
        await fill(pilot, ">ren")
        await submit(pilot, form)
        replicate = app.screen
        assert isinstance(replicate, ReplicateScreen)
        results = replicate.query_one("#replicate-results", DataTable)
        await until(pilot, lambda: rows(results) == list(CLIENTS), what="(per-org results)")
        assert rows(results, 1) == ["applied", "applied"]
        assert "Applied to 2 client orgs; 0 failed" in screen_text(app)
        assert "User groups, Additional fields, User roles, Resource types" in screen_text(app)
        _status, saved = tui_server.api("GET", "/msp/replicate-settings", token=admin)
        assert saved["categories"] == [
            "user_groups",
            "additional_fields",
            "user_roles",
            "resource_types",
        ]
        assert saved["role_conflict"] == "rename"

        alpha_roles = {r["name"]: r for r in items(tui_server, admin, "/orgs/alpha/roles")}
        assert alpha_roles["Helpdesk"]["permissions"] == ["read_audit"]  # the client's own
        assert alpha_roles["Helpdesk-MSP"]["permissions"] == ["add_resources", "manage_users"]
        assert alpha_roles["Helpdesk-MSP"]["replicated"] is True
        beta_roles = {r["name"] for r in items(tui_server, admin, "/orgs/beta/roles")}
        assert "Helpdesk" in beta_roles
        for org in CLIENTS:
            assert "Ops" in {g["name"] for g in items(tui_server, admin, f"/orgs/{org}/groups")}
            kinds = {t["name"] for t in items(tui_server, admin, f"/orgs/{org}/resource-types")}
            assert "Mainframe" in kinds
            names = {d["name"] for d in items(tui_server, admin, f"/orgs/{org}/field-definitions")}
            assert "rack" in names

        # Applying again changes nothing (idempotent): zero created everywhere.
        await pilot.press("a")
        form = await form_open(pilot, "Replicate settings: choose")
        assert "last applied just now" in screen_text(app)
        # the saved choice, as the GET gave it (the checklist's rows on screen)
        assert ticked(form.query_one("#f-categories")) == [
            "User groups",
            "Additional fields",
            "User roles",
            "Resource types",
        ]
        assert drawn(form.query_one("#f-role_conflict")).strip().startswith("rename")
        await submit(pilot, form)
        await notified(pilot, "Applied to 2 client orgs")
        await until(pilot, lambda: rows(results, 2) == ["0", "0"], what="(nothing new)")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))

        # The tab follows the org in the top band: alpha's roles, the replica marked.
        band = app.screen.query_one("#org-select", Select)
        await until(pilot, lambda: "alpha" in [str(v) for _l, v in band._options])
        await pilot.press("1", "ctrl+o")
        await until(pilot, lambda: band.expanded)
        await type_text(pilot, "alpha")
        await pilot.press("enter")
        await until(pilot, lambda: "Helpdesk-MSP" in rows(roles), what="(alpha's roles)")
        kinds = dict(zip(rows(roles), rows(roles, 1), strict=True))
        assert (kinds["Helpdesk"], kinds["Helpdesk-MSP"]) == ("custom", "replicated")

        # Deleting in alpha: the replicated role (type its name) and the replicated field.
        await cursor_to(pilot, roles, "Helpdesk-MSP")
        await pilot.press("d")
        form = await form_open(pilot, "Delete role Helpdesk-MSP")
        await type_text(pilot, "Helpdesk-MSP")
        await submit(pilot, form)
        await until(pilot, lambda: "Helpdesk-MSP" not in rows(roles), what="(role gone)")
        assert "Helpdesk-MSP" not in {
            r["name"] for r in items(tui_server, admin, "/orgs/alpha/roles")
        }
        await pilot.press("3")
        await until(pilot, lambda: rows(fields) == ["rack"], what="(alpha's fields)")
        await pilot.press("d")
        form = await form_open(pilot, "Delete field rack")
        await type_text(pilot, "rack")
        await submit(pilot, form)
        await until(pilot, lambda: rows(fields) == [], what="(field gone)")
        assert items(tui_server, admin, "/orgs/alpha/field-definitions") == []
