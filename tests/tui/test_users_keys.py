"""The users pane by keys only: users (add with a generated password, first login, edit,
reset, delete naming the new owner), groups (create, members, delete), a client org's
unconfirmed user confirmed by its administrator, and the tabs each role sees."""

from __future__ import annotations

import time

import pytest
from textual.widgets import DataTable, TabbedContent

from server.security import totp
from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, make_user, settle, type_text, until
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
from tui.main_screen import MainScreen
from tui.screens.login import LoginScreen
from tui.screens.me import MeScreen, OnceModal

ORG = "zeta"


@pytest.fixture(scope="module")
def people(tui_server):
    """Three founding MSP administrators; client org zeta (account manager adm2) with a
    confirmed administrator 'boss', an unconfirmed user 'newbie' and a password user."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    passwords = {
        name: make_user(tui_server, admin, name, "administrator") for name in ("adm2", "adm3")
    }
    status, body = tui_server.api(
        "POST", "/orgs", {"name": "Zeta Ltd", "display_name": ORG, "account_manager": "adm2"}, admin
    )
    assert status == 201, body
    adm2 = tui_server.login("adm2", passwords["adm2"])
    for name, role in (
        ("boss", "administrator"),
        ("newbie", "password_user"),
        ("pat", "password_user"),
    ):
        passwords[name] = make_user(tui_server, adm2, name, role, ORG)
    # boss becomes the org's confirmed administrator by an MSP request: adm2 made it,
    # admin proposes, adm3 approves.
    status, req = tui_server.api(
        "POST",
        "/org-access-requests",
        {"kind": "user_confirmation", "org": ORG, "user": "boss", "approver": "adm3"},
        admin,
    )
    assert status == 201, req
    adm3 = tui_server.login("adm3", passwords["adm3"])
    status, done = tui_server.api(
        "POST",
        f"/org-access-requests/{req['id']}/approve",
        {"current_password": passwords["adm3"]},
        adm3,
    )
    assert status == 200, done
    return passwords


async def log_out(pilot) -> None:
    """Ctrl+X, back at the login screen."""
    await pilot.press("ctrl+x")
    await until(pilot, lambda: isinstance(pilot.app.screen, LoginScreen), what="(login)")


async def once_secret(pilot) -> str:
    """The secret of the shown-once dialog; Enter closes it."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, OnceModal), what="(shown once)")
    await until(pilot, lambda: "Shown only now" in screen_text(app), what="(drawn)")
    secret = text_of(app.screen.query_one("#secret")).strip()
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, MainScreen))
    return secret


def user(server, token: str, username: str, org: str = "MSPOrg") -> dict:
    """A user as the server holds it."""
    status, body = server.api("GET", f"/orgs/{org}/users/{username}", token=token)
    assert status == 200, body
    return body


