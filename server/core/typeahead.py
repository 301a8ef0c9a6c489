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

_taken = bytearray()  # keys typed before the hold, read by it, for the TUI (``typed_ahead``)


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
    _take_typed(fd, echoed=bool(before[3] & termios.ECHO))

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


def typed_ahead() -> bytes:
    """The keys typed before ``hold_keys`` (echoed by the terminal then, their echo since
    erased), for the TUI to read before anything else; empty after the first call."""
    keys = bytes(_taken)
    _taken.clear()
    return keys


def _take_typed(fd: int, echoed: bool) -> None:
    """Read what was typed before the hold and, when the terminal ``echoed`` it (after
    the command's line), erase that echo from the screen, so a password typed at once
    does not stay there, after the TUI too (newcomer pass, session 12). The keys are kept
    for the TUI (``typed_ahead``)."""
    import fcntl
    import struct
    import termios

    try:
        waiting = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        typed = os.read(fd, waiting) if waiting > 0 else b""
    except OSError:
        return
    if not typed:
        return
    _taken.extend(typed)
    if not echoed:
        return
    try:
        width = os.get_terminal_size(fd).columns or 80
        os.write(fd, erase_echo(typed.decode("utf-8", "replace"), width).encode())
    except OSError:
        pass  # no screen to clean (the terminal went away)


def erase_echo(typed: str, width: int) -> str:
    """The control sequence that erases the terminal's echo of ``typed`` (a cooked-mode
    echo begun at a line's start: a line feed ends a line, a tab goes to the next stop of
    8, a control character shows as ^X, a line longer than ``width`` wraps), leaving the
    cursor where the echo began. ECMA-48: CR, EL (CSI K), CUU (CSI A)."""
    rows, column = 0, 0
    for character in typed:
        if character in "\r\n":
            rows, column = rows + 1, 0
            continue
        column = (
            (column // 8 + 1) * 8
            if character == "\t"
            else column + (2 if ord(character) < 32 or ord(character) == 127 else 1)
        )
        if column > width:
            rows, column = rows + 1, column - width
    return "\r\x1b[K" + "\x1b[A\x1b[K" * rows
