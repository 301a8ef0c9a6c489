"""The main stories, driven through the real TUI against a real server process."""

from __future__ import annotations

import time

from textual.widgets import DataTable, Input, Static

from server import totp
from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, settle, start_serve, until
from tui.screens.main import MainScreen
from tui.screens.modals import FormModal, RevealModal


def make_user(server, token: str, username: str, role: str, org: str = "MSPOrg") -> str:
    """Create a user and set its own password; return the password."""
    initial, final = f"initial-{username}-1", f"final-{username}-pw22"
    status, body = server.api(
        "POST",
        f"/orgs/{org}/users",
        {"username": username, "role": role, "password": initial},
        token,
    )
    if status == 409:
        return final
    assert status == 201, body
    own = server.login(username, initial, org)
    server.api("POST", "/me/password", {"current_password": initial, "new_password": final}, own)
    return final


async def fill_form(pilot, values: dict[str, str]) -> None:
    """Wait for the FormModal, type into it, submit, and wait until it has closed."""
    await until(pilot, lambda: isinstance(pilot.app.screen, FormModal))
    modal = pilot.app.screen
    for name, value in values.items():
        modal.query_one(f"#f-{name}", Input).value = value
    modal.query_one(Input).focus()
    await pilot.press("enter")
    await until(pilot, lambda: pilot.app.screen is not modal)
    await settle(pilot)


async def test_login_with_totp(tui_server, make_app):
    """A user with 2FA is asked for the code after the password, then reaches the app."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "twofa", "administrator")
    own = tui_server.login("twofa", password)
    _, body = tui_server.api("POST", "/me/totp", {"current_password": password}, own)
    secret = body["secret"]
    step = int(time.time() // 30)
    tui_server.api("POST", "/me/totp/confirm", {"otp": totp.code_at(secret, step * 30)}, own)
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await log_in(pilot, "twofa", password)
        assert not app.screen.query_one("#otp", Input).has_class("hidden")
        await log_in(pilot, "twofa", password, otp=totp.code_at(secret, (step + 1) * 30))
        assert isinstance(app.screen, MainScreen)
        assert "twofa" in str(app.screen.query_one("#who", Static).render())


async def test_wrong_password_is_one_sentence(tui_server, make_app):
    """A failed login says so in a notification and stays on the login screen."""
    app = make_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await log_in(pilot, ADMIN, "not-the-password")
        assert not isinstance(app.screen, MainScreen)
        messages = [n.message for n in app._notifications]
        assert "wrong username, password or organization" in messages


async def test_add_org_and_request_approve_with_three_admins(tui_server, make_app):
    """A adds an org, asks access for D naming C; C approves in its queue with its password."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    passwords = {
        n: make_user(tui_server, admin, n, r)
        for n, r in (
            ("anna", "administrator"),
            ("bert", "administrator"),
            ("cora", "administrator"),
            ("dave", "password_administrator"),
        )
    }
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await log_in(pilot, "anna", passwords["anna"])
        await pilot.press("f3")
        await settle(pilot)
        app.screen.query_one("#orgs-table", DataTable).focus()
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, FormModal))
        modal = app.screen
        modal.query_one("#f-display_name", Input).value = "bad name"
        check = modal.query_one("#c-display_name", Static)
        await until(pilot, lambda: "letters and digits" in str(check.render()))
        await fill_form(
            pilot, {"name": "Tui Corp", "display_name": "tuicorp", "account_manager": "bert"}
        )
        status, org = tui_server.api("GET", "/orgs/tuicorp", token=admin)
        assert (status, org["account_manager"]) == (200, "bert")
        await pilot.press("f4")
        await settle(pilot)
        app.screen.query_one("#queue", DataTable).focus()
        await pilot.press("q")
        await settle(pilot)
        await fill_form(
            pilot, {"org": "tuicorp", "user": "dave", "approver": "cora", "reason": "on call"}
        )
    token_c = tui_server.login("cora", passwords["cora"])
    status, queue = tui_server.api(
        "GET", "/org-access-requests?role=approver&status=pending", token=token_c
    )
    assert [r["user"] for r in queue["items"]] == ["dave"]

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await log_in(pilot, "cora", passwords["cora"])
        await pilot.press("f4")
        await settle(pilot)
        queue_table = app.screen.query_one("#queue", DataTable)
        await until(pilot, lambda: queue_table.row_count == 1)
        queue_table.focus()
        await pilot.press("y")
        await settle(pilot)
        await fill_form(pilot, {"password": passwords["cora"]})
    token_d = tui_server.login("dave", passwords["dave"])
    assert tui_server.api("GET", "/orgs/tuicorp/users", token=token_d)[0] == 200


