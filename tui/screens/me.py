"""My account: my password, two-factor authentication and my API keys.

Reached from anywhere on the main screen (Ctrl+T); Esc goes back. The secrets made here
(an API key) and by the users pane (a temporary password) are shown once, in
``OnceModal``, which says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from tui.client import ApiError
from tui.clipboard import copied_sentence
from tui.controls.keybar import KeyBar
from tui.controls.table import fill_table
from tui.logic.times import minute
from tui.messages import DataChanged
from tui.screens.form import (
    Field,
    FormModal,
    new_password,
    new_password_fields,
    refusal,
    typed_confirmation,
)
from tui.screens.ssh_keys import SshKeysModal
from tui.screens.totp import confirm_form
from tui.text import inert, inert_lines
from tui.workers import api_worker

KEY_DAYS = [
    ("30 days", "30"),
    ("90 days", "90"),
    ("180 days", "180"),
    ("365 days (the longest)", "365"),
]


class OnceModal(ModalScreen[None]):
    """A secret shown this once (a new API key, a temporary password): c copies it,
    Enter or Esc closes, and it cannot be shown again."""

    BINDINGS = [
        Binding("c", "copy", "Copy", id="once-copy"),
        Binding("escape,enter", "close", "Close", id="once-close"),
    ]

    def __init__(self, title: str, secret: str, note: str) -> None:
        super().__init__()
        self._title, self._secret, self._note = title, secret, note

    def compose(self) -> ComposeResult:
        """Title, the secret, what to do with it."""
        with Vertical(classes="dialog"):
            yield Static(inert(self._title), classes="dialog-title")
            yield Static(inert_lines(self._secret), id="secret")  # one code per line
            yield Static(inert(self._note), classes="dialog-note")
            yield Static(
                "Shown only now.   c: copy   Enter/Esc: close",
                classes="dialog-keys",
            )

    def action_copy(self) -> None:
        """Put the secret on the clipboard (OSC 52: works over SSH in most terminals)."""
        self.app.copy_to_clipboard(self._secret)  # emptied on quit, log out and hang-up
        self.notify(copied_sentence(self.app, "The secret", 0, "type it from the screen"))

    def action_close(self) -> None:
        """Close; the secret is gone from the screen for good."""
        self.dismiss(None)


async def enrol_totp(app: App, password: str | None = None, required: bool = False) -> bool:
    """Enrol the logged-in user in TOTP: re-enter the password (not asked again when the
    login that just happened gives it: ``password``), scan the QR code, confirm with a
    first code (``required``: the dialog says the organization requires it). True when
    two-factor authentication is now on."""
    client = app.client
    enrolment = None
    if password is not None:
        try:
            enrolment = await client.begin_totp(password)
        except ApiError:
            enrolment = None  # asked for below, with the server's reason if it refuses again
    enrolment = enrolment or await app.push_screen_wait(
        FormModal(
            "Set up two-factor authentication",
            [
                Field(
                    "password",
                    "Your current password",
                    password=True,
                    required=True,
                    api_names=("current_password",),
                )
            ],
            lambda v: client.begin_totp(v["password"]),
            action="continue",
        )
    )
    if not enrolment:
        return False
    confirmed = await app.push_screen_wait(
        confirm_form(client, enrolment["secret"], enrolment["otpauth_uri"], required)
    )
    if not confirmed:
        return False
    codes = confirmed.get("recovery_codes") if isinstance(confirmed, dict) else None
    if codes:
        await app.push_screen_wait(
            OnceModal(
                "Recovery codes",
                "\n".join(codes),
                "Each code logs you in once in place of an authenticator code. Keep them "
                "somewhere safe, away from this computer.",
            )
        )
    app.notify("Two-factor authentication is on: logins now ask for a code.")
    return True


async def enrol_if_required(app: App, password: str | None = None) -> bool:
    """At login: a user whose org or administrator requires two-factor authentication and
    who has none enrols before anything else (issue 27; the server allows nothing else).
    ``password``: the one just typed, so it is not asked again. False when it did not
    (the caller logs out)."""
    me = app.me or {}
    if not me.get("totp_required") or me.get("totp_enabled"):
        return True
    # Said in the dialog itself: a notice drawn over the code's dialog at 80x24 covered
    # its bottom border (newcomer pass, session 9).
    if not await enrol_totp(app, password, required=True):
        return False
    app.me = await app.client.me()
    return True


# Where GET /me says two-factor is required (the org's policy covers me, or an
# administrator requires it for me): said instead of offering to turn it off, which the
# server refuses (409 totp_required; newcomer pass, session 11).
TOTP_REQUIRED_WORDS = "Your organization requires two-factor sign-in for you: it stays on."


class MyAccount(Vertical):
    """Who I am, and my API keys; the keys of this screen live here (so F1 lists them)."""

    BINDINGS = [
        # Esc is said on the screen's first line; the key bar keeps its room for the rest.
        Binding(
            "escape", "back", "Back", tooltip="Back to the main screen", id="me-back", show=False
        ),
        Binding("p", "password", "Password", tooltip="Change my password", id="me-password"),
        Binding("t", "totp_on", "2FA", tooltip="Set up two-factor (QR code)", id="me-totp-on"),
        Binding("o", "totp_off", "2FA off", tooltip="Turn two-factor off", id="me-totp-off"),
        # Before the rarely used ones: at 80 columns the key bar ends before them.
        Binding("s", "ssh_keys", "SSH keys", tooltip="My SSH keys (gateway)", id="me-ssh-keys"),
        Binding(
            "r",
            "recovery_codes",
            "Codes",
            tooltip="New recovery codes (the old ones stop working)",
            id="me-recovery-codes",
        ),
        Binding("n", "new_key", "New", tooltip="Create an API key", id="me-new-key"),
        Binding("d", "revoke_key", "Revoke", tooltip="Revoke the API key", id="me-revoke-key"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The two-factor keys that apply now (2FA on: new recovery codes, and off unless
        GET /me says it is required; off: set it up), so the key bar keeps its room at 80
        columns and offers nothing the server refuses."""
        me = self.app.me or {}
        enabled = bool(me.get("totp_enabled"))
        if action == "totp_on":
            return not enabled
        if action == "totp_off":  # not offered where it is required: the server refuses
            return enabled and not me.get("totp_required")
        if action == "recovery_codes":
            return enabled
        return True

    def compose(self) -> ComposeResult:
        """Profile lines, then the API keys."""
        yield Static("My account   (Esc: back to the main screen)", classes="section")
        yield Static("", id="me-profile")
        yield Static("API keys (the keys themselves are shown once, when made)", classes="section")
        keys = DataTable(id="api-keys", cursor_type="row", zebra_stripes=True)
        keys.add_columns("Name", "Ends", "Created", "Expires", "Last used")
        yield keys

    def on_mount(self) -> None:
        """Fill in from the server."""
        self.load()

    @api_worker(exclusive=True, group="me")
    async def load(self) -> None:
        """Fetch my profile and my API keys."""
        client = self.app.client
        me = self.app.me = await client.me()
        self.refresh_bindings()  # the two-factor keys follow its state
        keys = await client.api_keys()
        name = f" · {me['full_name']}" if me.get("full_name") else ""
        self.query_one("#me-profile", Static).update(
            inert_lines(
                f"{me['username']}{name} · {me['role'].replace('_', ' ')} in {me['org']}\n"
                f"E-mail: {me.get('email') or '-'} · Two-factor: "
                + ("on" if me["totp_enabled"] else "off")
                + (
                    f" · {me.get('recovery_codes_remaining', 0)} recovery codes left"
                    if me["totp_enabled"]
                    else ""
                )
                + (
                    f"\n{TOTP_REQUIRED_WORDS}"
                    if me.get("totp_required") and me["totp_enabled"]
                    else " (required: t sets it up)"
                    if me.get("totp_required")
                    else ""
                )
            )
        )
        fill_table(
            self.query_one("#api-keys", DataTable),
            (
                (
                    k["id"],
                    (
                        inert(k["name"]),
                        inert(k["ends_with"]),
                        minute(k["created_at"]),
                        minute(k["expires_at"]) + (" (expired)" if k.get("expired") else ""),
                        minute(k.get("last_used_at")) or "never",
                    ),
                )
                for k in keys
            ),
        )

    def views_changed(self, what: str) -> None:
        """Let the main screen under this one reload what shows ``what`` (the users list
        shows my 2FA state)."""
        for screen in self.app.screen_stack:
            if isinstance(screen, Screen) and hasattr(screen, "active_pane"):
                screen.post_message(DataChanged(what))

    async def form(self, title: str, fields: list[Field], submit, **options):
        """Open a form; its result (None when cancelled)."""
        return await self.app.push_screen_wait(FormModal(title, fields, submit, **options))

    @api_worker()
    async def action_password(self) -> None:
        """Change my password: the current one, the new one twice."""
        client = self.app.client

        async def submit(v: dict) -> bool:
            await client.change_password(v["current"], new_password(v, "new"))
            return True

        done = await self.form(
            "Change my password",
            [
                Field(
                    "current",
                    "Current password",
                    password=True,
                    required=True,
                    api_names=("current_password",),
                ),
                *new_password_fields(
                    "new",
                    "New password (12+ characters)",
                    "Repeat the new password",
                    api_names=("new_password",),
                ),
            ],
            submit,
            note="Your other sessions end when the password changes; this one goes on.",
            action="change it",
        )
        if done:
            self.app.notify("Password changed. Your other sessions have ended; this one goes on.")

    @api_worker()
    async def action_totp_on(self) -> None:
        """Enrol in two-factor authentication (the QR code dialog)."""
        if self.app.me.get("totp_enabled"):
            self.app.notify("Two-factor authentication is already on.", severity="warning")
            return
        if await enrol_totp(self.app):
            self.load()
            self.views_changed("users")

    @api_worker()
    async def action_totp_off(self) -> None:
        """Turn two-factor authentication off, proven with the password and a current code."""
        client = self.app.client
        if not self.app.me.get("totp_enabled"):
            self.app.notify("Two-factor authentication is not on.", severity="warning")
            return
        if self.app.me.get("totp_required"):
            self.app.notify(TOTP_REQUIRED_WORDS, severity="warning")
            return

        async def submit(v: dict) -> None:
            try:
                await client.disable_totp(v["password"], v["code"].strip())
            except ApiError as error:
                if error.code == "invalid_otp":  # about the code: said under its field
                    raise refusal("code", error.detail) from None
                raise

        done = await self.form(
            "Turn two-factor authentication off",
            [
                Field(
                    "password",
                    "Your current password",
                    password=True,
                    required=True,
                    api_names=("current_password",),
                ),
                Field(
                    "code", "A code from the authenticator app", required=True, api_names=("otp",)
                ),
            ],
            submit,
            note="Logins will ask only for the password.",
            action="turn it off",
            danger=True,
        )
        if done:
            self.app.notify("Two-factor authentication is off.")
            self.load()
            self.views_changed("users")

    @api_worker("No new recovery codes")
    async def action_recovery_codes(self) -> None:
        """Ten new recovery codes in place of the old ones, proven with my password and a
        current authenticator code; shown once (issue 27)."""
        client = self.app.client
        if not self.app.me.get("totp_enabled"):
            self.app.notify(
                "Recovery codes come with two-factor authentication: t sets it up.",
                severity="warning",
            )
            return

        async def submit(v: dict) -> dict:
            try:
                return await client.regenerate_recovery_codes(v["password"], v["code"].strip())
            except ApiError as error:
                if error.code == "invalid_otp":  # about the code: said under its field
                    raise refusal("code", error.detail) from None
                raise

        made = await self.form(
            "New recovery codes",
            [
                Field(
                    "password",
                    "Your current password",
                    password=True,
                    required=True,
                    api_names=("current_password",),
                ),
                Field(
                    "code", "A code from the authenticator app", required=True, api_names=("otp",)
                ),
            ],
            submit,
            note="Ten new one-time codes replace the ones you have: the old ones stop working.",
            action="make new codes",
        )
        if not made:
            return
        self.load()
        await self.app.push_screen_wait(
            OnceModal(
                "Recovery codes",
                "\n".join(made["recovery_codes"]),
                "Each code logs you in once in place of an authenticator code. The old codes "
                "no longer work. Keep these somewhere safe, away from this computer.",
            )
        )

    @api_worker()
    async def action_new_key(self) -> None:
        """Create an API key with a lifetime; the key is shown once."""
        client = self.app.client
        made = await self.form(
            "New API key",
            [
                Field("name", "Name (what uses it)", required=True),
                Field("days", "Expires after", value="90", choices=KEY_DAYS, required=True),
            ],
            lambda v: client.create_api_key(v["name"], int(v["days"])),
            action="create",
        )
        if not made:
            return
        self.load()
        await self.app.push_screen_wait(
            OnceModal(
                f"API key {made['name']}",
                made["key"],
                f"Use it as 'Authorization: Bearer <key>'. It expires {minute(made['expires_at'])}"
                " UTC.",
            )
        )

    def _selected_key(self) -> tuple[str, str] | None:
        table = self.query_one("#api-keys", DataTable)
        if table.row_count == 0:
            return None
        key_id = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return key_id, str(table.get_row_at(table.cursor_row)[0])

    @api_worker()
    async def action_revoke_key(self) -> None:
        """Revoke the highlighted API key (type its name to confirm)."""
        client = self.app.client
        chosen = self._selected_key()
        if chosen is None:
            self.app.notify("You have no API key to revoke.", severity="warning")
            return
        key_id, name = chosen

        async def submit(v: dict) -> bool:
            await client.delete_api_key(key_id)
            return True

        if await self.form(
            f"Revoke API key {name}",
            [typed_confirmation(name, problem=f"type {name} to revoke it", strip=True)],
            submit,
            note="Whatever uses this key is refused from now on.",
            action="revoke",
            danger=True,
        ):
            self.app.notify(f"API key {name} revoked.")
            self.load()

    def action_ssh_keys(self) -> None:
        """My SSH public keys for the SSH gateway (issue 30)."""
        self.app.push_screen(SshKeysModal())

    def action_back(self) -> None:
        """Back to the main screen."""
        self.screen.dismiss(None)


class MeScreen(Screen[None]):
    """My account, over the main screen; Ctrl+X logs out from here too."""

    AUTO_FOCUS = "#api-keys"
    BINDINGS = [
        Binding(
            "ctrl+x",
            "logout",
            "Log out",
            tooltip="End the session",
            id="logout",
            priority=True,
        ),
    ]

    def action_logout(self) -> None:
        """Back to the main screen, which ends the session (its Ctrl+X)."""
        under = self.app.screen_stack[-2]
        self.dismiss(None)
        self.app.call_later(getattr(under, "action_logout", self.app.show_login))

    def compose(self) -> ComposeResult:
        """The account pane and the key bar."""
        yield MyAccount()
        yield KeyBar()

    def pane_title(self) -> str:
        """For the keys panel (F1)."""
        return "My account"

    def palette_commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) for the command palette: this screen's actions."""
        pane = self.query_one(MyAccount)
        for binding in MyAccount.BINDINGS:
            yield (
                f"My account: {binding.tooltip}",
                f"key {binding.key}",
                self._run(pane, binding.action),
            )

    @staticmethod
    def _run(pane: MyAccount, action: str) -> Callable[[], None]:
        def run() -> None:
            getattr(pane, f"action_{action}")()

        return run
