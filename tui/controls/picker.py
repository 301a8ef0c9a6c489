"""A picker: a Select that is searched by typing and never loses keys typed quickly."""

from __future__ import annotations

from typing import Any

from textual import events, on
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import Select
from textual.widgets._select import SelectOverlay


class Picker(Select[str]):
    """A form's picker. Typing opens it and jumps to the first match; Space or Down opens
    it; Up/Down move, Enter chooses, Esc closes the list; Tab chooses nothing and moves on;
    Enter on the closed picker submits the form (or, with ``enter_submits=False``, opens it).

    The picker keeps the focus while its list is open (the list never takes it), so keys
    typed quickly, before a focus change could land, all reach the same place.
    """

    BINDINGS = [Binding("space,down", "show_overlay", "Open the list", show=False)]

    def __init__(self, *args: Any, enter_submits: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._enter_submits = enter_submits

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        """Printable keys are searches, not shortcuts."""
        return character is not None and character.isprintable()

    def _watch_expanded(self, expanded: bool) -> None:
        """Show the list without giving it the focus; highlight the current choice."""
        try:
            overlay = self.query_one(SelectOverlay)
        except NoMatches:
            return
        self.set_class(expanded, "-expanded")
        if expanded:
            overlay._search_query = ""
            values = [value for _prompt, value in self._options]
            overlay.select(values.index(self.value) if self.value in values else None)

    def _on_blur(self, _event: events.Blur) -> None:
        """Leaving the picker (Tab) closes its list without choosing."""
        self.expanded = False

    def _choose(self, index: int | None) -> None:
        """Take the highlighted choice; the blank row (the prompt) chooses nothing, so the
        current choice stays rather than silently becoming a default."""
        if index is not None and self._options[index][1] is not Select.BLANK:
            self.value = self._options[index][1]
        self.expanded = False

    async def _on_key(self, event: events.Key) -> None:
        """Search, move and choose while the list is open; typing opens it."""
        overlay = self.query_one(SelectOverlay)
        printable = self.check_consume_key(event.key, event.character)
        if not self.expanded:
            if event.key == "enter":
                event.stop()
                event.prevent_default()
                if self._enter_submits:
                    await self.run_action("screen.submit")
                else:
                    self.action_show_overlay()
                return
            if not printable or event.key == "space":
                return  # bindings: Space/Down open
            self.expanded = True
        event.stop()
        event.prevent_default()
        if event.key == "enter":
            self._choose(overlay.highlighted)
        elif event.key == "escape":
            self.expanded = False
        elif event.key == "down":
            overlay.action_cursor_down()
        elif event.key == "up":
            overlay.action_cursor_up()
        elif printable:
            overlay._search_query += event.character or ""
            match = overlay._find_search_match(overlay._search_query)
            if match is not None:
                overlay.select(match)

    @on(SelectOverlay.UpdateSelection)
    def _picked(self, event: SelectOverlay.UpdateSelection) -> None:
        """A choice by mouse: take it, keep the focus here."""
        event.stop()
        event.prevent_default()
        self._choose(event.option_index)
        self.screen.set_focus(self)
