"""The terminal driver of the TUI on POSIX systems: Textual's Linux driver with the input
rules of ``tui.terminal`` (bytes that are not UTF-8 read as U+FFFD, Esc then a key never
read as Alt+key, the mouse never tracked, a hang-up ends the app).

Imported only where the driver is chosen (``tui.app``): Textual's Linux driver needs
``termios``, which Windows lacks (issue 34: every module imports on Windows).
"""

from __future__ import annotations

import os
import selectors
import sys
from codecs import getincrementaldecoder

from textual._parser import ParseError
from textual.drivers.linux_driver import LinuxDriver

from server.core.typeahead import typed_ahead
from tui.terminal import MOUSE_OFF, EscapeThenKeyParser


class StrongroomDriver(LinuxDriver):
    """The Linux driver with the input rules of the module docstring."""

    def _get_terminal_size(self) -> tuple[int, int]:
        """The size the terminal says it has (TIOCGWINSZ), never COLUMNS/LINES from the
        environment, which stay at the size of the start and would hide every resize."""
        for stream in (sys.__stdout__, sys.__stdin__, sys.__stderr__):
            try:
                size = os.get_terminal_size(stream.fileno())  # type: ignore[union-attr]
            except (AttributeError, ValueError, OSError):
                continue
            if size.columns and size.lines:
                return size.columns, size.lines
        return super()._get_terminal_size()

    def _enable_mouse_support(self) -> None:
        """Never track the mouse (a keyboard-only app)."""

    def _disable_mouse_support(self) -> None:
        """Turn off every mouse mode (left on by a program that died before us, or by a
        dropped connection)."""
        self.write(MOUSE_OFF)
        self.flush()

    def start_application_mode(self) -> None:
        """Textual's start, then every mouse mode off."""
        super().start_application_mode()
        self._disable_mouse_support()

    def run_input_thread(self) -> None:
        """Read the keyboard until the app ends or the terminal goes away."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        parser = EscapeThenKeyParser(self._debug)
        decode = getincrementaldecoder("utf-8")(errors="replace").decode
        gone = False
        try:
            # Keys typed before the TUI had the terminal, which ``strongroom tui`` read
            # to erase their echo: first, as if just read (an empty feed would be the
            # parser's end of input).
            if early := decode(typed_ahead()):
                for event in parser.feed(early):
                    self.process_message(event)
            while not self.exit_event.is_set() and not gone:
                for _key, mask in selector.select(0.1):
                    if not mask & selectors.EVENT_READ:
                        continue
                    try:
                        data = os.read(fileno, 1024 * 4)
                    except OSError:  # EIO: the terminal (or the SSH connection) is gone
                        data = b""
                    if not data:
                        gone = True
                        break
                    for event in parser.feed(decode(data)):
                        self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass
        if gone:
            self._app.call_later(self._app.hang_up)  # type: ignore[attr-defined]
