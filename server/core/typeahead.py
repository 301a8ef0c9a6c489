"""Keys typed before the TUI has the terminal: never echoed, and Enter still Enter.

A terminal starts in the line discipline's cooked mode: it echoes every key and turns the
Enter key's carriage return into a line feed. Strongroom's TUI takes the terminal over
(raw mode) only once Python, the server's modules and Textual are loaded, a second or
more. An administrator who types the login ahead of the screen (``strongroom tui``,
then the user name, Tab, the password and Enter, at once) would otherwise see the
password echoed on the shell's screen, where it stays after the TUI ends, and the
Enter read as Ctrl+J.

``hold_keys(fd)`` switches echo, line editing and that translation off at once, without
dropping what is already typed (``TCSANOW``: queued input stays); keys then wait, unseen,
until the TUI reads them. Signals stay on, so Ctrl+C still stops a start that hangs.
It returns the function that puts the terminal back as it was. The SSH gateway sets the
same mode on the pty it makes for the TUI before starting it (server/gateway/tui_channel.py).
POSIX only: on Windows, and where ``fd`` is not a terminal, nothing is changed.

Source: newcomer pass, session 11 (a typed-ahead password echoed, its Enter lost);
termios(3) for the flags.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def hold_keys(fd: int) -> Callable[[], None] | None:
    """Stop the terminal on ``fd`` echoing keys and turning CR into LF, keeping what is
    queued.

    Returns: a function (no arguments, raises nothing) that restores the terminal's
    previous mode, or None when ``fd`` is not a terminal or the system has no termios.
    """
    if os.name != "posix":
        return None
    import termios  # POSIX only: imported where used (issue 34)

    try:
        if not os.isatty(fd):
            return None
        before = termios.tcgetattr(fd)
    except (OSError, termios.error):
        return None
    held = held_mode(before)
    try:
        termios.tcsetattr(fd, termios.TCSANOW, held)
    except (OSError, termios.error):
        return None

    def restore() -> None:
        try:
            termios.tcsetattr(fd, termios.TCSANOW, before)
        except (OSError, termios.error):
            pass  # the terminal is gone (a dropped SSH connection): nothing to restore

    return restore


def held_mode(attributes: list[Any]) -> list[Any]:
    """``attributes`` (as ``termios.tcgetattr`` gives them) with echo, canonical line
    editing and CR/LF translation of input off, reads returning each byte at once."""
    import termios

    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = attributes
    iflag &= ~(termios.ICRNL | termios.INLCR | termios.IGNCR)
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.IEXTEN)
    cc = list(cc)
    cc[termios.VMIN], cc[termios.VTIME] = 1, 0
    return [iflag, oflag, cflag, lflag, ispeed, ospeed, cc]
