"""The Strongroom terminal UI: installs screens, holds the API client, one error path."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterable

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from tui.client import SESSION_ENDED, ApiError, Client, read_only_sentence
from tui.clipboard import clear_now
from tui.controls.hints import inputs_show_hints
from tui.controls.keybar import split_bindings
from tui.controls.table import mark_cursor_rows
from tui.keyboard import KeyQueue, cursor_at_end_on_focus
from tui.screens.login import LoginScreen
from tui.screens.modals import KeysModal
from tui.styling import style_only_attached
from tui.terminal import too_small
from tui.text import inert, inert_lines

HANG_UP_STATUS = 129  # 128 + SIGHUP: the terminal went away


class StrongroomApp(App):
    """Keyboard-driven Strongroom client; talks to the server only through ``Client``."""

    CSS_PATH = ["styles/app.tcss", "styles/dialogs.tcss"]
    TITLE = "Strongroom"
    BINDINGS = [
        Binding("f1", "keys", "Keys", key_display="F1", id="help", priority=True),
        Binding("question_mark", "keys", "Keys", id="help-question", show=False),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        # Ctrl+L repaints, as everywhere in a terminal (log out is Ctrl+X).
        Binding("ctrl+l", "repaint", "Repaint", id="repaint", show=False, priority=True),
        # Tab moves the focus before the keys typed after it are handed out, so a burst
        # of keys (a fast typist, a paste, a slow SSH link) lands in the right fields.
        Binding("tab", "focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "focus_previous", "Previous field", show=False, priority=True),
    ]

    def __init__(
        self,
        client: Client,
        reveal_seconds: float = 10.0,
        clipboard_seconds: float = 30.0,
        bound_session: bool = False,
        connect_request: Callable[[dict], None] | None = None,
    ) -> None:
        """``bound_session``: the client already holds a session's token (the SSH gateway
        logged the user in, issue 30): the app opens at the main screen and ends, rather
        than showing the login screen, when that session ends or is logged out."""
        super().__init__(driver_class=_posix_driver() if os.name == "posix" else None)
        cursor_at_end_on_focus()
        style_only_attached()
        mark_cursor_rows()  # the cursor row is seen without colour too
        inputs_show_hints()  # a hint is drawn as a hint, never as typed text
        self.keys_queue = KeyQueue(self)  # typed-ahead keys, handed out in order
        self.client = client
        self.reveal_seconds = reveal_seconds
        self.clipboard_seconds = clipboard_seconds  # a copied password is cleared after this
        self.me: dict = {}
        self.last_org: str | None = None  # the org of the last login in this run
        self._ending = False  # the session-ended notice is on its way (shown once)
        self.bound_session = bound_session
        # Under the SSH gateway: hands the gateway a brokered-session request (issue 30).
        self.connect_request = connect_request

    def on_mount(self) -> None:
        """Start at the login screen (the main screen for a bound session); a hang-up
        (SIGHUP) ends the app."""
        if self.bound_session:
            self.push_screen(Screen())
            self.run_worker(self._open_bound_session(), exclusive=True)
        else:
            self.push_screen(LoginScreen())
        if not self.is_headless:
            try:
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.hang_up)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not on the main thread, or no SIGHUP on this platform

    async def on_event(self, event: events.Event) -> None:
        """Keys from the terminal wait their turn in ``keys_queue`` (``tui.keyboard``)."""
        if (
            isinstance(event, events.Key)
            and not event.is_forwarded
            and self.keys_queue.accept(event)
        ):
            return
        await super().on_event(event)

    async def _deliver_key(self, event: events.Key):
        """Hand one queued key out as Textual would: the app's priority bindings, else
        the focused widget (or the screen). The node it went to, or None if a binding
        took it."""
        self.app_focus = True
        if await self._check_bindings(event.key, priority=True):
            return None
        target = self.focused or self.screen
        target._forward_event(event)
        return target

    def hold_keys(self) -> object:
        """Keep typed keys until ``release_keys(token)``: an action is fetching what the
        dialog it opens needs (``tui.workers``)."""
        return self.keys_queue.hold()

    def release_keys(self, token: object | None = None) -> None:
        """End a hold (None: all of them)."""
        self.keys_queue.release(token)

    def push_screen(self, *args, **kwargs):
        """Textual's push; the keys typed meanwhile go to the new screen once its first
        field has the focus (``tui.keyboard``)."""
        pushed = super().push_screen(*args, **kwargs)
        self.release_keys()
        return pushed

    def action_focus_next(self) -> None:
        """Tab: the next field or list of the focused pane (or dialog), round again
        within it; never out to the org selector of the band."""
        self._tab(1)

    def action_focus_previous(self) -> None:
        """Shift+Tab: as Tab, backwards."""
        self._tab(-1)

    def _tab(self, step: int) -> None:
        from tui.widgets.pane import Pane  # the tabs' panes (late: they import the app's)

        screen = self.screen
        focused = screen.focused
        above = focused.ancestors if focused is not None else []
        scope = next((node for node in above if isinstance(node, Pane)), None)
        chain = [w for w in screen.focus_chain if scope is None or scope in w.ancestors]
        if focused is None or focused not in chain:
            (screen.focus_next if step > 0 else screen.focus_previous)()
            return
        screen.set_focus(chain[(chain.index(focused) + step) % len(chain)])

    def on_resize(self, event: events.Resize) -> None:
        """Below 80x24 say so (once per shrink), instead of a cut title and empty lists."""
        sentence = too_small(event.size.width, event.size.height)
        if sentence and not getattr(self, "_said_small", False):
            self.notify(sentence, title="Window too small", severity="warning", timeout=10)
        self._said_small = bool(sentence)

    def action_repaint(self) -> None:
        """Ctrl+L: draw the whole screen again (after line noise, a resize the terminal
        did not report, or a message another program wrote over it)."""
        driver = self._driver
        if driver is not None and not self.is_headless:
            driver.write("\x1b[H\x1b[2J")
        for screen in self.screen_stack:
            screen.refresh(layout=True)
        self.refresh(layout=True)

    def action_help_quit(self) -> None:
        """Ctrl+C copies in a field; elsewhere say how to quit (as plain words)."""
        self.notify("Press Ctrl+Q to quit Strongroom.", title="Quit?")

    def clear_clipboard(self) -> None:
        """Empty a clipboard this app filled (a password) now: on quit, log out and
        hang-up, not only when its timer runs out."""
        clear_now(self)

    async def action_quit(self) -> None:
        """Ctrl+Q: empty the clipboard first, then leave."""
        self.clear_clipboard()
        await super().action_quit()

    def hang_up(self) -> None:
        """The terminal went away (SIGHUP, or its input ended): try to empty the clipboard
        and end (exit status 129), never spin without a terminal."""
        self.clear_clipboard()
        self.exit(return_code=HANG_UP_STATUS)

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

    async def _open_bound_session(self) -> None:
        """Who the bound session's user is, then the main screen; a session that does not
        work ends the app."""
        try:
            self.me = await self.client.me()
        except ApiError:
            self.exit(1)
            return
        self.show_main()

    def show_login(self, username: str = "", org: str = "") -> None:
        """Back to the login screen (``username`` and ``org`` filled in); the previous
        user's messages go with them. A bound session's app ends instead."""
        if self.bound_session:
            self.clear_clipboard()
            self.exit(0)
            return
        self.clear_notifications()
        self.clear_clipboard()
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


def _posix_driver() -> type:
    """The POSIX terminal driver (imported here: it needs ``termios``, which Windows lacks)."""
    from tui.posix_driver import StrongroomDriver

    return StrongroomDriver