async def test_vault_add_share_reveal_and_auto_hide(tui_server, make_app):
    """Add a resource and an account, share it, reveal the password, see it hide itself."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    make_user(tui_server, admin, "vaulter", "password_administrator")
    make_user(tui_server, admin, "friend", "password_user")
    app = make_app(reveal_seconds=1)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await log_in(pilot, "vaulter", "final-vaulter-pw22")
        app.screen.query_one("#resources", DataTable).focus()
        await pilot.press("n")
        await settle(pilot)
        await fill_form(pilot, {"name": "core-sw1", "type": "Cisco", "url": "sw1.example"})
        table = app.screen.query_one("#resources", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        await pilot.press("a")
        await settle(pilot)
        await fill_form(pilot, {"username": "enable", "password": "Sw1tch-Enable-Secret!"})
        accounts = app.screen.query_one("#accounts", DataTable)
        await until(pilot, lambda: accounts.row_count == 1)
        await pilot.press("s")
        await settle(pilot)
        await fill_form(pilot, {"user": "friend", "permission": "view"})
        await pilot.press("G")
        await settle(pilot)
        await fill_form(pilot, {"name": "network", "permission": "view"})
        accounts.focus()
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RevealModal))
        assert "Sw1tch-Enable-Secret!" in str(app.screen.query_one("#secret", Static).render())
        await pilot.press("c")
        assert app.clipboard == "Sw1tch-Enable-Secret!"
        await pilot.pause(1.0)
        await until(pilot, lambda: not isinstance(app.screen, RevealModal))
    vaulter = tui_server.login("vaulter", "final-vaulter-pw22")
    _, groups = tui_server.api("GET", "/orgs/MSPOrg/resource-groups", token=vaulter)
    assert [(g["name"], [r["name"] for r in g["resources"]]) for g in groups["items"]] == [
        ("network", ["core-sw1"])
    ]
    friend = tui_server.login("friend", "final-friend-pw22")
    _, items = tui_server.api("GET", "/orgs/MSPOrg/resources", token=friend)
    assert [(r["name"], r["permission"]) for r in items["items"]] == [("core-sw1", "view")]


async def test_escape_sequences_in_names_are_inert(tui_server, make_app):
    """A resource name carrying terminal escapes is shown as visible symbols."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "escaper", "password_administrator")
    token = tui_server.login("escaper", password)
    tui_server.api(
        "POST",
        "/orgs/MSPOrg/resources",
        {"name": "evil\x1b[2J\x1b]52;c;AAAA\x07", "type": "x"},
        token,
    )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await log_in(pilot, "escaper", password)
        cell = app.screen.query_one("#resources", DataTable).get_row_at(0)[0]
        assert "\x1b" not in str(cell) and "\u241b" in str(cell)


async def test_read_only_banner_after_switching_to_secondary(
    tui_server, make_app, pg_server, install_files, database
):
    """When the primary does not answer, the app uses the secondary and says it is
    read-only."""
    from tests.conftest import config_for, free_port

    config = config_for(pg_server, install_files, database)
    secondary = start_serve(config, free_port(), {"STRONGROOM_NODE_ROLE": "secondary"})
    try:
        dead = f"https://127.0.0.1:{free_port()}"
        app = make_app(url=dead, secondary=secondary.url)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await log_in(pilot, ADMIN, ADMIN_PASSWORD)
            assert isinstance(app.screen, MainScreen)
            banner = app.screen.query_one("#banner", Static)
            await until(pilot, lambda: not banner.has_class("hidden"))
            assert "READ-ONLY SECONDARY" in str(banner.render())
            assert str(app.screen.query_one("#server", Static).render()) == "SECONDARY"
            # The primary comes back at its address: the app returns to it by itself.
            primary = start_serve(
                config_for(pg_server, install_files, database), int(dead.rsplit(":", 1)[1])
            )
            try:
                app.screen.refresh_server()
                await until(pilot, lambda: banner.has_class("hidden"))
                assert str(app.screen.query_one("#server", Static).render()) == "PRIMARY"
            finally:
                primary.process.terminate()
                primary.process.wait(timeout=20)
    finally:
        secondary.process.terminate()
        secondary.process.wait(timeout=20)


