"""My account (Ctrl+T) by keys only: my password, two-factor off with a code, my API keys
(the key shown once, works, then stops working once revoked)."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime

from textual.geometry import Region
from textual.widgets import DataTable

from server.security import totp
from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, make_user, settle, type_text, until
from tests.tui.keys import (
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
from tui.screens.login import LoginScreen
from tui.screens.me import MeScreen, OnceModal
from tui.screens.modals import KeysModal


async def open_me(pilot) -> MeScreen:
    """Ctrl+T from the main screen; the API key list has the focus."""
    await pilot.press("ctrl+t")
    app = pilot.app
    await until(
        pilot,
        lambda: isinstance(app.screen, MeScreen) and isinstance(app.screen.focused, DataTable),
        what="(my account)",
    )
    return app.screen


async def qr_whole_on_screen(pilot, app, form) -> None:
    """The QR code, the title and the code field are all inside the 80x24 screen (once the
    dialog is laid out: on a loaded machine its first frame may come after its focus)."""
    figure = form.query_one("#figure")
    await until(pilot, lambda: figure.region.height > 0, what="(the QR code laid out)")
    lines = text_of(figure).splitlines()
    screen = Region(0, 0, *app.size)
    assert len(lines) <= 20 and figure.region.height == len(lines), figure.region
    assert screen.contains_region(figure.region), figure.region
    # A light quiet zone all round: full blocks at both sides, light tops on the first line.
    assert all(line[0] == line[-1] == "\u2588" for line in lines)
    assert " " not in lines[0] and "\u2584" not in lines[0]
    for part in (".dialog-title", "#f-code", "#totp-secret"):
        widget = form.query_one(part)
        assert screen.contains_region(widget.region) and widget.region.height, part


async def test_my_password_totp_and_api_keys_by_keys(tui_server, make_app):
    """Password change ends my other sessions; 2FA on (QR dialog) then off with a code;
    an API key made for 365 days is shown once, works, and is refused once revoked."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "myself", "password_user")
    other_session = tui_server.login("myself", password)
    new_password = "my-new-password-33"
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "myself", password)
        await main_ready(pilot)
        me = await open_me(pilot)
        await until(pilot, lambda: "Two-factor: off" in screen_text(app), what="(profile)")
        assert "myself" in screen_text(app)
        await pilot.press("f1")  # the keys panel lists this screen's keys
        await until(pilot, lambda: isinstance(app.screen, KeysModal), what="(keys panel)")
        # 2FA is off: F1 lists setting it up (turning it off and new recovery codes show
        # once it is on).
        assert "Revoke the API key" in screen_text(app) and "Set up two-factor" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is me)
        titles = [c.title for c in app.get_system_commands(me)]
        assert "My account: Create an API key" in titles

        # The password: current, new, repeat; a differing repeat is said under its field.
        await pilot.press("p")
        form = await form_open(pilot, "Change my password")
        await fill(pilot, password, new_password, "something-else-44")
        await pilot.press("enter")
        await until(pilot, lambda: form.query_one("#e-repeat").has_class("shown"))
        assert app.screen is form
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, new_password)
        await submit(pilot, form)
        await notified(pilot, "other sessions have ended")
        assert tui_server.api("GET", "/me", token=other_session)[0] == 401
        assert tui_server.login("myself", new_password)

        # Two-factor on from here (the enrolment dialog with the QR code) ...
        await pilot.press("t")
        form = await form_open(pilot, "Set up two-factor")
        await type_text(pilot, new_password)
        await submit(pilot, form)
        form = await form_open(pilot, "Two-factor authentication")
        await qr_whole_on_screen(pilot, app, form)
        secret = screen_text(app).split("secret=")[1].split("&")[0]
        await type_text(pilot, totp.code_at(secret, time.time()))
        await submit(pilot, form)
        await until(pilot, lambda: isinstance(app.screen, OnceModal), what="(recovery codes)")
        await until(pilot, lambda: "Recovery codes" in screen_text(app), what="(codes shown)")
        await pilot.press("enter")  # shown once (issue 27)
        await until(pilot, lambda: "Two-factor: on" in screen_text(app), what="(2FA on)")
        status, problem = tui_server.api(
            "POST", "/auth/login", {"username": "myself", "password": new_password}
        )
        assert (status, problem["code"]) == (401, "otp_required")

        # ... and off with the password and a code: a wrong code is said in the dialog,
        # which stays with what was typed.
        await pilot.press("o")
        form = await form_open(pilot, "Turn two-factor authentication off")
        wrong = "000000" if totp.code_at(secret, time.time() + 30) != "000000" else "111111"
        await type_text(pilot, new_password)
        await pilot.press("tab")
        await type_text(pilot, wrong)
        await pilot.press("enter")
        await until(pilot, lambda: form.query_one("#e-code").has_class("shown"))
        assert "does not match" in text_of(form.query_one("#e-code"))
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, totp.code_at(secret, time.time() + 30))  # the next step
        await submit(pilot, form)
        await notified(pilot, "Two-factor authentication is off")
        await until(pilot, lambda: "Two-factor: off" in screen_text(app), what="(2FA off)")
        assert tui_server.login("myself", new_password)  # no code asked any more

        # An API key for 365 days: shown once, in a dialog that says so.
        await pilot.press("n")
        form = await form_open(pilot, "New API key")
        await fill(pilot, "ci-bot", ">365")
        await submit(pilot, form)
        await until(pilot, lambda: isinstance(app.screen, OnceModal), what="(key shown)")
        assert "Shown only now" in screen_text(app)
        key = text_of(app.screen.query_one("#secret")).strip()
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is me)
        keys = me.query_one("#api-keys", DataTable)
        await until(pilot, lambda: rows(keys) == ["ci-bot"], what="(key listed)")
        assert rows(keys, 1) == [key[-6:]] and rows(keys, 4) == ["never"]
        status, mine = tui_server.api("GET", "/me", token=key)
        assert (status, mine["username"]) == (200, "myself")
        session = tui_server.login("myself", new_password)
        listed = tui_server.api("GET", "/me/api-keys", token=session)[1]["items"]
        made, ends = (datetime.fromisoformat(listed[0][k]) for k in ("created_at", "expires_at"))
        assert (ends - made).days == 365

        # Revoked (typing its name): the key is refused from then on.
        await pilot.press("d")
        form = await form_open(pilot, "Revoke API key ci-bot")
        await type_text(pilot, "ci-bot")
        await submit(pilot, form)
        await notified(pilot, "API key ci-bot revoked")
        await until(pilot, lambda: keys.row_count == 0, what="(key gone)")
        assert tui_server.api("GET", "/me", token=key)[0] == 401

        # Esc: back to the main screen.
        await pilot.press("escape")
        await main_ready(pilot)


