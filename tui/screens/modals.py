"""Small read-only dialogs: a revealed password, a text, the keys of the current pane.

Every dialog that asks for input is ``tui.screens.form.FormModal``.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Static

from tui.clipboard import DEFAULT_SECONDS, copied_sentence, copy_for_a_while
from tui.text import inert


class RevealModal(ModalScreen[None]):
    """Shows a password (and the account's secret additional fields), hides it after a few
    seconds; c copies the password (OSC 52) and the clipboard is cleared again later."""

    BINDINGS = [
        Binding("c", "copy", "Copy", id="copy"),
        Binding("escape", "close", "Close", id="close"),
    ]

    def __init__(
        self, title: str, password: str, seconds: float, secrets: dict[str, str] | None = None
    ) -> None:
        super().__init__()
        self._title, self._password, self._seconds = title, password, seconds
        self._secrets = secrets or {}
        self._left = int(seconds)
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        """The password, the secret fields and a countdown."""
        with Vertical(classes="dialog"):
            yield Static(inert(self._title), classes="dialog-title")
            yield Static(inert(self._password), id="secret")
            for name, value in sorted(self._secrets.items()):
                yield Static(inert(f"{name}: {value}"), classes="secret-field")
            yield Static("", id="countdown")
            yield Static("c: copy to clipboard   Esc: close", classes="dialog-keys")

    def on_mount(self) -> None:
        """Start the countdown."""
        self._tick()
        self._timer = self.set_interval(1, self._tick)

    def _tick(self) -> None:
        if self._left <= 0:
            self.dismiss(None)
            return
        self.query_one("#countdown", Static).update(f"hides in {self._left} s")
        self._left -= 1

    def action_copy(self) -> None:
        """Put the password on the clipboard (works over SSH in most terminals); it is
        cleared again after the app's ``clipboard_seconds``."""
        seconds = getattr(self.app, "clipboard_seconds", DEFAULT_SECONDS)
        copy_for_a_while(self.app, self._password, seconds)
        self.notify(copied_sentence(self.app, "The password", seconds))

    def action_close(self) -> None:
        """Hide now."""
        self.dismiss(None)


class TextModal(ModalScreen[None]):
    """A scrollable read-only text (org report, import results)."""

    BINDINGS = [Binding("escape", "close", "Close", id="close")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self._title, self._lines = title, lines

    def compose(self) -> ComposeResult:
        """The lines."""
        with Vertical(classes="dialog wide"):
            yield Static(inert(self._title), classes="dialog-title")
            with VerticalScroll():
                for line in self._lines:
                    yield Static(inert(line))
            yield Static("Esc: close", classes="dialog-keys")

    def action_close(self) -> None:
        """Close."""
        self.dismiss(None)


class KeysModal(ModalScreen[None]):
    """F1 / ?: the keys of the pane in use and the keys that work everywhere."""

    BINDINGS = [
        Binding("escape,f1,question_mark", "close", "Close", id="close"),
    ]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        """One block per section: key, description."""
        with VerticalScroll(classes="dialog keys"):  # as wide as 80 columns allow
            yield Static("Keys   (Esc: close)", classes="dialog-title")
            for title, keys in self._sections:
                yield Static(title, classes="section")
                for key, description in keys:
                    yield Static(inert(f"  {key:<10} {description}"))
            yield Static("Esc: close   Ctrl+P: every action by name", classes="dialog-keys")

    def action_close(self) -> None:
        """Close."""
        self.dismiss(None)
