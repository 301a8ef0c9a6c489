"""First-login password change: the one form dialog over a plain screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from tui.client import ApiError
from tui.controls.keybar import KeyBar
from tui.screens.form import FormModal, new_password, new_password_fields
from tui.screens.me import enrol_if_required
from tui.workers import api_worker


class PasswordChangeScreen(Screen):
    """The server requires a new password before anything else."""

    def __init__(self, current: str) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        """A backdrop; the form itself is a FormModal."""
        yield Static("Strongroom — first login", id="login-title")
        yield KeyBar()

    def on_mount(self) -> None:
        """Ask for the new password."""
        self.ask()

    @api_worker(exclusive=True)
    async def ask(self) -> None:
        """New password twice; Esc goes back to the login screen."""
        client = self.app.client

        chosen: list[str] = []

        async def submit(v: dict) -> bool:
            await client.change_password(self._current, new_password(v, "new"))
            chosen.append(new_password(v, "new"))
            return True

        changed = await self.app.push_screen_wait(
            FormModal(
                "Choose a new password",
                new_password_fields("new", "New password", api_names=("new_password",)),
                submit,
                note="This is your first login: choose your own password "
                "(at least 12 characters, not your username).",
                action="change the password",
            )
        )
        if not changed:
            try:
                await client.logout()
            except ApiError:
                pass
            self.app.call_later(self.app.show_login)
            return
        self.app.me = await client.me()
        self.app.notify("Password changed.")
        if not await enrol_if_required(self.app, chosen[-1] if chosen else None):
            await client.logout()
            self.app.call_later(self.app.show_login)
            return
        self.app.call_later(self.app.show_main)
