"""A hint in an empty field reads as a hint, not as typed text, without colour too."""

from __future__ import annotations

from textual.widgets import Input

# A field's hint (an empty input's placeholder, a picker's prompt) is drawn between these:
# without colour (NO_COLOR, a monochrome terminal, a screen reader of the text) a grey
# 'MSPOrg' read like typed text (newcomer pass, session 11).
HINT_OPEN, HINT_CLOSE = "\u2039", "\u203a"  # single angle quotation marks


def as_hint(text: str) -> str:
    """``text`` as a hint is drawn, between ``HINT_OPEN`` and ``HINT_CLOSE``; an empty
    text, or one drawn as a hint already, as it is."""
    if not text or (text.startswith(HINT_OPEN) and text.endswith(HINT_CLOSE)):
        return text
    return f"{HINT_OPEN}{text}{HINT_CLOSE}"


def inputs_show_hints() -> None:
    """App-wide: every input's placeholder is drawn as a hint (``as_hint``); its italic
    style is in app.tcss. Idempotent."""
    if getattr(Input, "_strongroom_hints", False):
        return

    def validate_placeholder(self: Input, placeholder: str) -> str:
        return as_hint(placeholder)

    Input.validate_placeholder = validate_placeholder  # type: ignore[attr-defined]
    Input._strongroom_hints = True  # type: ignore[attr-defined]