async def test_two_factor_enrolment_with_qr(tui_server, make_app):
    """Ctrl+T: password, a QR code and the secret, the first code; then logins need a code."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "enroller", "password_user")
    app = make_app()
    async with app.run_test(size=(120, 50)) as pilot:
        await settle(pilot)
        await log_in(pilot, "enroller", password)
        await pilot.press("ctrl+t")
        await settle(pilot)
        await fill_form(pilot, {"password": password})
        await until(pilot, lambda: bool(app.screen.query("#qr")))
        modal = app.screen
        qr = str(modal.query_one("#qr", Static).render())
        assert "\u2580" in qr or "\u2584" in qr
        uri = str(modal.query(Static)[3].render())
        secret = uri.split("secret=")[1].split("&")[0]
        modal.query_one("#code", Input).value = totp.code_at(secret, time.time())
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
    status, problem = tui_server.api(
        "POST", "/auth/login", {"username": "enroller", "password": password}
    )
    assert (status, problem["code"]) == (401, "otp_required")


async def test_users_pane_add_and_disable(tui_server, make_app):
    """F6 lists the org's users; n adds one, x disables it."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await pilot.press("f6")
        await settle(pilot)
        table = app.screen.query_one("#users-table", DataTable)
        table.focus()
        await pilot.press("n")
        await settle(pilot)
        await fill_form(
            pilot,
            {
                "username": "newhire",
                "full_name": "New Hire",
                "role": "password_user",
                "password": "newhire-initial-1",
            },
        )

        def rows() -> list[str]:
            return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]

        await until(pilot, lambda: "newhire" in rows())
        table.move_cursor(row=rows().index("newhire"))
        await pilot.press("x")
        await settle(pilot)
    _, user = tui_server.api(
        "GET", "/orgs/MSPOrg/users/newhire", token=tui_server.login(ADMIN, ADMIN_PASSWORD)
    )
    assert user["status"] == "disabled"


async def test_edit_org_revoke_and_palette(tui_server, make_app):
    """e edits an org, v revokes a grant, and every pane action is in the command palette."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    for name in ("ed1", "ed2", "ed3"):
        make_user(tui_server, admin, name, "administrator")
    tui_server.api(
        "POST",
        "/orgs",
        {"name": "Edit Me", "display_name": "editme", "account_manager": "ed1"},
        admin,
    )
    token1 = tui_server.login("ed1", "final-ed1-pw22")
    _, req = tui_server.api(
        "POST", "/org-access-requests", {"org": "editme", "user": "ed2", "approver": "ed3"}, token1
    )
    token3 = tui_server.login("ed3", "final-ed3-pw22")
    tui_server.api(
        "POST",
        f"/org-access-requests/{req['id']}/approve",
        {"current_password": "final-ed3-pw22"},
        token3,
    )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await log_in(pilot, "ed1", "final-ed1-pw22")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"orgs: Edit", "vault: Reveal", "access: Approve", "Log out"} <= set(titles)
        await pilot.press("f3")
        await settle(pilot)
        table = app.screen.query_one("#orgs-table", DataTable)
        table.focus()
        rows = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        table.move_cursor(row=rows.index("editme"))
        await pilot.press("e")
        await settle(pilot)
        await fill_form(pilot, {"description": "edited in the TUI", "vault_control": "msp"})
        await pilot.press("f4")
        await settle(pilot)
        app.screen.query_one("#queue", DataTable).focus()
        await pilot.press("v")
        await settle(pilot)
        await fill_form(pilot, {"org": "editme", "user": "ed2"})
    _, org = tui_server.api("GET", "/orgs/editme", token=admin)
    assert (org["description"], org["vault_control"]) == ("edited in the TUI", "msp")
    _, access = tui_server.api("GET", "/orgs/editme/access", token=admin)
    assert access["users"] == []


async def test_server_view(tui_server, make_app):
    """Ctrl+K shows the node, its role and the replication state."""
    from tui.screens.modals import TextModal

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(app.screen, TextModal))
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "Role: primary" in text
        assert "Replication: none" in text
        assert "Last backup: none" in text
