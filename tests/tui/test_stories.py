"""Shorter stories through the real TUI against a real server process, by keys only:
two-factor, errors in one sentence, the read-only secondary, users, org edits and grants,
the keys panel and the key bar."""

from __future__ import annotations

import time

from textual.widgets import DataTable, Static

from server.security import totp
from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, start_serve, type_text, until
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
)
from tui.client import MOVE_WAIT
from tui.main_screen import MainScreen
from tui.screens.login import LoginScreen
from tui.screens.me import MeScreen, OnceModal
from tui.screens.modals import KeysModal, TextModal
from tui.screens.policies import PoliciesScreen


def make_user(server, token: str, username: str, role: str, org: str = "MSPOrg") -> str:
    """Create a user and set its own password (set-up around the app); return it."""
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
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "twofa", password, otp=totp.code_at(secret, (step + 1) * 30))
        await main_ready(pilot)
        assert "twofa" in text_of(app.screen.query_one("#who", Static))


async def test_errors_are_one_human_sentence(tui_server, make_app):
    """A wrong password says so; a server that does not answer is named with the reason."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, "not-the-password")
        assert not isinstance(app.screen, MainScreen)
        await notified(pilot, "wrong username, password or organization")
    from tests.conftest import free_port

    dead = f"https://127.0.0.1:{free_port()}"
    app = make_app(url=dead)
    async with app.run_test(size=(80, 24)) as pilot:
        await notified(pilot, f"cannot reach {dead} (connection refused)")
        assert all("SSLContext" not in n.message for n in app._notifications)


async def test_read_only_banner_after_switching_to_secondary(
    tui_server, make_app, pg_server, install_files, database
):
    """When the primary does not answer the app uses the secondary and says it is
    read-only; Ctrl+R after the primary is back returns to it. This secondary is a
    read-only server on the same database, with no replication link to hand its sessions
    to the primary (tests/replication/test_tui_failover.py has the real pair): the app
    waits up to MOVE_WAIT for the session to move, switches back, and since the primary
    never heard of the session, asks for the password with the user name filled in."""
    from tests.conftest import config_for, free_port

    config = config_for(pg_server, install_files, database)
    secondary = start_serve(config, free_port(), {"STRONGROOM_NODE_ROLE": "secondary"})
    try:
        dead = f"https://127.0.0.1:{free_port()}"
        app = make_app(url=dead, secondary=secondary.url)
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot, ADMIN, ADMIN_PASSWORD)
            await main_ready(pilot)
            banner = app.screen.query_one("#banner", Static)
            await until(pilot, lambda: not banner.has_class("hidden"))
            assert "READ-ONLY SECONDARY" in text_of(banner)
            assert text_of(app.screen.query_one("#server", Static)) == "SECONDARY"
            primary = start_serve(
                config_for(pg_server, install_files, database), int(dead.rsplit(":", 1)[1])
            )
            try:
                await pilot.press("ctrl+r")
                await until(
                    pilot,
                    lambda: isinstance(app.screen, LoginScreen),
                    limit=MOVE_WAIT + 30,
                    what="(back on the primary, which asks for a login)",
                )
                name = app.screen.query_one("#username")
                await until(pilot, lambda: ADMIN in drawn(name), what="(the user name filled in)")
                await notified(pilot, "session has ended")
                await type_text(pilot, ADMIN_PASSWORD)
                await pilot.press("enter")
                await main_ready(pilot)
                server = app.screen.query_one("#server", Static)
                await until(pilot, lambda: text_of(server).startswith("PRIMARY"))
                assert app.screen.query_one("#banner", Static).has_class("hidden")
            finally:
                primary.process.terminate()
                primary.process.wait(timeout=20)
    finally:
        secondary.process.terminate()
        secondary.process.wait(timeout=20)


async def test_two_factor_enrolment_with_qr(tui_server, make_app):
    """Ctrl+T: password, a QR code and the secret, the first code; then logins need one."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "enroller", "password_user")
    app = make_app()
    async with app.run_test(size=(120, 50)) as pilot:
        await log_in(pilot, "enroller", password)
        await main_ready(pilot)
        await pilot.press("ctrl+t")  # my account; t: two-factor
        await until(pilot, lambda: isinstance(app.screen, MeScreen), what="(my account)")
        await pilot.press("t")
        form = await form_open(pilot, "Set up two-factor")
        await type_text(pilot, password)
        await submit(pilot, form)
        form = await form_open(pilot, "Two-factor authentication")
        qr = text_of(form.query_one("#figure", Static))
        assert "\u2580" in qr or "\u2584" in qr
        secret = screen_text(app).split("secret=")[1].split("&")[0]
        await type_text(pilot, "000000" if totp.code_at(secret, time.time()) != "000000" else "1")
        await pilot.press("enter")  # a wrong code: said under the field, the dialog stays
        await until(pilot, lambda: form.query_one("#e-code").has_class("shown"))
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, totp.code_at(secret, time.time()))
        await submit(pilot, form)
        await until(pilot, lambda: isinstance(app.screen, OnceModal), what="(recovery codes)")
        await until(pilot, lambda: "Recovery codes" in screen_text(app), what="(codes shown)")
        await pilot.press("enter")  # shown once (issue 27)
        await until(pilot, lambda: isinstance(app.screen, MeScreen))
    status, problem = tui_server.api(
        "POST", "/auth/login", {"username": "enroller", "password": password}
    )
    assert (status, problem["code"]) == (401, "otp_required")