async def test_users_and_groups_by_keys(tui_server, make_app, people):
    """Add with a generated password and first login by it; reset; edit; a dual-control
    refusal keeps the form; delete naming the new owner; a group and its members."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    status, res = tui_server.api(
        "POST",
        "/orgs/MSPOrg/users",
        {
            "username": "leaver",
            "role": "password_administrator",
            "password": "leaver-initial-pass-1",
        },
        admin,
    )
    assert status == 201, res
    leaver = tui_server.login("leaver", "leaver-initial-pass-1")
    tui_server.api(
        "POST",
        "/me/password",
        {"current_password": "leaver-initial-pass-1", "new_password": "leaver-final-pass-22"},
        leaver,
    )
    leaver = tui_server.login("leaver", "leaver-final-pass-22")
    status, res = tui_server.api(
        "POST", "/orgs/MSPOrg/resources", {"name": "leaver-box", "type": "Linux"}, leaver
    )
    assert status == 201, res
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f6", "users")
        table = app.screen.query_one("#users-table", DataTable)

        # Add with a generated temporary password, shown once.
        await pilot.press("n")
        form = await form_open(pilot, "New user")
        await fill(pilot, "temp1", "Tom Temp", "", ">password user", "", ">yes")
        await submit(pilot, form)
        temporary = await once_secret(pilot)
        assert len(temporary) >= 12
        assert user(tui_server, admin, "temp1")["must_change_password"]
        await until(pilot, lambda: "temp1" in rows(table), what="(temp1 listed)")
        await log_out(pilot)

        # temp1 logs in with it and must choose its own password.
        await log_in(pilot, "temp1", temporary)
        form = await form_open(pilot, "Choose a new password")
        await fill(pilot, "temp1-own-password-9", "temp1-own-password-9")
        await submit(pilot, form)
        await main_ready(pilot)
        assert not user(tui_server, admin, "temp1")["must_change_password"]
        assert tui_server.login("temp1", "temp1-own-password-9")
        await log_out(pilot)
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f6", "users")
        table = app.screen.query_one("#users-table", DataTable)

        # Reset (admin): a generated temporary password, shown once; the user must change it.
        await cursor_to(pilot, table, "temp1")
        await pilot.press("p")
        form = await form_open(pilot, "Reset the password of temp1")
        await submit(pilot, form)
        reset = await once_secret(pilot)
        status, answer = tui_server.api(
            "POST", "/auth/login", {"username": "temp1", "password": reset}
        )
        assert (status, answer["must_change_password"]) == (200, True)

        # Edit name, e-mail, role and status with pickers.
        await cursor_to(pilot, table, "temp1")
        await pilot.press("e")
        form = await form_open(pilot, "Edit temp1")
        await pilot.press("ctrl+a", "ctrl+k")
        await fill(pilot, "Tom Edited", "tom@example.com", ">password admin", "", ">disabled")
        await submit(pilot, form)
        await notified(pilot, "temp1 saved")
        held = user(tui_server, admin, "temp1")
        assert (held["full_name"], held["email"], held["role"], held["status"]) == (
            "Tom Edited",
            "tom@example.com",
            "password_administrator",
            "disabled",
        )
        await until(pilot, lambda: "disabled" in rows(table, 3))

        # A refusal by dual control reads clearly and keeps the form: adm2 manages zeta.
        await cursor_to(pilot, table, "adm2")
        await pilot.press("p")
        form = await form_open(pilot, "Reset the password of adm2")
        await type_text(pilot, "a-typed-password-77")
        await pilot.press("enter")
        await until(pilot, lambda: "reaches zeta" in screen_text(app), what="(refused)")
        assert app.screen is form  # kept, as typed (drawn as one dot a character)
        assert drawn(form.query_one("#f-password")).strip() == "•" * len("a-typed-password-77")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))

        # Delete naming the new owner; without one the server refuses and the form stays.
        await cursor_to(pilot, table, "leaver")
        await pilot.press("d")
        form = await form_open(pilot, "Delete leaver")
        await pilot.press("tab")
        await type_text(pilot, "leaver")
        await pilot.press("enter")
        await until(pilot, lambda: "Pick the user who receives" in screen_text(app))
        assert app.screen is form
        await pilot.press("shift+tab")
        await fill(pilot, ">admin")
        await submit(pilot, form)
        await notified(pilot, "1 resource and")
        assert tui_server.api("GET", "/orgs/MSPOrg/users/leaver", token=admin)[0] == 404
        owned = tui_server.api("GET", f"/orgs/MSPOrg/resources/{res['id']}", token=admin)[1]
        assert owned["permission"] == "owner"

        # Groups: create with a member, add another, delete.
        await pilot.press("g")
        form = await form_open(pilot, "New group")
        await fill(pilot, "ops", "Operators", ">modify", "temp1")
        await pilot.press("space")
        await submit(pilot, form)
        await notified(pilot, "Group ops created")
        group = tui_server.api("GET", "/orgs/MSPOrg/groups/ops", token=admin)[1]
        assert (group["members"], group["description"], group["default_permission"]) == (
            ["temp1"],
            "Operators",
            "modify",
        )
        groups = app.screen.query_one("#groups-table", DataTable)
        await until(pilot, lambda: rows(groups) == ["ops"])
        await pilot.press("m")
        form = await form_open(pilot, "Edit group ops")
        await pilot.press("tab", "tab", "tab")
        await type_text(pilot, "adm3")
        await pilot.press("space")
        await submit(pilot, form)
        await notified(pilot, "Group ops saved")
        group = tui_server.api("GET", "/orgs/MSPOrg/groups/ops", token=admin)[1]
        assert sorted(group["members"]) == ["adm3", "temp1"]
        await pilot.press("D")
        form = await form_open(pilot, "Delete group ops")
        await type_text(pilot, "ops")
        await submit(pilot, form)
        await notified(pilot, "Group ops deleted")
        assert tui_server.api("GET", "/orgs/MSPOrg/groups/ops", token=admin)[0] == 404
        await until(pilot, lambda: groups.row_count == 0)


async def test_client_admin_confirms_and_tabs_by_role(tui_server, make_app, people):
    """The client's confirmed administrator sees its tabs, the pending user marked, and
    confirms it by a key; a client password user sees only the vault."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "boss", people["boss"], ORG)
        await main_ready(pilot)
        tabs = app.screen.query_one(TabbedContent)
        shown = [t.id for t in tabs.query("ContentTab") if t.display]
        assert [s.removeprefix("--content-tab-") for s in shown] == [
            "vault",
            "access",
            "audit",
            "users",
            "settings",
        ]
        await pilot.press("f3")  # the MSP's tab: nothing happens
        await pilot.pause()
        assert tabs.active == "vault"
        await show_tab(pilot, "f6", "users")
        table = app.screen.query_one("#users-table", DataTable)
        await cursor_to(pilot, table, "newbie")
        assert table.get_row_at(table.cursor_row)[5] == "PENDING"
        await pilot.press("c")
        await notified(pilot, "newbie is confirmed")
        await until(pilot, lambda: table.get_row_at(table.cursor_row)[5] == "yes")
        boss = tui_server.login("boss", people["boss"], ORG)
        assert user(tui_server, boss, "newbie", ORG)["confirmed"]
        await log_out(pilot)

        await log_in(pilot, "pat", people["pat"], ORG)
        await main_ready(pilot)
        tabs = app.screen.query_one(TabbedContent)
        shown = [t.id for t in tabs.query("ContentTab") if t.display]
        assert [s.removeprefix("--content-tab-") for s in shown] == ["vault", "access"]
        assert "F3" not in text_of(app.screen.query_one("KeyBar"))
        for key in ("f3", "f5", "f6"):
            await pilot.press(key)
        await pilot.press("ctrl+r")  # every list reloads: none answers "forbidden"
        await notified(pilot, "Reloading")
        await settle(pilot, 0.5)  # let the reloads answer (an absence cannot be awaited)
        assert tabs.active == "vault"
        await show_tab(pilot, "f4", "access")  # its check-outs; no org access keys
        assert "Request" not in text_of(app.screen.query_one("KeyBar"))
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert not errors, errors