async def test_session_ended_elsewhere_is_one_notice(tui_server, make_app):
    """The password changed through the API ends the app's session: Ctrl+R brings one
    notice (no 'not reachable', no 'request failed') and the login with the name filled
    in; Ctrl+X from My account logs out."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "elsewhere", "administrator")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "elsewhere", password)
        await main_ready(pilot)
        me = await open_me(pilot)
        bar = me.query_one("KeyBar").render().plain
        assert " ".join(bar.split()).endswith("F1 Keys ^x Log out ^q Quit"), bar
        await pilot.press("ctrl+x")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), what="(logged out)")
        assert len(app.screen_stack) == 2  # nothing left under the login screen

        await log_in(pilot, "elsewhere", password)
        await main_ready(pilot)
        await show_tab(pilot, "f6", "users")
        own = tui_server.login("elsewhere", password)
        new = "elsewhere-new-pw-55"
        status, body = tui_server.api(
            "POST", "/me/password", {"current_password": password, "new_password": new}, own
        )
        assert status in (200, 204), body
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), what="(login)")
        await notified(
            pilot, "Your session has ended: it was logged out elsewhere, the password changed"
        )
        await settle(pilot, 1.0)  # late answers of the other requests must say nothing
        messages = [n.message for n in app._notifications]
        assert len(messages) == 1, messages
        assert "log in again" in messages[0].lower()
        assert "elsewhere" in drawn(app.screen.query_one("#username"))


async def test_required_two_factor_is_set_up_at_login_without_asking_the_password_again(
    tui_server, make_app
):
    """A user whose administrator requires 2FA logs in: the QR code comes at once (the
    password just typed is not asked again), then the recovery codes, one per line, then
    the main screen (the newcomer pass on issue 27)."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "mustenrol", "password_user")
    status, body = tui_server.api(
        "PATCH", "/orgs/MSPOrg/users/mustenrol", {"totp_required": True}, admin
    )
    assert status == 200, body
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "mustenrol", password)
        form = await form_open(pilot, "Two-factor authentication")
        # Why it is asked is said in the dialog, not in a notice drawn over its bottom
        # border at 80x24 (newcomer pass, session 9); the dialog fits the screen.
        assert "Your organization requires it" in screen_text(app)
        assert not app._notifications, [n.message for n in app._notifications]
        dialog = form.query_one(".dialog")
        assert dialog.region.bottom <= 24 and dialog.region.y >= 0
        secret = screen_text(app).split("secret=")[1].split("&")[0]
        await type_text(pilot, totp.code_at(secret, time.time()))
        await submit(pilot, form)
        await until(pilot, lambda: isinstance(app.screen, OnceModal), what="(recovery codes)")
        codes = str(app.screen.query_one("#secret").render())
        assert len(codes.splitlines()) == 10 and "\u240a" not in codes, codes
        await pilot.press("enter")
        await main_ready(pilot)


