"""The Settings tab's directory section (F7, 5) by keys only (issue 32, item 4): MSPOrg's
directory set in the form (it waits for approval), test connection, then, once a second
administrator approved it, sync now; the directory user is marked in the Users list."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from textual.widgets import DataTable, Static

from tests.targets.slapd import Slapd, running_slapd
from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, settle, until
from tests.tui.keys import (
    drawn,
    fill,
    form_open,
    main_ready,
    notified,
    picker_options,
    rows,
    show_tab,
    submit,
    text_of,
)

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/sbin/slapd"), reason="OpenLDAP slapd is not installed"
)


@pytest.fixture(scope="module")
def ldap() -> Iterator[Slapd]:
    with running_slapd() as server:
        server.add_group("msp-admins")
        server.add_user("mspdir", "mspdir-Directory-pw", name="Dir Admin", groups=["msp-admins"])
        yield server


def person(tui_server, admin: str, username: str) -> str:
    """An MSPOrg founding administrator with its own password; its session token."""
    initial, final = f"initial-{username}-pw1", f"final-{username}-pw22"
    status, body = tui_server.api(
        "POST",
        "/orgs/MSPOrg/users",
        {"username": username, "role": "administrator", "password": initial},
        admin,
    )
    assert status == 201, body
    token = tui_server.login(username, initial)
    status, body = tui_server.api(
        "POST", "/me/password", {"current_password": initial, "new_password": final}, token
    )
    assert status == 204, body
    return tui_server.login(username, final)


async def test_directory_section_by_keys(tui_server, make_app, ldap):
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    person(tui_server, admin, "second")
    honest = person(tui_server, admin, "honest")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f7", "settings")
        screen = app.screen
        await pilot.press("5")
        table = screen.query_one("#directory-table", DataTable)
        note = screen.query_one("#directory-note", Static)
        result = screen.query_one("#directory-result", Static)
        await until(pilot, lambda: screen.focused is table, what="(directory section)")
        await until(pilot, lambda: "has no directory" in text_of(note), what="(no directory)")

        # The dialog opens at its top (title and URL label on screen at 24 lines); plain
        # LDAP is refused in the form's words (StartTLS, not the API's start_tls).
        await pilot.press("e")
        form = await form_open(pilot, "Directory of MSPOrg")
        await settle(pilot)
        assert form.query_one(".dialog").scroll_y == 0
        plain = "ldap://" + ldap.ldaps_url.split("://", 1)[1]
        await fill(
            pilot,
            plain,
            "",
            str(ldap.ca_file),
            ldap.bind_dn,
            ldap.bind_password,
            ldap.people_dn,
        )
        await pilot.press("enter")
        url_error = form.query_one("#e-url")
        await until(pilot, lambda: "plain LDAP" in drawn(url_error), what="(plain refused)")
        said = " ".join(drawn(url_error).split())
        assert "StartTLS set to yes" in said and "start_tls" not in said, said
        await pilot.press("escape")
        await until(pilot, lambda: screen.focused is table, what="(form closed)")

        await pilot.press("e")
        form = await form_open(pilot, "Directory of MSPOrg")
        await fill(
            pilot,
            ldap.ldaps_url,
            "",
            str(ldap.ca_file),
            ldap.bind_dn,
            ldap.bind_password,
            ldap.people_dn,
            "",
            "",
            f"{ldap.group_dn('msp-admins')} -> administrator",
        )
        await submit(pilot, form)
        await notified(pilot, "waits for a second administrator")
        await until(pilot, lambda: ldap.ldaps_url in rows(table, 2), what="(pending shown)")
        assert rows(table, 1)[0] == ""  # nothing active yet

        await pilot.press("c")
        await until(pilot, lambda: "1 user found" in text_of(result), what="(test connection)")

        # The note says which key asks for approval (no raw request kind, no wrong key).
        assert "press a (Ask approval)" in text_of(note), text_of(note)
        assert "directory_config" not in text_of(note) and "F5" not in text_of(note)
        # a files the directory_config request: an eligible approver picked, a reason.
        await pilot.press("a")
        form = await form_open(pilot, "Ask approval of MSPOrg's directory")
        assert picker_options(form, "approver") == ["honest", "second"]
        await fill(pilot, ">honest", "new directory")
        await submit(pilot, form)
        await notified(pilot, "honest has been asked")
        status, queue = tui_server.api("GET", "/org-access-requests?role=approver", token=honest)
        assert [r["kind"] for r in queue["items"]] == ["directory_config"], queue
        request = queue["items"][0]
        # A second, independent administrator approves it.
        status, done = tui_server.api(
            "POST",
            f"/org-access-requests/{request['id']}/approve",
            {"current_password": "final-honest-pw22"},
            honest,
        )
        assert status == 200, done

        await pilot.press("s")
        await until(pilot, lambda: "created: mspdir" in text_of(result), what="(sync result)")
        await show_tab(pilot, "f6", "users")
        users = app.screen.query_one("#users-table", DataTable)
        await until(pilot, lambda: "mspdir" in rows(users), what="(directory user listed)")
        marked = dict(zip(rows(users), rows(users, 3), strict=True))
        assert marked["mspdir"] == "active (directory)" and marked["admin"] == "active"
