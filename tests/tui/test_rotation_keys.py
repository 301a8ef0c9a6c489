"""Passwords changed on the systems they open, by keys at 80x24 (issue 29): C sets a
resource's connection and pins the host key shown for confirmation, R changes an
account's password on a real sshd, V verifies it, H reveals the earlier one; a changed
host key is refused and said in words, and W's rotation report lists it (v verifies it
again from there). A resource group's schedule is set with t in the resource groups
dialog; a control that rotates at check-in on a resource without a connection is said in
the access control view. Each step is checked on the target or the server itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable

from tests.conftest import OWNER
from tests.targets.sshd import Sshd
from tests.tui.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    log_in,
    resource_with_account,
    settle,
    type_text,
    until,
)
from tests.tui.keys import (
    cursor_to,
    drawn,
    fill,
    form_open,
    main_ready,
    notified,
    pick,
    rows,
    screen_text,
    submit,
    text_of,
    type_burst,
)
from tests.tui.test_vault_keys import close_list, focus_accounts, focus_resources, list_open
from tui.controls.keybar import KeyBar
from tui.logic.times import local_minute
from tui.screens.modals import KeysModal, RevealModal
from tui.screens.rotation_report import report_rows

pytestmark = pytest.mark.skipif(
    not Sshd.available(), reason="openssh-server is not installed (./setup/test.sh installs it)"
)
P0 = "Start-Pass-0001x"
R0 = "Recon-Pass-0001x"


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    """An sshd of the test's own (its users are removed when it stops)."""
    with Sshd.started() as daemon:
        yield daemon