def ed25519_public(folder) -> str:
    """A fresh ed25519 public key line (comment 'laptop') made by OpenSSH's ssh-keygen."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "laptop", "-f", folder / "k"],
        check=True,
    )
    return (folder / "k.pub").read_text().strip()


async def test_my_ssh_keys_by_keys(tui_server, make_app, tmp_path):
    """My account, s: my SSH keys; a pasted ed25519 key is added with its fingerprint, a
    short RSA key is refused in the dialog, and the key is revoked by typing its name."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    password = make_user(tui_server, admin, "sshtui", "password_user")
    public = ed25519_public(tmp_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "sshtui", password)
        await main_ready(pilot)
        me = await open_me(pilot)
        await pilot.press("s")
        await until(pilot, lambda: "My SSH keys" in screen_text(app), what="(ssh keys)")
        await pilot.press("a")
        form = await form_open(pilot, "Add an SSH public key")
        await type_text(pilot, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7")
        await pilot.press("enter")
        await until(pilot, lambda: form.query_one("#e-key").has_class("shown"), what="(refused)")
        await pilot.press("ctrl+a", "ctrl+k")
        await type_text(pilot, public)
        await submit(pilot, form)
        await notified(pilot, "SSH key laptop added: SHA256:")
        table = app.screen.query_one("#ssh-keys", DataTable)
        await until(pilot, lambda: rows(table) == ["laptop"], what="(key listed)")
        assert rows(table, 2) == ["never"]
        session = tui_server.login("sshtui", password)
        listed = tui_server.api("GET", "/me/ssh-keys", token=session)[1]["items"]
        # The whole fingerprint (SHA256: and all), on screen at 80 columns.
        assert rows(table, 1) == [listed[0]["fingerprint"]]
        assert listed[0]["fingerprint"] in drawn(table), drawn(table)

        await pilot.press("d")
        form = await form_open(pilot, "Revoke SSH key laptop")
        await type_text(pilot, "laptop")
        await submit(pilot, form)
        await notified(pilot, "SSH key laptop revoked")
        await until(pilot, lambda: table.row_count == 0, what="(key gone)")
        assert tui_server.api("GET", "/me/ssh-keys", token=session)[1]["items"] == []
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is me)
