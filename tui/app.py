"""The Strongroom terminal UI: installs screens, holds the API client, one error path."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from tui.client import SESSION_ENDED, ApiError, Client, read_only_sentence
from tui.controls.keybar import split_bindings
from tui.screens.login import LoginScreen
from tui.screens.modals import KeysModal
from tui.text import inert, inert_lines


class StrongroomApp(App):
    """Keyboard-driven Strongroom client; talks to the server only through ``Client``."""

    CSS_PATH = ["styles/app.tcss", "styles/dialogs.tcss"]
    TITLE = "Strongroom"
    BINDINGS = [
        Binding("f1", "keys", "Keys", key_display="F1", id="help", priority=True),
        Binding("question_mark", "keys", "Keys", id="help-question", show=False),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        # Tab moves the focus before the keys typed after it are handed out, so a burst
        # of keys (a fast typist, a paste, a slow SSH link) lands in the right fields.
        Binding("tab", "focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "focus_previous", "Previous field", show=False, priority=True),
    ]

    def __init__(
        self, client: Client, reveal_seconds: float = 10.0, clipboard_seconds: float = 30.0
    ) -> None:
        super().__init__()
        self.client = client
        self.reveal_seconds = reveal_seconds
        self.clipboard_seconds = clipboard_seconds  # a copied password is cleared after this
        self.me: dict = {}
        self._ending = False  # the session-ended notice is on its way (shown once)

    def on_mount(self) -> None:
        """Start at the login screen."""
        self.push_screen(LoginScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: every action of the screen in use, the keys panel and Quit."""
        commands = getattr(screen, "palette_commands", None)
        if commands is None:
            yield from super().get_system_commands(screen)
            return
        for title, help_text, callback in commands():
            yield SystemCommand(title, help_text, callback)
        yield SystemCommand("Keys", "The keys of the pane in use (F1 or ?)", self.action_keys)
        yield SystemCommand("Quit", "Leave Strongroom (Ctrl+Q)", self.exit)

    def action_keys(self) -> None:
        """Show the keys of the pane in use with their descriptions (Esc closes)."""
        if isinstance(self.screen, KeysModal):
            self.screen.dismiss(None)
            return
        local, everywhere = split_bindings(self.screen)
        title = getattr(self.screen, "pane_title", lambda: "This screen")()

        def rows(bindings) -> list[tuple[str, str]]:
            return [(self.get_key_display(b), b.tooltip or b.description) for b in bindings]

        sections = [(f"{title} keys", rows(local))] if local else []
        sections.append(("Everywhere", [*rows(everywhere), ("^p", "Command palette")]))
        self.push_screen(KeysModal(sections))

    def show_login(self, username: str = "", org: str = "") -> None:
        """Back to the login screen (``username`` and ``org`` filled in); the previous
        user's messages go with them."""
        self.clear_notifications()
        self.switch_screen(LoginScreen(username, org))

    def show_password_change(self, current: str) -> None:
        """The first-login password change."""
        from tui.screens.password import PasswordChangeScreen

        self.switch_screen(PasswordChangeScreen(current))

    def show_main(self) -> None:
        """The main screen (after login)."""
        from tui.main_screen import MainScreen

        self.switch_screen(MainScreen())

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification (from the app or any widget) as plain text: messages carry
        names and reasons users typed, so never markup (``[@click=…]``, a stray ``[/]``
        that would crash the toast) and never a live terminal escape (``tui.text``)."""
        super().notify(
            inert_lines(message).plain,
            title=inert(title).plain,
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def show_error(self, error: BaseException, title: str = "Request failed") -> None:
        """The one error path: a notification with a title and a human sentence."""
        if isinstance(error, ApiError):
            message = error.detail
            if error.code == SESSION_ENDED:
                self.session_ended(error)
                return
            if error.code == "read_only":
                title = "Read-only server"
                message = read_only_sentence(error)
        else:
            message = "Something went wrong; the details are in the log."
            self.log.error(repr(error))
        self.notify(message, title=title, severity="error", timeout=8)

    def session_ended(self, error: ApiError) -> None:
        """The session stopped working: close whatever is open, say why, and bring up the
        login screen with the user name filled in (once, however many requests failed)."""
        if self._ending or isinstance(self.screen, LoginScreen):
            return
        self._ending = True
        self.call_later(
            self._back_to_login, self.me.get("username", ""), self.me.get("org", ""), error.detail
        )

    async def _back_to_login(self, username: str, org: str, why: str) -> None:
        try:
            while len(self.screen_stack) > 2:  # dialogs over the main screen
                await self.pop_screen()
            self.show_login(username, org)
            why = why.removesuffix("; log in again").rstrip(". ")
            if why.startswith("the session has ended"):  # the server does not say which
                why = (
                    "it was logged out elsewhere, the password changed, the user was "
                    "disabled, or its time ran out"
                )
            self.notify(
                f"Your session has ended: {why}. Log in again (your user name is filled in).",
                title="Session ended",
                severity="warning",
                timeout=20,
            )
        finally:
            self._ending = False

    async def on_unmount(self) -> None:
        """Close the HTTP session."""
        await self.client.close()
