"""Rendering server data inert: never markup, never a live terminal escape."""

from __future__ import annotations

from rich.text import Text

# C0 controls and DEL become their visible Unicode "control picture" symbols.
_PICTURES = {code: chr(0x2400 + code) for code in range(0x20)} | {0x7F: "\u2421"}


def inert(value: object) -> Text:
    """Plain text with control characters made visible (so ESC sequences do nothing)."""
    return Text(str(value if value is not None else "").translate(_PICTURES))


_PICTURES_BUT_NEWLINE = {k: v for k, v in _PICTURES.items() if k != 0x0A}


def inert_lines(value: object) -> Text:
    """``inert``, but line breaks stay line breaks (a QR code, a dialog's several lines);
    every other control character is still made visible."""
    return Text(str(value if value is not None else "").translate(_PICTURES_BUT_NEWLINE))
