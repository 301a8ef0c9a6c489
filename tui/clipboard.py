"""The clipboard by OSC 52: a copied password is cleared again after a while.

OSC 52 asks the terminal (local, or at the far end of an SSH link) to put text on the
system clipboard; sending it with empty content empties the clipboard again. The app
copies a password and, ``seconds`` later, sends the empty sequence — unless something
else was copied through the app since.
"""

from __future__ import annotations

import base64

from textual.app import App
from textual.timer import Timer

DEFAULT_SECONDS = 30.0


def osc52(text: str) -> str:
    """The OSC 52 sequence that puts ``text`` on the clipboard ('' empties it)."""
    return "\x1b]52;c;" + base64.b64encode(text.encode()).decode() + "\a"


def copy_for_a_while(app: App, text: str, seconds: float) -> Timer | None:
    """Copy ``text`` through the terminal and clear the clipboard after ``seconds``
    (0 or less: never); the timer of the clearing, which replaces an earlier one."""
    earlier: Timer | None = getattr(app, "_clipboard_clearing", None)
    if earlier is not None:
        earlier.stop()
    app.copy_to_clipboard(text)  # Textual writes osc52(text) to the terminal

    def clear() -> None:
        app._clipboard_clearing = None
        if app.clipboard == text:  # nothing else was copied since
            app.copy_to_clipboard("")

    timer = app.set_timer(seconds, clear, name="clear-clipboard") if seconds > 0 else None
    app._clipboard_clearing = timer
    return timer
