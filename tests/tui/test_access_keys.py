"""Org access requests of every kind in the Access pane, by keys: filed with pickers and an
approver the server says is eligible, approved (password) or rejected (reason) from the
approver's queue, withdrawn by the proposer; the org's grants listed and one revoked.

The world (a database of its own): admin, k2 and k3 are MSPOrg's three independent
administrators; s4 is an administrator k2 made (so k2's person); org accme is admin's,
with cu, a client administrator admin made (unconfirmed, has set its own password); the
MSPOrg group ops. k3 proposes everything, so admin approves what concerns s4 and k2
approves cu's confirmation (admin made cu)."""

from __future__ import annotations

import re

from textual.widgets import DataTable

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, type_text, until
from tests.tui.keys import (
    cursor_to,
    fill,
    form_open,
    main_ready,
    notified,
    picker_options,
    rows,
    screen_text,
    show_tab,
    submit,
    text_of,
)
from tests.tui.test_stories import make_user
from tests.tui.test_story_keys import log_out, pick_org

ORG = "accme"
K3 = ("k3", "final-k3-pw22")


def build(server) -> str:
    """The world above; admin's token."""
    admin = server.login(ADMIN, ADMIN_PASSWORD)
    for name in ("k2", "k3"):
        make_user(server, admin, name, "administrator")
    make_user(server, server.login("k2", "final-k2-pw22"), "s4", "administrator")
    status, body = server.api(
        "POST", "/orgs", {"name": "Accme Ltd", "display_name": ORG, "account_manager": ADMIN}, admin
    )
    assert status == 201, body
    make_user(server, admin, "cu", "administrator", org=ORG)
    status, body = server.api("POST", "/orgs/MSPOrg/groups", {"name": "ops"}, admin)
    assert status == 201, body
    return admin


def requests_of(server, token: str) -> dict[tuple[str, str], dict]:
    """The requests k3 filed, by (kind, what it names)."""
    status, page = server.api("GET", "/org-access-requests?role=proposer", token=token)
    assert status == 200, page
    return {(r["kind"], r.get("user") or r.get("group")): r for r in page["items"]}


async def file(pilot, key: str, title: str, *first: str, approver: str, reason: str) -> list:
    """Press ``key``, fill the first step, then the approver and a reason; the
    approvers the picker offered (no ``key``: the form is already on its way)."""
    if key:
        await pilot.press(key)
    form = await form_open(pilot, title)
    await fill(pilot, *first)
    await submit(pilot, form)
    form = await form_open(pilot, title.rsplit(" (", 1)[0])
    offered = picker_options(form, "approver")
    await fill(pilot, f">{approver}", reason)
    await submit(pilot, form)
    await notified(pilot, f"Request filed; {approver} has been asked")
    return offered


async def approve(pilot, queue: DataTable, what: str, password: str, *expected: str) -> None:
    """Cursor to the request, y, check the dialog names it, type the password, Enter."""
    await cursor_to(pilot, queue, what, 1)
    await pilot.press("y")
    form = await form_open(pilot, "Approve org access")
    note = screen_text(pilot.app)
    for words in expected:
        assert words in note, words
    await type_text(pilot, password)
    await submit(pilot, form)
    await notified(pilot, "Approved:")


