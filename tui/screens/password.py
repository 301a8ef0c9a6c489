"""First-login password change."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from tui.client import ApiError


class PasswordChangeScreen(Screen):
    """The server requires a new password before anything else."""

    def __init__(self, current: str) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        """New password, twice."""
        with Vertical(id="login-box"):
            yield Static("Choose a new password", id="login-title")
            yield Static("At least 12 characters, not your username.")
            yield Label("New password")
            yield Input(password=True, id="new", compact=True)
            yield Label("Repeat it")
            yield Input(password=True, id="repeat", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        """Focus the first field."""
        self.query_one("#new", Input).focus()

    @on(Input.Submitted)
    @work(exclusive=True, exit_on_error=False)
    async def change(self) -> None:
        """Change the password and continue to the main screen."""
        new = self.query_one("#new", Input).value
        if new != self.query_one("#repeat", Input).value:
            self.app.notify("The two passwords differ.", severity="warning")
            return
        try:
            await self.app.client.change_password(self._current, new)
        except ApiError as error:
            self.app.show_error(error, "Password not changed")
            return
        self.app.me = await self.app.client.me()
        self.app.notify("Password changed.")
        self.app.call_later(self.app.show_main)