async def test_two_factor_column_and_disable_asks_first(tui_server, make_app):
    """The 2FA column says 'on' once the user turned it on (from My account, the list
    reloads); x on an active user asks before disabling it (Esc keeps it active), and x on
    a disabled one enables it at once."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "secondf", "administrator")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "secondf", password)
        await main_ready(pilot)
        await show_tab(pilot, "f6", "users")
        table = app.screen.query_one("#users-table", DataTable)
        await cursor_to(pilot, table, "secondf")

        def two_fa(name: str) -> str:
            return rows(table, 4)[rows(table).index(name)]

        assert two_fa("secondf") == ""
        await pilot.press("ctrl+t")  # My account; t: two-factor on
        await until(pilot, lambda: isinstance(app.screen, MeScreen), what="(my account)")
        await pilot.press("t")
        form = await form_open(pilot, "Set up two-factor")
        await type_text(pilot, password)
        await submit(pilot, form)
        form = await form_open(pilot, "Two-factor authentication")
        secret = screen_text(app).split("secret=")[1].split("&")[0]
        await type_text(pilot, totp.code_at(secret, time.time()))
        await submit(pilot, form)
        await until(pilot, lambda: isinstance(app.screen, OnceModal), what="(recovery codes)")
        await until(pilot, lambda: "Recovery codes" in screen_text(app), what="(codes shown)")
        await pilot.press("enter")  # shown once (issue 27)
        await until(pilot, lambda: "Two-factor: on" in screen_text(app), what="(2FA on)")
        await pilot.press("escape")
        await main_ready(pilot)
        await until(pilot, lambda: two_fa("secondf") == "on", what="(2FA column)")
        assert two_fa(ADMIN) == ""
        await log_out(pilot)

        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f6", "users")
        table = app.screen.query_one("#users-table", DataTable)
        await cursor_to(pilot, table, "secondf")
        assert two_fa("secondf") == "on"

        def status() -> str:
            return rows(table, 3)[rows(table).index("secondf")]

        await pilot.press("x")  # asks; Esc keeps the user active
        form = await form_open(pilot, "Disable secondf")
        assert "sessions end" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert user(tui_server, admin, "secondf")["status"] == "active"

        await pilot.press("x")  # asks; yes disables
        form = await form_open(pilot, "Disable secondf")
        await type_text(pilot, "yes")
        await submit(pilot, form)
        await until(pilot, lambda: status() == "disabled", what="(disabled)")
        assert user(tui_server, admin, "secondf")["status"] == "disabled"

        await pilot.press("x")  # enabling needs no confirmation
        await until(pilot, lambda: status() == "active", what="(enabled)")
        assert isinstance(app.screen, MainScreen)
        assert user(tui_server, admin, "secondf")["status"] == "active"


async def test_activation_and_2fa_reset_refusals_read_as_sentences(tui_server, make_app):
    """I on an administrator that cannot be activated: the server's refusal as a
    sentence (no 'Username' glued before it); T on a user without 2FA says there is
    nothing to reset (the key is not silently dead)."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    make_user(tui_server, admin, "carolr", "administrator")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f6", "users")
        table = app.screen.query_one("#users-table", DataTable)
        await cursor_to(pilot, table, "carolr")
        await pilot.press("I")
        form = await form_open(pilot, "Activate carolr")
        await type_text(pilot, ADMIN_PASSWORD)
        await pilot.press("enter")
        error = form.query_one("#form-error")
        await until(pilot, lambda: "carolr" in drawn(error), what="(activation refused)")
        said = " ".join(drawn(error).split())
        # (already its own person in the founding phase, else: set its own password)
        assert said.startswith("carolr ") and said.endswith("."), said
        assert "Username" not in said and "own" in said, said
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen.focused, DataTable), what="(back)")
        await pilot.press("T")
        await notified(pilot, "carolr has no two-factor authentication to reset")


