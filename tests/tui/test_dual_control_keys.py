"""Issue 27 in the terminal UI, by keys only at 80x24: deleted orgs (the recovery deadline,
restore, a purge request with the approvers and why the others cannot), an org's 2FA
policy (Settings, f), new recovery codes (My account, r), an administrator's reset of a
user's 2FA (Users, T), the notices told at login acknowledged (a), and a check-out request
that says who can approve it."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from textual.widgets import DataTable

from server.security import totp
from tests.conftest import OWNER
from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, type_text, until
from tests.tui.keys import (
    cursor_to,
    drawn,
    fill,
    form_open,
    main_ready,
    notified,
    picker_options,
    rows,
    screen_text,
    show_tab,
    submit,
)
from tests.tui.test_me_keys import make_user, open_me
from tests.tui.test_story_keys import pick_org
from tui.screens.deleted_orgs import DeletedOrgsScreen
from tui.screens.login import LoginScreen
from tui.screens.me import OnceModal
from tui.screens.notices import NoticesModal


def with_totp(server, username: str, password: str) -> tuple[str, list[str], int]:
    """Turn 2FA on for ``username`` through the API: (secret, recovery codes, the step of
    the code used)."""
    own = server.login(username, password)
    _, body = server.api("POST", "/me/totp", {"current_password": password}, own)
    step = int(time.time() // 30)
    status, done = server.api(
        "POST", "/me/totp/confirm", {"otp": totp.code_at(body["secret"], step * 30)}, own
    )
    assert status == 200, done
    return body["secret"], done["recovery_codes"], step


async def test_deleted_orgs_restore_and_purge_request(tui_server, make_app):
    """Orgs (F3), r: the deleted org with who deleted it and its purge deadline on screen;
    u files a purge request naming an eligible approver, the others listed with the reason;
    r restores it (its name typed), and it is back in the list."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    for name in ("dcalice", "dcbob"):
        make_user(tui_server, admin, name, "administrator")
    status, body = tui_server.api(
        "POST",
        "/orgs",
        {"name": "Gone Corp", "display_name": "goneco", "account_manager": ADMIN},
        admin,
    )
    assert status == 201, body
    status, body = tui_server.api("DELETE", "/orgs/goneco?confirm=goneco", token=admin)
    assert status == 200, body
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f3", "orgs")
        assert "Deleted" in app.screen.query_one("KeyBar").render().plain
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, DeletedOrgsScreen), what="(deleted)")
        screen = app.screen
        table = screen.query_one("#deleted-orgs", DataTable)
        await until(pilot, lambda: rows(table) == ["goneco"], what="(goneco listed)")
        shown = drawn(table)
        assert "admin" in shown and "(7 d)" in shown, shown  # the deadline fits at 80
        bar = screen.query_one("KeyBar").render().plain
        assert "r Restore" in bar and "u Purge now" in bar, bar

        # A purge request: the eligible approvers, and why admin itself cannot.
        await pilot.press("u")
        form = await form_open(pilot, "Purge goneco now")
        assert picker_options(form, "approver") == ["dcalice", "dcbob"]
        assert "admin: the approver cannot be the proposer" in screen_text(app)
        await fill(pilot, ">dcbob", "contract ended")
        await submit(pilot, form)
        await notified(pilot, "Purge of goneco requested; dcbob has been asked")
        bob = tui_server.login("dcbob", "final-dcbob-pw22")
        queue = tui_server.api("GET", "/org-access-requests?role=approver", token=bob)[1]
        assert [(r["kind"], r["org"]) for r in queue["items"]] == [("org_purge", "goneco")]

        # Restore: the name typed; the org is back, the list of deleted ones empty.
        await pilot.press("r")
        form = await form_open(pilot, "Restore goneco")
        await type_text(pilot, "goneco")
        await submit(pilot, form)
        await notified(pilot, "goneco restored")
        await until(pilot, lambda: "No organization is deleted" in screen_text(app), what="(empty)")
        await pilot.press("escape")
        await main_ready(pilot)
        orgs = app.screen.query_one("#orgs-table", DataTable)
        await until(pilot, lambda: "goneco" in rows(orgs), what="(goneco back)")