async def test_every_request_kind_by_keys(tui_server, make_app):
    """k3 files one request of each kind and withdraws a fifth; admin approves two and
    rejects one; k2 approves the confirmation; admin revokes the grant from the list."""
    admin = build(tui_server)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, *K3)
        await main_ready(pilot)
        await show_tab(pilot, "f4", "access")
        offered = await file(
            pilot,
            "q",
            "Request org access (1 of 2)",
            f">{ORG}",
            ">user s4",
            approver=ADMIN,
            reason="night shift",
        )
        assert offered == [ADMIN]  # not k3 (proposer) nor k2 (s4's person)
        offered = await file(
            pilot,
            "m",
            "Request an account manager (1 of 2)",
            f">{ORG}",
            ">s4",
            approver=ADMIN,
            reason="backup manager",
        )
        assert offered == [ADMIN]
        await file(
            pilot,
            "j",
            "Request a group member (1 of 2)",
            ">ops",
            ">s4",
            approver=ADMIN,
            reason="joins ops",
        )
        # k3 does not manage accme: the user is typed; admin made cu, so k2 approves.
        await pilot.press("c")
        form = await form_open(pilot, "Request a user confirmation (1 of 3)")
        await fill(pilot, f">{ORG}")
        await submit(pilot, form)
        offered = await file(
            pilot,
            "",
            "Request a user confirmation (2 of 3)",
            "cu",
            approver="k2",
            reason="their first admin",
        )
        assert "k2" in offered and ADMIN not in offered and "k3" not in offered
        # A fifth, for the group ops, withdrawn again.
        await file(
            pilot,
            "q",
            "Request org access (1 of 2)",
            f">{ORG}",
            ">group ops",
            approver=ADMIN,
            reason="by mistake",
        )
        mine = app.screen.query_one("#mine", DataTable)
        await until(pilot, lambda: len(rows(mine)) == 5, what="(five requests)")
        await pilot.press("tab")
        await until(pilot, lambda: app.screen.focused is mine)
        await cursor_to(pilot, mine, "group ops", 1)
        await pilot.press("w")
        form = await form_open(pilot, "Withdraw org access request")
        await type_text(pilot, "wrong designee")
        await submit(pilot, form)
        await notified(pilot, "Withdrawn.")
        await until(pilot, lambda: "cancelled" in rows(mine, 3), what="(withdrawn)")
        await log_out(pilot)

        filed = requests_of(tui_server, tui_server.login(*K3))
        assert {k: r["status"] for k, r in filed.items()} == {
            ("grant", "s4"): "pending",
            ("account_manager", "s4"): "pending",
            ("group_member", "s4"): "pending",
            ("user_confirmation", "cu"): "pending",
            ("grant", "ops"): "cancelled",
        }
        assert filed[("grant", "ops")]["decision_reason"] == "wrong designee"

        # admin: three waiting (the band says so); approve two, reject one.
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        count = app.screen.query_one("#to-approve")
        await until(pilot, lambda: "3 to approve" in str(count.render()), what="(count 3)")
        await show_tab(pilot, "f4", "access")
        queue = app.screen.query_one("#queue", DataTable)
        await until(pilot, lambda: len(rows(queue)) == 3, what="(three to approve)")
        # Expires fits 80 columns: '7 d', not 'in 7 days' cut to 'in 7 da'.
        assert all(re.fullmatch(r"\d+ (d|h|min)", cell) for cell in rows(queue, 4)), rows(queue, 4)
        await approve(
            pilot, queue, "user s4", ADMIN_PASSWORD, ORG, "user s4", "k3", "night shift", "Expires"
        )
        await cursor_to(pilot, queue, "s4 into ops", 1)
        await pilot.press("x")
        form = await form_open(pilot, "Reject org access")
        assert "joins ops" in screen_text(app)
        await type_text(pilot, "ops is full")
        await submit(pilot, form)
        await notified(pilot, "Rejected.")
        await until(pilot, lambda: len(rows(queue)) == 1, what="(one left)")

        # The org's grants: s4's, revoked from the list.
        await pick_org(pilot, ORG)
        await show_tab(pilot, "f4", "access")
        bar = app.screen.query_one("KeyBar")
        assert "Approve" in text_of(bar)
        await pilot.press("g")
        grants = app.screen.query_one("#grants", DataTable)
        await until(pilot, lambda: rows(grants) == ["user s4"], what="(grant listed)")
        # The grants view shows its own keys only: no queue keys (y, x, q, w, m, j, c).
        await until(pilot, lambda: "Approve" not in text_of(bar), what="(queue keys gone)")
        queue_keys = ("y Approve", "x Reject", "q Request ", "w Withdraw", "m Manager")
        for gone in (*queue_keys, "j Join", "c Confirm"):
            assert gone not in text_of(bar), gone
        assert "Revoke" in text_of(bar) and "g Requests" in text_of(bar)
        await pilot.press("y")  # not a key of this view: nothing opens
        await pilot.pause()
        assert app.screen.focused is grants
        assert rows(grants, 1) == ["administrator"]
        await pilot.press("v")
        form = await form_open(pilot, f"Revoke org access to {ORG}")
        await submit(pilot, form)  # the highlighted grant is chosen
        await notified(pilot, f"Access of s4 to {ORG} revoked")
        await until(pilot, lambda: grants.row_count == 0, what="(grant gone)")
        _, access = tui_server.api("GET", f"/orgs/{ORG}/access", token=admin)
        assert access == {"users": [], "groups": []}

        # Last, the account manager: s4 manages accme instead of admin.
        await pilot.press("g")
        await until(pilot, lambda: app.screen.focused is queue)
        await approve(
            pilot,
            queue,
            "s4 as manager",
            ADMIN_PASSWORD,
            "account manager of accme",
            "backup manager",
        )
        await until(pilot, lambda: queue.row_count == 0, what="(queue empty)")
        await log_out(pilot)

        # k2 approves the confirmation of cu.
        await log_in(pilot, "k2", "final-k2-pw22")
        await main_ready(pilot)
        await show_tab(pilot, "f4", "access")
        queue = app.screen.query_one("#queue", DataTable)
        await until(pilot, lambda: rows(queue, 1) == ["confirm cu"], what="(confirmation queued)")
        await approve(
            pilot, queue, "confirm cu", "final-k2-pw22", "cu", "first administrator", "k3"
        )

    filed = requests_of(tui_server, tui_server.login(*K3))
    assert {k: r["status"] for k, r in filed.items()} == {
        ("grant", "s4"): "approved",
        ("account_manager", "s4"): "approved",
        ("group_member", "s4"): "rejected",
        ("user_confirmation", "cu"): "approved",
        ("grant", "ops"): "cancelled",
    }
    assert filed[("group_member", "s4")]["decision_reason"] == "ops is full"
    s4 = tui_server.login("s4", "final-s4-pw22")
    _, org = tui_server.api("GET", f"/orgs/{ORG}", token=s4)
    assert org["account_manager"] == "s4", org
    _, users = tui_server.api("GET", f"/orgs/{ORG}/users", token=s4)
    assert [u["confirmed"] for u in users["items"] if u["username"] == "cu"] == [True]
    _, group = tui_server.api("GET", "/orgs/MSPOrg/groups", token=admin)
    assert "s4" not in str(group)
