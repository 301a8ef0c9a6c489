"""What a new MSP administrator hit driving the TUI at 80x24 by keys alone (newcomer pass,
session 11), by keys: My account does not offer turning 2FA off where the org requires it;
the audit list's columns use the width there is; the org access request form leaves the
proposer out of the grantees and says at once when nobody may approve."""

from __future__ import annotations

import time

from textual.widgets import DataTable

from server.security import totp
from tests.tui.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    log_in,
    make_user,
    resource_with_account,
    until,
)
from tests.tui.keys import (
    drawn,
    fill,
    form_open,
    main_ready,
    picker_options,
    rows,
    screen_text,
    show_tab,
    text_of,
)
from tests.tui.test_me_keys import open_me
from tui.controls.keybar import KeyBar
from tui.controls.table import _room


async def test_two_factor_required_by_the_org_is_not_offered_off(tui_server, make_app):
    """A user of an org whose policy requires 2FA, with 2FA on: My account says in words
    that the org requires it, the key bar has no '2FA off' and o opens no form (the server
    would refuse: 409 totp_required); where nothing requires it, o still opens the form."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    status, body = tui_server.api(
        "POST", "/orgs", {"name": "Policy Co", "display_name": "nc12pol", "account_manager": ADMIN},
        admin,
    )  # fmt: skip
    assert status == 201, body
    password = make_user(tui_server, admin, "ncpolly", "password_user", org="nc12pol")
    own = tui_server.login("ncpolly", password, "nc12pol")
    _, enrol = tui_server.api("POST", "/me/totp", {"current_password": password}, own)
    status, done = tui_server.api(
        "POST", "/me/totp/confirm", {"otp": totp.code_at(enrol["secret"], time.time())}, own
    )
    assert status == 200, done
    codes = done["recovery_codes"]
    status, body = tui_server.api(
        "PUT", "/orgs/nc12pol/security-settings", {"totp_policy": "everyone"}, admin
    )
    assert status == 200, body
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "ncpolly", password, org="nc12pol", otp=codes[0])
        await main_ready(pilot)
        me = await open_me(pilot)
        await until(pilot, lambda: "recovery codes left" in screen_text(app), what="(profile)")
        said = screen_text(app)
        assert "Your organization requires two-factor sign-in for you: it stays on." in said
        bar = drawn(app.screen.query_one(KeyBar))
        assert "2FA off" not in bar, bar
        await pilot.press("o")
        await pilot.press("r")  # a key that opens a form: had o opened one, r lands in it
        await form_open(pilot, "New recovery codes")
        assert me is not None

    # Where nothing requires it, turning it off is offered as before.
    status, body = tui_server.api(
        "PUT", "/orgs/nc12pol/security-settings", {"totp_policy": "none"}, admin
    )
    assert status == 200, body
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "ncpolly", password, org="nc12pol", otp=codes[1])
        await main_ready(pilot)
        await open_me(pilot)
        await until(pilot, lambda: "recovery codes left" in screen_text(app), what="(profile)")
        assert "requires two-factor" not in screen_text(app)
        assert "2FA off" in drawn(app.screen.query_one(KeyBar))
        await pilot.press("o")
        await form_open(pilot, "Turn two-factor authentication off")


def _audit_fit(table: DataTable) -> tuple[list[int], list[int | None], int]:
    """(each column's natural width, its width on show, the room) of the audit list."""
    return table.fit_natural, table.fit_widths, _room(table)


async def test_audit_columns_use_the_width_there_is(tui_server, make_app):
    """F5 at 80x24: a target of 23 characters is drawn whole when the row fits (it was
    cut at 18 with room left on the line); a column is cut only when the rows do not fit
    the list; at 120x30 every cell is whole."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    _, account = resource_with_account(
        tui_server, admin, "core-router-01", "netadmin", "Net-admin-Secret-1!"
    )
    status, _ = tui_server.api(
        "POST", f"/orgs/MSPOrg/accounts/{account['id']}/reveal", {"reason": "check"}, admin
    )
    assert status == 200
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f5", "audit")
        table = app.screen.query_one("#audit-table", DataTable)
        await until(pilot, lambda: "password revealed" in rows(table, 2), what="(events)")
        await until(pilot, lambda: "core-router-01/netadmin" in drawn(table), what="(whole)")
        natural, widths, room = _audit_fit(table)
        padding = 2 * table.cell_padding * len(natural)
        if sum(natural) + padding <= room:
            assert widths == natural and "…" not in drawn(table), drawn(table)
        else:  # cut only as much as the rows overflow: the line is used to its end
            assert sum(w or 0 for w in widths) + padding >= room - 1, (widths, room)
        assert table.virtual_size.width <= table.size.width
        await pilot.resize_terminal(120, 30)
        await until(pilot, lambda: _room(table) > room, what="(wider)")
        await until(pilot, lambda: table.fit_widths == table.fit_natural, what="(refitted)")
        assert "…" not in drawn(table), drawn(table)


async def test_access_request_leaves_me_out_and_says_when_nobody_may_approve(tui_server, make_app):
    """F4, q at 80x24 in an MSP of two administrators: (a) the grantee picker does not
    offer me (the server refuses a request for its proposer); (b) asking access for the
    other administrator, nobody may approve (I propose it, it is given it): step 1 says so
    at once with the server's reason for each, stays open and asks for no approver."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    make_user(tui_server, admin, "ncadm2", "administrator")
    status, body = tui_server.api(
        "POST", "/orgs", {"name": "Access Co", "display_name": "nc12acc", "account_manager": ADMIN},
        admin,
    )  # fmt: skip
    assert status == 201, body
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f4", "access")
        await pilot.press("q")
        form = await form_open(pilot, "Request org access (1 of 2)")
        offered = picker_options(form, "designee")
        assert "user:ncadm2" in offered and f"user:{ADMIN}" not in offered, offered
        await fill(pilot, ">nc12acc", ">user ncadm2")
        await pilot.press("enter")
        error = form.query_one("#form-error")
        await until(pilot, lambda: "Nobody may approve" in text_of(error), what="(nobody)")
        said = text_of(error)
        assert f"{ADMIN}: " in said and "ncadm2: " in said, said
        assert "proposer" in said and "Esc" in said, said
        assert app.screen is form  # no step asking to pick an approver from nobody
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is not form, what="(closed)")
    status, page = tui_server.api("GET", "/org-access-requests?role=proposer", token=admin)
    assert status == 200 and not page["items"], page  # nothing was filed
