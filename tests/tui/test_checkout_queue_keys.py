"""Password check-out in the Access pane, by keys: the approver's queue (with its count in
the top band), approve and reject with a reason; the requester's list with time left,
withdraw and check in; an administrator's holds list and forced check-in.

The world, in MSPOrg: admin, ca2 and ca3 (three independent administrators); creq, a
password user admin made, may view db01/sa; that account is under access control with ca2
(independent of creq) as its approver."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from tests.tui.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    log_in,
    resource_with_account,
    type_text,
    until,
)
from tests.tui.keys import (
    cursor_to,
    form_open,
    main_ready,
    notified,
    rows,
    screen_text,
    show_tab,
    submit,
    text_of,
)
from tests.tui.test_stories import make_user
from tests.tui.test_story_keys import log_out

ORG = "MSPOrg"


def build(server) -> dict:
    """The world above; returns tokens and the account's id."""
    admin = server.login(ADMIN, ADMIN_PASSWORD)
    for name in ("ca2", "ca3"):
        make_user(server, admin, name, "administrator")
    make_user(server, admin, "creq", "password_user")
    res, acct = resource_with_account(server, admin, "db01", "sa", "Checkout-Secret-1!", org=ORG)
    status, body = server.api(
        "POST",
        f"/orgs/{ORG}/resources/{res['id']}/shares",
        {"user": "creq", "permission": "view"},
        admin,
    )
    assert status == 201, body
    status, body = server.api(
        "PUT",
        f"/orgs/{ORG}/accounts/{acct['id']}/access-control",
        {"enabled": True, "approvers": ["ca2"], "max_window_minutes": 120, "exclusive": True},
        admin,
    )
    assert status == 200, body
    return {
        "admin": admin,
        "ca2": server.login("ca2", "final-ca2-pw22"),
        "creq": server.login("creq", "final-creq-pw22"),
        "account": acct["id"],
    }


def file_request(server, world: dict, reason: str) -> str:
    """creq asks for db01/sa for an hour (set-up around the app); the request's id."""
    status, body = server.api(
        "POST",
        f"/orgs/{ORG}/password-requests",
        {"account": world["account"], "reason": reason, "window_minutes": 60},
        world["creq"],
    )
    assert status == 201, body
    return body["id"]


def request_of(server, world: dict, rid: str) -> dict:
    """The request as the server holds it (seen by its requester)."""
    status, page = server.api(
        "GET", f"/orgs/{ORG}/password-requests?role=requester", token=world["creq"]
    )
    assert status == 200, page
    return next(r for r in page["items"] if r["id"] == rid)


def band_count(app) -> str:
    """The top band's '… to approve' ('' while hidden)."""
    count = app.screen.query_one("#to-approve", Static)
    return text_of(count) if count.display else ""