async def test_users_pane_add_and_disable(tui_server, make_app):
    """F6 lists the org's users; n adds one (role from a picker), x disables it (after
    asking)."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f6", "users")
        await pilot.press("n")
        form = await form_open(pilot, "New user")
        await fill(pilot, "newhire", "New Hire", "", ">password user", "newhire-initial-1")
        await submit(pilot, form)
        table = app.screen.query_one("#users-table", DataTable)
        await cursor_to(pilot, table, "newhire")
        await pilot.press("x")  # disabling asks first
        form = await form_open(pilot, "Disable newhire")
        await type_text(pilot, "yes")
        await submit(pilot, form)
        await until(pilot, lambda: "disabled" in rows(table, 3))
    _, user = tui_server.api(
        "GET", "/orgs/MSPOrg/users/newhire", token=tui_server.login(ADMIN, ADMIN_PASSWORD)
    )
    assert (user["status"], user["role"]) == ("disabled", "password_user")


async def test_keys_panel_key_bar_and_server_view(tui_server, make_app):
    """At 80 columns the key bar shows the pane's keys and keeps Log out and Quit; F1 and
    ? list the pane's keys with descriptions, Esc closes; Ctrl+K shows the server."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        bar = app.screen.query_one("KeyBar").render().plain
        # The resources list's keys first; at 80 columns one space apart, which holds more.
        assert bar.startswith("r Reveal c Copy / Search")
        assert bar.rstrip().endswith("F1 Keys ^x Log out ^q Quit")
        for key in ("f1", "question_mark"):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, KeysModal))
            text = screen_text(app)
            assert "Vault keys" in text and "Reveal" in text and "Log out" in text
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("P")  # a list dialog (password policies): F1, ^q, Esc closes
        await until(pilot, lambda: isinstance(app.screen, PoliciesScreen), what="(policies)")
        bar = app.screen.query_one("KeyBar").render().plain
        assert bar.startswith("n New") and " ".join(bar.split()).endswith("F1 Keys ^q Quit"), bar
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, KeysModal), what="(keys panel)")
        assert "New password policy" in screen_text(app) and "Quit" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, PoliciesScreen))
        await pilot.press("escape")
        await main_ready(pilot)
        await show_tab(pilot, "f4", "access")
        await pilot.press("f1")
        await until(pilot, lambda: "Access keys" in screen_text(app))
        assert "Request org access" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("ctrl+k")
        await until(pilot, lambda: isinstance(app.screen, TextModal))
        text = screen_text(app)
        assert f"Connected to: {tui_server.url} (PRIMARY)" in text
        assert "last backup: none" in text and "Witness: none (failover is manual)" in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_escape_sequences_in_names_are_inert(tui_server, make_app, owner_conn):
    """A resource name carrying terminal escapes is shown as visible symbols. The API
    refuses such a name now (issue 26); one stored before that rule is still shown inert."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "escaper", "password_administrator")
    token = tui_server.login("escaper", password)
    evil = "evil\x1b[2J\x1b]52;c;AAAA\x07"
    status, _ = tui_server.api(
        "POST", "/orgs/MSPOrg/resources", {"name": evil, "type": "Linux"}, token
    )
    assert status == 422
    status, made = tui_server.api(
        "POST", "/orgs/MSPOrg/resources", {"name": "evil", "type": "Linux"}, token
    )
    assert status == 201, made
    async with owner_conn.transaction():
        org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
        await owner_conn.execute(
            "UPDATE resources SET name = $2 WHERE id = $1::uuid", made["id"], evil
        )
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "escaper", password)
        await main_ready(pilot)
        table = app.screen.query_one("#resources", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        cell = text_of(table.get_row_at(0)[0])
        assert "\x1b" not in cell and "\u241b" in cell
