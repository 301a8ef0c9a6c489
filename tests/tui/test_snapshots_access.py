"""Snapshots of the Access pane at 80x24, reached by keys: the approver's queue of both
kinds with its count in the band, the requester's check-outs with time left, filing an
account manager request, the org's grants, the holds and the forced check-in.

Times are shown relatively ('in 7 days', '45 min left', 'today'), so the screens are the
same in every run (the screens with a window are shot first, in its first minute)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, until
from tests.tui.keys import fill, form_open, main_ready, rows, show_tab, submit
from tests.tui.test_snapshots import shot_ready
from tests.tui.test_stories import make_user
from tests.tui.test_story_keys import pick_org

SIZE = (80, 24)


@pytest.fixture(scope="module")
def access_data(tui_server):
    """MSPOrg: admin, sa2, sa3 (independent administrators) and sreq (a password user
    admin made); db01 under access control (approver sa2), sreq holding db01/backup for
    45 minutes and asking for db01/sa; org acme (admin's) where sa3 holds a grant; sa2 is
    asked to approve sa3's access to org beta."""
    server = tui_server
    admin = server.login(ADMIN, ADMIN_PASSWORD)
    for name in ("sa2", "sa3"):
        make_user(server, admin, name, "administrator")
    make_user(server, admin, "sreq", "password_user")
    sa2, sreq = server.login("sa2", "final-sa2-pw22"), server.login("sreq", "final-sreq-pw22")
    _, res = server.api("POST", "/orgs/MSPOrg/resources", {"name": "db01", "type": "Linux"}, admin)
    accounts = {}
    for username in ("sa", "backup"):
        status, acct = server.api(
            "POST",
            f"/orgs/MSPOrg/resources/{res['id']}/accounts",
            {"username": username, "password": "Snapshot-Secret-1!"},
            admin,
        )
        assert status == 201, acct
        accounts[username] = acct["id"]
    server.api(
        "POST",
        f"/orgs/MSPOrg/resources/{res['id']}/shares",
        {"user": "sreq", "permission": "view"},
        admin,
    )
    status, body = server.api(
        "PUT",
        f"/orgs/MSPOrg/resources/{res['id']}/access-control",
        {"enabled": True, "approvers": ["sa2"], "max_window_minutes": 120},
        admin,
    )
    assert status == 200, body
    for username, reason in (("backup", "restore test"), ("sa", "patch night")):
        status, body = server.api(
            "POST",
            "/orgs/MSPOrg/password-requests",
            {"account": accounts[username], "reason": reason, "window_minutes": 45},
            sreq,
        )
        assert status == 201, body
        if username == "backup":
            status, body = server.api(
                "POST", f"/orgs/MSPOrg/password-requests/{body['id']}/approve", {}, sa2
            )
            assert status == 200, body
    for org in ("acme", "beta"):
        status, body = server.api(
            "POST",
            "/orgs",
            {"name": f"{org.title()} Ltd", "display_name": org, "account_manager": ADMIN},
            admin,
        )
        assert status == 201, body
    _, grant = server.api(
        "POST",
        "/org-access-requests",
        {"org": "acme", "user": "sa3", "approver": ADMIN, "reason": "on call"},
        sa2,
    )
    status, body = server.api(
        "POST",
        f"/org-access-requests/{grant['id']}/approve",
        {"current_password": ADMIN_PASSWORD},
        admin,
    )
    assert status == 200, body
    status, body = server.api(
        "POST",
        "/org-access-requests",
        {"org": "beta", "user": "sa3", "approver": "sa2", "reason": "beta migration"},
        admin,
    )
    assert status == 201, body


async def access_tab(pilot, username: str, password: str, queue: int, mine: int) -> None:
    """Log in, F4, wait for both lists to be loaded."""
    await log_in(pilot, username, password)
    await main_ready(pilot)
    await show_tab(pilot, "f4", "access")
    screen = pilot.app.screen
    q, m = screen.query_one("#queue", DataTable), screen.query_one("#mine", DataTable)
    await until(pilot, lambda: (q.row_count, m.row_count) == (queue, mine), what="(lists)")


async def org_view(pilot) -> None:
    """F4 then g: the grants and holds of the band org."""
    await show_tab(pilot, "f4", "access")
    await pilot.press("g")
    await until(pilot, lambda: isinstance(pilot.app.screen.focused, DataTable))


def test_holds_and_force_check_in(snap_compare, make_app, access_data):
    """admin, MSPOrg, g, i: who holds db01/backup, and the forced check-in dialog."""

    async def before(pilot):
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await org_view(pilot)
        holds = pilot.app.screen.query_one("#holds", DataTable)
        await until(pilot, lambda: rows(holds) == ["db01/backup"], what="(hold)")
        await pilot.press("i")
        await form_open(pilot, "Force check-in of db01/backup")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_my_checkouts(snap_compare, make_app, access_data):
    """sreq: the password it holds, with time left, and the one it waits for."""

    async def before(pilot):
        await access_tab(pilot, "sreq", "final-sreq-pw22", 0, 2)
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_approver_queue(snap_compare, make_app, access_data):
    """sa2: an org access request and a check-out waiting; '2 to approve' in the band."""

    async def before(pilot):
        await access_tab(pilot, "sa2", "final-sa2-pw22", 2, 1)
        count = pilot.app.screen.query_one("#to-approve")
        await until(pilot, lambda: "2 to approve" in str(count.render()), what="(count)")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_account_manager_request(snap_compare, make_app, access_data):
    """admin files an account manager request: step 2, the eligible approvers."""

    async def before(pilot):
        await access_tab(pilot, ADMIN, ADMIN_PASSWORD, 0, 1)
        await pilot.press("m")
        form = await form_open(pilot, "Request an account manager (1 of 2)")
        await fill(pilot, ">acme", ">sa2")
        await submit(pilot, form)
        await form_open(pilot, "Request an account manager (2 of 2)")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)


def test_grants_of_an_org(snap_compare, make_app, access_data):
    """admin, org acme in the band, g: sa3's grant (no holds there)."""

    async def before(pilot):
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await pick_org(pilot, "acme")
        await org_view(pilot)
        grants = pilot.app.screen.query_one("#grants", DataTable)
        await until(pilot, lambda: rows(grants) == ["user sa3"], what="(grant)")
        await shot_ready(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=before)