async def test_connection_change_verify_history_by_keys(tui_server, make_app, sshd):
    """The whole story by keys, checked by logging in to the target."""
    user = sshd.add_user(P0)
    root = sshd.add_user(R0, root=True)
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    status, res = tui_server.api(
        "POST",
        "/orgs/MSPOrg/resources",
        {"name": "tgt-01", "type": "Linux", "url": f"ssh://{sshd.host}:{sshd.port}"},
        admin,
    )
    assert status == 201, res
    ids = {}
    for name, password in ((user, P0), (root, R0)):
        status, acct = tui_server.api(
            "POST",
            f"/orgs/MSPOrg/resources/{res['id']}/accounts",
            {"username": name, "password": password},
            admin,
        )
        assert status == 201, acct
        ids[name] = acct["id"]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        resources = app.screen.query_one("#resources", DataTable)
        await cursor_to(pilot, resources, "tgt-01")
        # V before the resource has a connection: the refusal alone, no "Logging in…".
        accounts = await focus_accounts(pilot)
        await cursor_to(pilot, accounts, root)
        assert "R Change" not in str(app.screen.query_one(KeyBar).render())  # no target yet
        await pilot.press("V")
        await notified(pilot, f"{root} was not verified: its resource has no connection")
        assert not [n for n in app._notifications if "Logging in" in n.message]
        await focus_resources(pilot)
        await pilot.press("C")
        form = await form_open(pilot, "Connection of tgt-01 to its target")
        await pilot.press("tab")  # the connector: ssh, the one that serves Linux
        # Host starts from the resource's address (newcomer pass 10).
        assert sshd.host in drawn(form.query_one("#f-host"))
        await pilot.press("tab")
        await type_text(pilot, str(sshd.port))
        await pilot.press("tab")
        await pick(pilot, root)
        await submit(pilot, form)
        form = await form_open(pilot, f"Pin the host key of {sshd.host}:{sshd.port}?")
        await type_text(pilot, "yes")
        await submit(pilot, form)
        await notified(pilot, f"Host key {sshd.fingerprint} pinned for tgt-01.")
        _, conn = tui_server.api(
            "GET", f"/orgs/MSPOrg/resources/{res['id']}/connection", token=admin
        )
        assert (conn["host_key"], conn["reconciliation_username"]) == (sshd.fingerprint, root)

        accounts = await focus_accounts(pilot)
        await cursor_to(pilot, accounts, user)
        # With a connection, the accounts' key bar holds R V H after reveal and copy
        # (they were only under F1 at 80 columns: newcomer pass, session 8).
        bar = app.screen.query_one(KeyBar)
        for item in ("R Change", "V Verify", "H History"):
            await until(
                pilot, lambda item=item: item in str(bar.render()), what=f"({item}) {bar.render()}"
            )
        assert str(bar.render()).index("c Copy") < str(bar.render()).index("R Change")
        await pilot.press("R")
        form = await form_open(pilot, f"Change the password of {user} on its target?")
        await type_text(pilot, "yes")
        await submit(pilot, form)
        await notified(pilot, f"The password of {user} was changed on its target and verified")
        _, shown = tui_server.api("POST", f"/orgs/MSPOrg/accounts/{ids[user]}/reveal", {}, admin)
        new = shown["password"]
        assert await sshd.can_login(user, new) and not await sshd.can_login(user, P0)
        # The accounts' title says the highlighted password's state on its target.
        title = app.screen.query_one("#accounts-title")
        await until(
            pilot, lambda: "target: changed" in str(title.render()), what="(state in the title)"
        )
        assert "verified" in str(title.render())

        await pilot.press("V")
        await notified(pilot, f"{user} logs in to its target with the vault's password.")

        await pilot.press("H")
        form = await form_open(pilot, f"Earlier passwords of {user} (1)")
        await submit(pilot, form)
        await until(pilot, lambda: isinstance(app.screen, RevealModal), what="(reveal)")
        assert app.screen._password == P0
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RevealModal), what="(closed)")

        # The target now presents another key: nothing is sent, and it is said in words.
        sshd.replace_host_key()
        await cursor_to(pilot, accounts, user)
        await pilot.press("R")
        form = await form_open(pilot, f"Change the password of {user} on its target?")
        await type_text(pilot, "yes")
        await submit(pilot, form)
        await notified(pilot, "the target presented another host key than the pinned one")
        assert await sshd.can_login(user, new)

        # W: the rotation report lists the failed change in words; v verifies it again
        # (refused for the same reason), and the verification joins the report.
        await pilot.press("W")
        table = await list_open(pilot, "Rotation report of MSPOrg")
        await until(pilot, lambda: f"tgt-01/{user}" in rows(table), what="(report row)")
        whole = (
            "change failed: the target presented another host key than the pinned one, so "
            "nothing was sent (check the server; pin the new key with C only if it is expected)"
        )
        # At 80 columns the problem is cut with '…' (it was clipped), and said whole
        # under the counts for the highlighted row (newcomer pass, session 9).
        (shown,) = rows(table, 1)
        assert shown.endswith("…") and whole.startswith(shown[:-1]), shown
        assert [text_of(cells[1]) for cells in table.full_cells.values()] == [whole]
        note = app.screen.query_one("#list-note")
        await until(pilot, lambda: whole in " ".join(text_of(note).split()), what="(whole)")
        assert "␊" not in screen_text(app)  # the problem on its own line, no raw line feed
        await pilot.press("v")
        await notified(pilot, f"tgt-01/{user} does not log in to its target: the target presented")
        await until(pilot, lambda: len(rows(table)) == 2, what="(verification in the report)")
        assert text_of(table.full_cells[table.shown_rows[0][0]][1]).startswith(
            "verification failed: the target presented"
        )
        await settle(pilot)
        assert "␊" not in screen_text(app) and "␊" not in text_of(note)
        await close_list(pilot)


def test_report_rows_say_each_problem_in_words():
    """The report's three lists as rows, the reasons through the words given."""
    report = {
        "failed_verifications": [
            {
                "id": "1",
                "account": "a",
                "resource": "r",
                "at": "2026-12-07T05:01:02+00:00",
                "reason": "login_failed",
            }
        ],
        "failed_changes": [],
        "over_age": [
            {"id": "2", "account": "b", "resource": "r", "age_days": 9, "max_age_days": 7}
        ],
    }
    assert report_rows(report, lambda reason: f"<{reason}>") == [
        (
            "verify:1",
            (
                "r/a",
                "verification failed: <login_failed>",
                local_minute("2026-12-07T05:01:02+00:00"),
            ),
        ),
        ("age:2", ("r/b", "9 days old (its policy: at most 7)", "")),
    ]


