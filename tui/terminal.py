"""The terminal the TUI runs in, as it is over SSH: what it can show, and its input bytes.

- ``unsupported(...)``: a sentence saying why this terminal cannot run the TUI (no
  terminal on stdin/stdout, TERM=dumb or a terminal without colour or cursor movement,
  a locale that is not UTF-8, a window below 80x24), or None. The cheaper honest
  choice of issue 35 item 9: refuse with a clear message rather than draw half of it.
- ``StrongroomDriver`` (tui/posix_driver.py): Textual's Linux driver, reading the keyboard so that
  * a byte that is not UTF-8 (a Latin-1 ü, Meta sent as an 8-bit byte, a Latin-1
    paste) becomes U+FFFD instead of a ``UnicodeDecodeError`` that ends the app;
  * the end of input (EOF, or EIO once the SSH connection or the terminal is gone)
    ends the app instead of spinning at 100 % CPU on a dead descriptor;
  * Esc followed quickly by a key is Esc and then that key, never Alt+key (nothing in
    the app is bound to Alt; over SSH the two arrive in one read);
  * the mouse is never tracked (a keyboard-only app), and tracking left on by a
    program that died before us is turned off;
  * the size is the terminal's own, never COLUMNS/LINES left in the environment (which
    hid every resize, so the "window too small" message never came).
"""

from __future__ import annotations

import locale
import os
import sys
from collections.abc import Generator, Iterable, Mapping
from typing import Any, TextIO

from textual import events
from textual._parser import ParseError, ParseTimeout, Peek1, Read1
from textual._xterm_parser import XTermParser

MIN_COLUMNS, MIN_LINES = 80, 24
ESC = "\x1b"
SEQUENCE_STARTS = "[O]P_\\" + ESC  # after ESC these begin an escape sequence (CSI, SS3, …)
TYPED_AFTER_ESC = 24  # longer than any sequence the app reads, shorter than Textual's 32
MOUSE_OFF = "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1005l\x1b[?1006l\x1b[?1015l"
UNSUPPORTED_TERMS = ("dumb", "unknown", "")


def unsupported(
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    encoding: str | None = None,
) -> str | None:
    """Why the TUI cannot run in this terminal (a sentence that says what to do), or None.

    ``stdin``/``stdout`` default to the process's, ``environ`` to ``os.environ``,
    ``encoding`` to the locale's preferred encoding. The size is checked at start-up
    by the app itself (``too_small``), which also follows resizes. Source: issue 35 item 9.
    """
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    env = os.environ if environ is None else environ
    if not (_is_tty(stdin) and _is_tty(stdout)):
        return (
            "strongroom tui needs a terminal: run it in one, or over SSH with a terminal "
            "(ssh -t host strongroom tui URL)."
        )
    term = env.get("TERM", "").strip().lower()
    if term in UNSUPPORTED_TERMS:
        return (
            f"this terminal (TERM={term or 'unset'}) cannot move the cursor or show colour: "
            "run strongroom tui in a terminal such as xterm-256color, tmux or screen."
        )
    if encoding is None:
        # The charset the locale names (what an SSH client forwards: its terminal's), even
        # where that locale is not installed here and Python fell back to UTF-8.
        # LC_CTYPE=C.UTF-8 may be Python's own doing (PEP 538 coerces a locale that is not
        # installed and says so there), so the LANG behind it still counts.
        ctype = env.get("LC_CTYPE", "")
        ctype = "" if ctype in ("C.UTF-8", "C.utf8") else ctype
        named = next((v for v in (env.get("LC_ALL"), ctype, env.get("LANG")) if v), "")
        charset = named.partition(".")[2].partition("@")[0]
        encoding = charset or locale.getpreferredencoding(False)
    if encoding.replace("-", "").replace("_", "").lower() != "utf8":
        return (
            f"the locale's character set is {encoding}, not UTF-8, so boxes and arrows "
            "cannot be drawn: set a UTF-8 locale (for example LANG=C.UTF-8) and make sure "
            "the terminal shows UTF-8."
        )
    return None


def too_small(columns: int, lines: int) -> str | None:
    """The 'window too small' sentence for a terminal below 80x24, or None."""
    if columns >= MIN_COLUMNS and lines >= MIN_LINES:
        return None
    return (
        f"The window is {columns}x{lines}; Strongroom needs at least "
        f"{MIN_COLUMNS}x{MIN_LINES}. Make it larger (nothing typed so far is lost)."
    )


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class EscapeThenKeyParser(XTermParser):
    """Textual's parser, except that Esc followed by a key that cannot begin an escape
    sequence is Esc, then that key (Textual reads it as Alt+key, or past 32 characters
    as a ``^``), as is Esc followed by keys that begin one but never complete it (Esc
    then P, O or [ typed at once), and a line feed typed outside a paste is Enter: the
    Enter of keys typed before the TUI had the terminal arrives as one (the cooked mode
    turns CR into LF), and nothing in the app is bound to Ctrl+J
    (``server.core.typeahead``)."""

    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterable[events.Key]:
        if sequence == "\n" and not alt:
            return [events.Key("enter", "\r")]
        return super()._sequence_to_key_events(sequence, alt)

    def parse(self, token_callback: Any) -> Generator[Read1 | Peek1, str, None]:
        inner = super().parse(token_callback)
        request = next(inner)
        # ESC and what followed it while the inner parser waits to know the sequence
        # ("\x1bO" could still become F1): if nothing completes it in time, or it grows
        # past any sequence the app reads, it was typed: Esc, then those keys.
        pending = ""
        while True:
            try:
                character = yield request
            except ParseError as error:  # a timeout, or the end of input
                if isinstance(error, ParseTimeout) and len(pending) > 1:
                    inner, request = self._typed(token_callback, pending)
                    pending = ""
                    continue
                pending = ""
                try:
                    request = inner.throw(error)
                except StopIteration:
                    return
                continue
            try:
                if pending == ESC and character not in SEQUENCE_STARTS:
                    request = inner.throw(ParseTimeout())  # as if Esc came alone: Esc
                    pending = ""
                request = inner.send(character)
            except StopIteration:
                return
            if request.timeout is None:
                pending = ""  # no sequence under way (or one just completed)
            elif character == ESC:
                pending = ESC  # a new sequence begins (the ESC before it was given out)
            elif pending:
                pending += character
                if len(pending) >= TYPED_AFTER_ESC:
                    inner, request = self._typed(token_callback, pending)
                    pending = ""

    def _typed(
        self, token_callback: Any, pending: str
    ) -> tuple[Generator[Read1 | Peek1, str, None], Read1 | Peek1]:
        """Give out ``pending`` (ESC and the characters after it) as Esc and keys; a fresh
        inner parser (the old one held the unfinished sequence) and its first request."""
        token_callback(events.Key("escape", ESC))
        for character in pending[1:]:
            for event in self._sequence_to_key_events(character):
                token_callback(event)
        inner = super().parse(token_callback)
        return inner, next(inner)
