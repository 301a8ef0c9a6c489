"""The clipboard by OSC 52: a copied password is cleared again after a while.

OSC 52 asks the terminal (local, or at the far end of an SSH link) to put text on the
system clipboard; sending it with empty content empties the clipboard again. The app
copies a password and, ``seconds`` later, sends the empty sequence — unless something
else was copied through the app since.
"""

from __future__ import annotations

import base64
import os
import subprocess

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


def clear_now(app: App) -> None:
    """Empty the clipboard now if this app put something on it (quit, log out, hang-up:
    issue 35 item 9); the timer that would have done it later is stopped."""
    timer: Timer | None = getattr(app, "_clipboard_clearing", None)
    if timer is not None:
        timer.stop()
        app._clipboard_clearing = None
    if app.clipboard:
        try:
            app.copy_to_clipboard("")
        except OSError:  # the terminal is already gone (hang-up): nothing to clear on
            app.log.warning("the clipboard could not be cleared: no terminal")


def terminal_refusal(environ: dict[str, str] | None = None) -> str | None:
    """Why the terminal will not take OSC 52, when that can be known, else None.

    Inside tmux (``TMUX`` set) OSC 52 reaches the outer terminal only with tmux's
    ``set-clipboard`` on; its default, ``external``, drops it silently. Other terminals
    cannot be asked, so the copy sentence says it may not have been taken.
    """
    env = os.environ if environ is None else environ
    if not env.get("TMUX"):
        return None
    try:
        done = subprocess.run(
            ["tmux", "show-options", "-gv", "set-clipboard"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
            env=None if environ is None else dict(environ),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    setting = done.stdout.strip()
    if done.returncode != 0 or setting in ("on", ""):
        return None
    return (
        f"tmux does not pass it on (its set-clipboard is {setting}); "
        "run: tmux set -g set-clipboard on"
    )


def copied_sentence(app: App, what: str, seconds: float, instead: str = "reveal it with r") -> str:
    """What to say after a copy of ``what``: when it is cleared, and honest about a
    terminal that may not take it (``instead``: what to do then)."""
    refusal = None if app.is_headless else terminal_refusal()  # asked each time: it may change
    if refusal:
        return f"{what} was not copied: {refusal} (or {instead})."
    after = f"; cleared in {seconds:g} s" if seconds > 0 else ""
    return (
        f"{what} sent to the terminal's clipboard{after}. If pasting gives nothing, "
        f"the terminal does not accept OSC 52: {instead} instead."
    )