async def test_group_schedule_report_key_and_vault_only_rotation_by_keys(
    tui_server, make_app, pg_server, database
):
    """t in the resource groups dialog sets the group's schedule (the server then holds
    it, the list shows it); W is in F1 and the palette; an account whose control rotates
    at check-in while its resource has no connection (a control made before issue 29) says
    so in its access control view."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    res, acct = resource_with_account(tui_server, admin, "tgt-02", "legacy", P0)
    status, group = tui_server.api(
        "POST", "/orgs/MSPOrg/resource-groups", {"name": "rot-grp", "resources": [res["id"]]}, admin
    )
    assert status == 201, group
    # A control with rotation at check-in, then the connection gone (as before issue 29).
    status, _ = tui_server.api(
        "PUT",
        f"/orgs/MSPOrg/resources/{res['id']}/connection",
        {"connector": "ssh", "host": "127.0.0.1", "port": 22},
        admin,
    )
    assert status == 200
    status, body = tui_server.api(
        "PUT",
        f"/orgs/MSPOrg/accounts/{acct['id']}/access-control",
        {"enabled": True, "approvers": ["admin"], "rotate_on_checkin": True},
        admin,
    )
    assert status == 200, body
    conn = await asyncpg.connect(
        host="127.0.0.1",
        port=pg_server.port,
        user=OWNER,
        password=pg_server.owner_password,
        database=database,
    )
    try:
        async with conn.transaction():
            org_id = await conn.fetchval("SELECT id FROM orgs WHERE is_msp")
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            gone = await conn.execute(
                "DELETE FROM resource_connections WHERE resource_id = $1", uuid.UUID(res["id"])
            )
        assert gone == "DELETE 1"
    finally:
        await conn.close()

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, KeysModal), what="(keys)")
        assert "Rotation report (failed checks, passwords past max age)" in screen_text(app)
        await pilot.press("escape")
        await main_ready(pilot)
        # The palette offers it by name, and runs it.
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="(palette)")
        await type_burst(pilot, "Rotation report")
        commands = app.screen.query_one(CommandList)
        await until(pilot, lambda: commands.option_count > 0, what="(palette entries)")
        await pilot.pause(0.3)
        offered = [commands.get_option_at_index(i).hit.text for i in range(commands.option_count)]
        assert offered[0].startswith("Vault: Rotation report"), offered
        await pilot.press("enter")
        await list_open(pilot, "Rotation report of MSPOrg")
        await close_list(pilot)

        await pilot.press("G")
        table = await list_open(pilot, "Resource groups of MSPOrg")
        await cursor_to(pilot, table, "rot-grp")
        assert rows(table, 2)[rows(table).index("rot-grp")] == "—"
        await pilot.press("t")
        form = await form_open(pilot, "Rotation schedule of resource group rot-grp")
        await fill(pilot, "30", "12")
        await submit(pilot, form)
        await notified(
            pilot,
            "Resource group rot-grp: passwords rotated every 30 days and verified every 12 hours.",
        )
        await until(
            pilot,
            lambda: rows(table, 2)[rows(table).index("rot-grp")] == "every 30 d, verify 12 h",
            what="(schedule shown)",
        )
        _, groups = tui_server.api("GET", "/orgs/MSPOrg/resource-groups", token=admin)
        mine = next(g for g in groups["items"] if g["name"] == "rot-grp")
        assert mine["rotation_schedule"] == {"rotate_every_days": 30, "verify_every_hours": 12}
        await close_list(pilot)

        resources = app.screen.query_one("#resources", DataTable)
        await cursor_to(pilot, resources, "tgt-02")
        accounts = await focus_accounts(pilot)
        await cursor_to(pilot, accounts, "legacy")
        await pilot.press("A")
        await form_open(pilot, "Access control of account")
        assert "Its new password at check-in is kept only here: the resource has no " in (
            screen_text(app).replace("\n", " ")
        )
        await pilot.press("escape")
