"""Small dialogs: a form, a typed confirmation, a revealed password, a read-only text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from tui.text import inert


@dataclass
class FormField:
    """One input of a form."""

    name: str
    label: str
    password: bool = False
    value: str = ""
    placeholder: str = ""
    check: Callable[[str], str | None] | None = None  # live validation: a message or None


class FormModal(ModalScreen[dict | None]):
    """A titled form; Enter submits (when every check passes), Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel")]

    def __init__(self, title: str, fields: list[FormField], note: str = "") -> None:
        super().__init__()
        self._title, self._fields, self._note = title, fields, note

    def compose(self) -> ComposeResult:
        """The fields, each with a line for its live check."""
        with VerticalScroll(classes="dialog"):
            yield Static(self._title, classes="dialog-title")
            if self._note:
                yield Static(self._note, classes="dialog-note")
            for f in self._fields:
                yield Label(f.label)
                yield Input(
                    value=f.value,
                    placeholder=f.placeholder,
                    password=f.password,
                    id=f"f-{f.name}",
                    compact=True,
                )
                if f.check:
                    yield Static("", id=f"c-{f.name}", classes="check")
            yield Static("Enter: save   Esc: cancel", classes="dialog-keys")

    @on(Input.Changed)
    def live_check(self, event: Input.Changed) -> None:
        """Show a field's problem as the user types."""
        name = (event.input.id or "")[2:]
        spec = next((f for f in self._fields if f.name == name), None)
        if spec and spec.check:
            problem = spec.check(event.value) if event.value else None
            self.query_one(f"#c-{name}", Static).update(inert(problem or ""))

    @on(Input.Submitted)
    def submit(self) -> None:
        """Return the values if every check passes."""
        values = {f.name: self.query_one(f"#f-{f.name}", Input).value for f in self._fields}
        for f in self._fields:
            if f.check and f.check(values[f.name]):
                self.notify(f"{f.label}: {f.check(values[f.name])}", severity="warning")
                return
        self.dismiss(values)

    def action_cancel(self) -> None:
        """Close without a result."""
        self.dismiss(None)


class ConfirmTypedModal(ModalScreen[bool]):
    """A dangerous action: the user must type ``expected`` to go ahead."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel")]

    def __init__(self, title: str, warning: str, expected: str) -> None:
        super().__init__()
        self._title, self._warning, self._expected = title, warning, expected

    def compose(self) -> ComposeResult:
        """The warning and the confirmation field."""
        with Vertical(classes="dialog danger"):
            yield Static(self._title, classes="dialog-title")
            yield Static(inert(self._warning))
            yield Label(f"Type {self._expected} to confirm")
            yield Input(id="confirm", compact=True)
            yield Static("Enter: confirm   Esc: cancel", classes="dialog-keys")

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        """Go ahead only on an exact match."""
        if event.value != self._expected:
            self.notify("That does not match; nothing was done.", severity="warning")
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        """Back out."""
        self.dismiss(False)


class RevealModal(ModalScreen[None]):
    """Shows a password, hides it after a few seconds; c copies it (OSC 52)."""

    BINDINGS = [
        Binding("c", "copy", "Copy", id="copy"),
        Binding("escape", "close", "Close", id="close"),
    ]

    def __init__(self, title: str, password: str, seconds: float) -> None:
        super().__init__()
        self._title, self._password, self._seconds = title, password, seconds
        self._left = int(seconds)
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        """The password and a countdown."""
        with Vertical(classes="dialog"):
            yield Static(inert(self._title), classes="dialog-title")
            yield Static(inert(self._password), id="secret")
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
        """Put the password on the clipboard (works over SSH in most terminals)."""
        self.app.copy_to_clipboard(self._password)
        self.notify("Copied to the clipboard.")

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