async def test_totp_policy_recovery_codes_and_reset(tui_server, make_app):
    """Settings (F7), f: a client org's 2FA policy set by keys. A user with 2FA logs in
    with a recovery code, makes ten new ones in My account (r: the old ones stop working);
    the administrator resets its 2FA from Users (T)."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    status, body = tui_server.api(
        "POST",
        "/orgs",
        {"name": "Policy Co", "display_name": "polco", "account_manager": ADMIN},
        admin,
    )
    assert status == 201, body
    password = make_user(tui_server, admin, "dccodes", "password_user")
    secret, codes, step = with_totp(tui_server, "dccodes", password)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await pick_org(pilot, "polco")
        await show_tab(pilot, "f7", "settings")
        sections = app.screen.query_one("#settings-sections")
        await until(pilot, lambda: "f 2FA" in drawn(sections), what="(the f hint)")
        await pilot.press("f")
        form = await form_open(pilot, "Two-factor authentication in polco")
        await fill(pilot, ">everyone")
        await submit(pilot, form)
        await notified(pilot, "polco: everyone must use 2FA")
        settings = tui_server.api("GET", "/orgs/polco/security-settings", token=admin)[1]
        assert settings["totp_policy"] == "everyone", settings

    # dccodes, in its own terminal: a recovery code in place of the authenticator's.
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "dccodes", password, otp=codes[0])
        await main_ready(pilot)
        await open_me(pilot)
        await until(pilot, lambda: "9 recovery codes left" in screen_text(app), what="(9)")
        await pilot.press("r")
        form = await form_open(pilot, "New recovery codes")
        await fill(pilot, password, totp.code_at(secret, (step + 1) * 30))
        await submit(pilot, form)
        await until(pilot, lambda: isinstance(app.screen, OnceModal), what="(new codes)")
        new = str(app.screen.query_one("#secret").render()).split()
        assert len(new) == 10 and not set(new) & set(codes), new
        await pilot.press("enter")
        await until(pilot, lambda: "10 recovery codes left" in screen_text(app), what="(10)")
    login = {"username": "dccodes", "password": password}
    status, problem = tui_server.api("POST", "/auth/login", {**login, "otp": codes[1]})
    assert (status, problem["code"]) == (401, "invalid_otp"), problem
    status, _ = tui_server.api("POST", "/auth/login", {**login, "otp": new[0]})
    assert status == 200

    # The administrator resets dccodes' 2FA from Users (T, in the key bar on a user that
    # has 2FA; its name typed).
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f6", "users")
        users = app.screen.query_one("#users-table", DataTable)
        await cursor_to(pilot, users, "dccodes")
        # At 80 columns the key bar is full with the users' daily keys: F1 lists T.
        await pilot.press("f1")
        await until(pilot, lambda: "Reset its two-factor" in screen_text(app), what="(F1: T)")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen.focused, DataTable), what="(back)")
        await pilot.press("T")
        form = await form_open(pilot, "Reset dccodes's two-factor")
        await type_text(pilot, "dccodes")
        await submit(pilot, form)
        await notified(pilot, "dccodes's two-factor authentication was reset")
    user = tui_server.api("GET", "/orgs/MSPOrg/users/dccodes", token=admin)[1]
    assert user["totp_enabled"] is False, user


async def test_policy_that_covers_me_enrols_me_at_once(tui_server, make_app):
    """An MSPOrg administrator without 2FA requires it of administrators (Settings, f): the
    policy holds at once, so the app takes it to enrolment there and then (password, QR
    code, a code, the recovery codes) instead of leaving a session the server refuses.
    (MSPOrg's policy is put back at the end; before the notice test, whose notice every
    MSPOrg administrator would see at login.)"""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "dcpol", "administrator")
    before = tui_server.api("GET", "/orgs/MSPOrg/security-settings", token=admin)[1]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "dcpol", password)
        await main_ready(pilot)
        await show_tab(pilot, "f7", "settings")
        await pilot.press("f")
        form = await form_open(pilot, "Two-factor authentication in MSPOrg")
        assert "You have no 2FA yet" in screen_text(app)
        await fill(pilot, ">administrators")
        await submit(pilot, form)
        form = await form_open(pilot, "Set up two-factor authentication")
        await type_text(pilot, password)
        await submit(pilot, form)
        form = await form_open(pilot, "Two-factor authentication")
        secret = screen_text(app).split("secret=")[1].split("&")[0]
        step = int(time.time() // 30)
        await type_text(pilot, totp.code_at(secret, step * 30))
        await submit(pilot, form)
        await until(pilot, lambda: isinstance(app.screen, OnceModal), what="(recovery codes)")
        await pilot.press("enter")
        await notified(pilot, "Two-factor authentication is on")
        await main_ready(pilot)
    status, body = tui_server.api(
        "POST",
        "/auth/login",
        {"username": "dcpol", "password": password, "otp": totp.code_at(secret, (step + 1) * 30)},
    )
    assert status == 200 and not body["must_enrol_totp"], body
    status, body = tui_server.api(
        "PUT",
        "/orgs/MSPOrg/security-settings",
        {"totp_policy": before["totp_policy"]},
        body["token"],
    )
    assert status == 200, body


async def record_recovery(pg_server, database: str, username: str) -> None:
    """A person recovered on the console, as ``strongroom recover-person`` records it (the
    notice's source row; the command itself is tested in tests/server)."""
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
            await conn.execute(
                "INSERT INTO person_recoveries (org_id, username) VALUES ($1, $2)",
                org_id,
                username,
            )
    finally:
        await conn.close()


async def test_notice_told_at_login_until_read(tui_server, make_app, pg_server, database):
    """A recovery on the console is told at login over the main screen; Esc keeps it for
    the next login, a marks it read (audited) and it is not shown again."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    make_user(tui_server, admin, "dcnotice", "administrator")
    await record_recovery(pg_server, database, "dcrecovered")
    for acknowledge in (False, True):
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await log_in(pilot, "dcnotice", "final-dcnotice-pw22")
            await until(pilot, lambda a=app: isinstance(a.screen, NoticesModal), what="(notice)")
            text = screen_text(app)
            assert "1 notice for you" in text and "dcrecovered" in text, text
            assert "a: read" in text
            await pilot.press("a" if acknowledge else "escape")
            if acknowledge:
                await notified(pilot, "Notices marked read")
            await main_ready(pilot)
            if not acknowledge:
                # Logged out before the main screen's first frame: its notices step, run
                # late, shows nothing over the login screen.
                main = app.screen
                await pilot.press("ctrl+x")
                await until(pilot, lambda a=app: isinstance(a.screen, LoginScreen), what="login")
                main._notices_after_first_frame()
                await pilot.pause()
                assert isinstance(app.screen, LoginScreen)
    own = tui_server.login("dcnotice", "final-dcnotice-pw22")
    assert tui_server.api("GET", "/me", token=own)[1]["notices"] == []
    told = tui_server.api("GET", "/me", token=admin)[1]["notices"]
    assert any("dcrecovered" in n for n in told), told  # the others are still told
    page = tui_server.api("GET", "/orgs/MSPOrg/audit?operation=notice_acknowledged", token=admin)
    assert [e["actor"] for e in page[1]["items"]] == ["dcnotice"], page
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "dcnotice", "final-dcnotice-pw22")
        await main_ready(pilot)
        await asyncio.sleep(0.3)
        assert not isinstance(app.screen, NoticesModal)
