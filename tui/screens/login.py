"""Login: username, password, org, and a TOTP code or an activation code when asked.

The Organization field starts with the org this terminal last logged in to (issue 35
item 5: after logging out of a client org named in the URL, MSP staff found that org
back in the field): the org of the last login in this run, else the org the URL names,
else the one remembered from an earlier run (``tui-state.json`` beside the known-hosts
file, per server; no secret is kept there).
"""

from __future__ import annotations

import json
from pathlib import Path

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from tui.client import ApiError
from tui.controls.keybar import KeyBar
from tui.screens.form import focus_label
from tui.screens.me import enrol_if_required
from tui.text import inert
from tui.workers import api_worker

LABELS = {  # field id → its label's text
    "org": "Organization",
    "username": "Username",
    "password": "Password",
    "otp": "One-time code",
    "activation": "Activation code",
}


class LoginScreen(Screen):
    """Log in to Strongroom."""

    BINDINGS = [Binding("enter", "login", "Log in", id="login", show=True)]
    AUTO_FOCUS = "#username"

    def __init__(self, username: str = "", org: str = "") -> None:
        super().__init__()
        self._username, self._org = username, org  # filled in when a session ended
        if username:
            self.AUTO_FOCUS = "#password"

    def compose(self) -> ComposeResult:
        """The login form."""
        with Vertical(id="login-box"):
            yield Static("Strongroom", id="login-title")
            yield Static("", id="login-server")
            yield Label("Organization", id="org-label")
            yield Input(placeholder="MSPOrg", id="org", compact=True)
            yield Label("Username", id="username-label")
            yield Input(id="username", compact=True)
            yield Label("Password", id="password-label")
            yield Input(password=True, id="password", compact=True)
            yield Label("One-time code", id="otp-label", classes="hidden")
            yield Input(  # an authenticator's 6 digits or a recovery code (issue 27)
                placeholder="6 digits or a recovery code",
                id="otp",
                classes="hidden",
                max_length=24,
                compact=True,
            )
            yield Label("Activation code", id="activation-label", classes="hidden")
            yield Input(
                placeholder="from the administrator who activated you",
                id="activation",
                classes="hidden",
                compact=True,
            )
            yield Static("", id="first-run", classes="hidden")
            yield Static("Enter: log in   Tab: next field", classes="dialog-keys")
        yield KeyBar()

    @on(events.DescendantFocus)
    def _mark_focused(self, event: events.DescendantFocus) -> None:
        """The focused field's label starts with the focus mark and the others lose it, so
        the field being typed in is seen without colour (``tui.screens.form.focus_label``,
        the mark's one home, as in every form)."""
        for field, text in LABELS.items():
            for label in self.query(f"#{field}-label").results(Label):
                focused = getattr(event.widget, "id", None) == field
                label.update(focus_label(text, focused))

    def on_mount(self) -> None:
        """Prefill the org (see the module) and show which server this is."""
        client = self.app.client
        last = getattr(self.app, "last_org", None)  # the last login in this run
        if self._org:
            org = self._org
        elif last is not None:
            org = last
        else:
            org = client.org or remembered_org(client)
        self.query_one("#org", Input).value = org
        self.query_one("#username", Input).value = self._username
        self.query_one("#login-server", Static).update(client.base)
        self.check_server()

    @api_worker("Server not reachable", exclusive=True, group="health")
    async def check_server(self) -> None:
        """Tell the user at once if the server is a read-only secondary or unreachable."""
        state = await self.app.client.health()
        label = "PRIMARY" if not state.read_only else "READ-ONLY SECONDARY"
        self.query_one("#login-server", Static).update(f"{state.url}  {label}")
        if state.first_login_hint:
            hint = self.query_one("#first-run", Static)
            hint.update(
                inert(
                    "First run: nobody has logged in yet. The administrator's initial "
                    f"password is in {state.first_login_hint} in the server's install "
                    "directory (user admin unless init was told otherwise)."
                )
            )
            hint.remove_class("hidden")

    @on(Input.Submitted)
    def submitted(self) -> None:
        """Enter in any field logs in."""
        self.action_login()

    def action_login(self) -> None:
        """Send the credentials; keys typed meanwhile wait for the screen that follows."""
        self.login(self.app.hold_keys())

    @api_worker(exclusive=True, group="login")
    async def login(self, hold: object = None) -> None:
        """Log in; ask for a TOTP code or a new password when the server says so."""
        try:
            await self._login()
        finally:
            self.app.release_keys(hold)

    async def _login(self) -> None:
        values = {i.id: i.value for i in self.query(Input)}
        if not values["username"] or not values["password"]:
            self.app.notify("Enter a username and a password.", severity="warning")
            return
        try:
            result = await self.app.client.login(
                values["username"],
                values["password"],
                values["org"] or None,
                values["otp"] or None,
                values["activation"] or None,
            )
        except ApiError as error:
            if error.code == "activation_code_required":
                for node in self.query("#activation, #activation-label"):
                    node.remove_class("hidden")
                self.screen.set_focus(self.query_one("#activation", Input))
                self.app.notify(
                    "This account is being activated: enter the activation code the "
                    "activating administrator gave you."
                )
                return
            if error.code == "otp_required":
                for node in self.query("#otp, #otp-label"):
                    node.remove_class("hidden")
                self.screen.set_focus(self.query_one("#otp", Input))
                self.app.notify(
                    "Enter the code from your authenticator app (or one of your recovery codes)."
                )
                return
            self.app.show_error(error, "Login failed")
            return
        self.app.last_org = values["org"]
        remember_org(self.app.client, values["org"])
        self.app.me = await self.app.client.me()
        left = result.get("recovery_codes_remaining")
        if left is not None:  # a recovery code was spent: say how many remain (issue 27)
            self.app.notify(
                f"Recovery code used: {left} left. Make new ones in My account (Ctrl+T, r).",
                severity="warning" if left <= 3 else "information",
            )
        if result.get("must_change_password"):
            self.app.call_later(self.app.show_password_change, values["password"])
        elif await enrol_if_required(self.app, values["password"]):
            self.app.call_later(self.app.show_main)
        else:
            await self.app.client.logout()


def _state_file(client) -> Path:
    return Path(client.known_hosts).parent / "tui-state.json"


def remembered_org(client) -> str:
    """The org this terminal's user last logged in to on this server ('' if none)."""
    try:
        state = json.loads(_state_file(client).read_text())
        org = state.get("last_org", {}).get(client.endpoints[0].base, "")
    except (OSError, ValueError, AttributeError):
        return ""
    return org if isinstance(org, str) else ""


def remember_org(client, org: str) -> None:
    """Keep ``org`` ('' for MSPOrg) as the last org logged in to on this server (best
    effort: a read-only home only loses the memory)."""
    path = _state_file(client)
    try:
        try:
            state = json.loads(path.read_text())
            if not isinstance(state, dict):
                state = {}
        except (OSError, ValueError):
            state = {}
        orgs = state.get("last_org") if isinstance(state.get("last_org"), dict) else {}
        orgs[client.endpoints[0].base] = org
        state["last_org"] = orgs
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, indent=2))
    except OSError:
        pass