async def test_msp_user_is_not_offered_a_refused_confirm(tui_server, make_app, people):
    """An MSP user on a client org's Users: c Confirm is not offered (only a confirmed
    administrator of the org itself confirms its users), the pending first administrator
    says the way out (Access (F4) c), and no refused call is made (issue 35)."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    status, body = tui_server.api(
        "POST",
        "/orgs",
        {"name": "Eta Ltd", "display_name": "eta", "account_manager": "adm2"},
        admin,
    )
    assert status == 201, body
    adm2 = tui_server.login("adm2", people["adm2"])
    make_user(tui_server, adm2, "etaboss", "administrator", "eta")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "adm2", people["adm2"])
        await main_ready(pilot)
        band = app.screen.query_one("#org-select")
        await until(pilot, lambda: "eta" in [str(v) for _l, v in band._options])
        await pilot.press("ctrl+o")
        await until(pilot, lambda: band.expanded)
        await type_text(pilot, "eta")
        await pilot.press("enter")
        await show_tab(pilot, "f6", "users")
        table = app.screen.query_one("#users-table", DataTable)
        await until(pilot, lambda: "etaboss" in rows(table), what="(eta's users)")
        await cursor_to(pilot, table, "etaboss")
        assert table.get_row_at(table.cursor_row)[5] == "PENDING (F4 c)"
        assert "Confirm" not in text_of(app.screen.query_one("KeyBar"))
        await pilot.press("c")  # not offered: nothing is asked of the server
        await settle(pilot)
    assert not user(tui_server, adm2, "etaboss", "eta")["confirmed"]
    for org, token in (("eta", adm2), ("MSPOrg", admin)):
        status, denied = tui_server.api(
            "GET", f"/orgs/{org}/audit?operation=access_denied", token=token
        )
        assert status == 200, denied
        assert [e for e in denied["items"] if "confirm" in e["target"]] == []