async def test_checkout_queue_by_keys(tui_server, make_app):
    """Approve → the requester holds it, sees time left, checks in; withdraw; reject with
    a reason; force check-in from the holds list."""
    world = build(tui_server)
    first = file_request(tui_server, world, "patch night")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        # The approver: the count in the band, the request in the queue, approve by y.
        await log_in(pilot, "ca2", "final-ca2-pw22")
        await main_ready(pilot)
        await until(pilot, lambda: band_count(app) == "1 to approve", what="(band count)")
        await show_tab(pilot, "f4", "access")
        queue = app.screen.query_one("#queue", DataTable)
        await until(
            pilot, lambda: rows(queue, 1) == ["check-out db01/sa"], what="(check-out queued)"
        )
        assert rows(queue) == [ORG] and rows(queue, 2) == ["creq"]
        await pilot.press("y")
        form = await form_open(pilot, "Approve check-out")
        note = screen_text(app)
        for words in ("db01/sa", "creq", "patch night", "60 minutes", "Expires"):
            assert words in note, words
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is not form, what="(approved)")
        await notified(pilot, "Approved: creq holds db01/sa")
        await until(pilot, lambda: queue.row_count == 0 and band_count(app) == "")
        assert request_of(tui_server, world, first)["status"] == "approved"
        await log_out(pilot)

        # The requester: time left on the approved window; check in by i.
        await log_in(pilot, "creq", "final-creq-pw22")
        await main_ready(pilot)
        await show_tab(pilot, "f4", "access")
        mine = app.screen.query_one("#mine", DataTable)
        await until(pilot, lambda: rows(mine, 1) == ["check-out db01/sa"], what="(my check-out)")
        keys = text_of(app.screen.query_one("KeyBar"))  # org access keys: administrators'
        assert "Check in" in keys and "Request" not in keys, keys
        status = rows(mine, 3)[0]
        assert status.startswith("held, ") and status.endswith("min left"), status
        await pilot.press("tab")  # from the queue to my requests
        await until(pilot, lambda: app.screen.focused is mine)
        await pilot.press("i")
        form = await form_open(pilot, "Check in db01/sa?")  # asks first
        await type_text(pilot, "yes")
        await submit(pilot, form)
        await notified(pilot, "Checked in db01/sa")
        await until(pilot, lambda: rows(mine, 3) == ["checked in"], what="(checked in)")
        held = request_of(tui_server, world, first)
        assert (held["status"], held["checked_in_by"]) == ("checked_in", "creq@MSPOrg")

        # Withdraw a pending one (filed meanwhile; Ctrl+R reloads).
        second = file_request(tui_server, world, "second look")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: "pending" in rows(mine, 3), what="(pending request)")
        await cursor_to(pilot, mine, "pending", 3)
        await pilot.press("w")
        await notified(pilot, "Withdrew the check-out request for db01/sa")
        assert request_of(tui_server, world, second)["status"] == "withdrawn"
        await log_out(pilot)

        # The approver rejects the next one with a reason.
        third = file_request(tui_server, world, "third time")
        await log_in(pilot, "ca2", "final-ca2-pw22")
        await main_ready(pilot)
        await show_tab(pilot, "f4", "access")
        queue = app.screen.query_one("#queue", DataTable)
        await until(pilot, lambda: rows(queue, 3) == ["third time"], what="(third queued)")
        await pilot.press("x")
        form = await form_open(pilot, "Reject check-out")
        await type_text(pilot, "not during the freeze")
        await submit(pilot, form)
        await notified(pilot, "Rejected the check-out of db01/sa")
        rejected = request_of(tui_server, world, third)
        assert (rejected["status"], rejected["decision_reason"]) == (
            "rejected",
            "not during the freeze",
        )
        await log_out(pilot)

        # An administrator sees who holds what and forces a check-in.
        fourth = file_request(tui_server, world, "fourth")
        status, body = tui_server.api(
            "POST", f"/orgs/{ORG}/password-requests/{fourth}/approve", {}, world["ca2"]
        )
        assert status == 200, body
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f4", "access")
        await pilot.press("g")
        holds = app.screen.query_one("#holds", DataTable)
        await until(pilot, lambda: rows(holds, 1) == ["creq"], what="(hold listed)")
        assert rows(holds) == ["db01/sa"] and rows(holds, 3)[0].endswith("min left")
        await pilot.press("i")
        form = await form_open(pilot, "Force check-in of db01/sa")
        await type_text(pilot, "creq")
        await submit(pilot, form)
        await notified(pilot, "Checked in db01/sa held by creq")
        await until(pilot, lambda: holds.row_count == 0, what="(hold gone)")
    forced = request_of(tui_server, world, fourth)
    assert (forced["status"], forced["checked_in_by"]) == ("checked_in", f"{ADMIN}@MSPOrg")
    status, audit = tui_server.api(
        "GET", f"/orgs/{ORG}/audit?operation=password_checked_in", token=world["admin"]
    )
    assert status == 200, audit
    assert [e["details"].get("forced") for e in audit["items"]][:2] == [True, False], audit
