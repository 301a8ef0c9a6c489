"""A multi-select picker: a checklist that Space toggles and typing searches."""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from textual import events
from textual.binding import Binding
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList

from tui.controls.picker import HIGHLIGHT_MARK, highlighted_line
from tui.controls.table import REVERSED


class MultiPicker(SelectionList[str]):
    """A form's checklist (group members, a role's permissions, categories to replicate).

    Up/Down move, Space toggles the highlighted row, Ctrl+A checks all (or none); typing
    jumps to the first row whose label starts with what was typed (letters are searches,
    never shortcuts); Enter submits the form, as in every other field. The form reads the
    checked values in the order of its choices.
    """

    BINDINGS = [
        Binding("space", "select", "Toggle", show=False),
        Binding("ctrl+a", "toggle_all", "All/none", show=False),
    ]

    # An unticked row's box is empty, a ticked one shows a bold X (Textual's default shows
    # an X in both, told apart by colour alone: unreadable on many terminals). The colours
    # below keep that look; ``render_line`` draws no X at all in an unticked box, so it is
    # empty without colour too (newcomer pass 11: every box read "X" on a terminal without
    # colour).
    DEFAULT_CSS = """
    MultiPicker { height: auto; max-height: 8; }
    MultiPicker > .option-list--option,
    MultiPicker.-textual-compact > .option-list--option { padding: 0 2 0 0; }
    MultiPicker > .selection-list--button,
    MultiPicker > .selection-list--button-highlighted { color: $panel; background: $panel; }
    MultiPicker > .selection-list--button-selected,
    MultiPicker > .selection-list--button-selected-highlighted {
        color: $text-success; background: $panel; text-style: bold;
    }
    """

    def render_line(self, y: int) -> Strip:
        """Textual's line, with the box of an unticked row drawn empty (a space where its
        X was), and the highlighted row marked while the checklist has the focus."""
        strip = self._unticked_empty(super().render_line(y))
        # Every row moves right by the mark's width (the room the options keep on their
        # right), so the boxes stay in one column and only the highlighted row is marked.
        width = strip.cell_length
        marked = self.has_focus and highlighted_line(self, y)
        mark = HIGHLIGHT_MARK if marked else " " * cell_len(HIGHLIGHT_MARK)
        line = Strip([Segment(mark, self.rich_style), *strip.crop(0, width)]).crop(0, width)
        if marked and self.app.no_color:  # reversed as well (CSS does not reach the lines)
            return Strip(Segment.apply_style(list(line), post_style=REVERSED), width)
        return line

    def _unticked_empty(self, strip: Strip) -> Strip:
        """``strip`` with the box of an unticked row drawn empty."""
        segments = list(strip)
        for i, segment in enumerate(segments):
            meta = segment.style.meta if segment.style is not None else None
            if segment.text != Checkbox.BUTTON_INNER or not meta or "option" not in meta:
                continue
            option = self.get_option_at_index(meta["option"])
            if option.value not in self._selected:
                segments[i] = Segment(" " * len(segment.text), segment.style)
                return Strip(segments, strip.cell_length)
            break
        return strip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._search = ""
        self._search_at = 0.0

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        """Printable keys are searches, not shortcuts."""
        return character is not None and character.isprintable() and key != "space"

    def action_toggle_all(self) -> None:
        """Check every row, or none when all are checked already."""
        if len(self.selected) == self.option_count:
            self.deselect_all()
        else:
            self.select_all()

    async def _on_key(self, event: events.Key) -> None:
        """Enter submits the form; printable keys search the labels."""
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            await self.run_action("screen.submit")
            return
        if not self.check_consume_key(event.key, event.character):
            return
        event.stop()
        event.prevent_default()
        now = event.time
        typed = self._search if now - self._search_at < 1.0 else ""
        self._search_at = now
        # 'ca' goes on searching; a letter that matches nothing after the search so far
        # starts a new search ('c' then 'b' finds Carol, then Bob).
        for search in (typed + event.character, event.character):
            index = self._first_match(search)
            if index is not None:
                self._search = search
                self.highlighted = index
                return
        self._search = ""

    def _first_match(self, search: str) -> int | None:
        """The first row whose label starts with ``search`` (case-insensitive)."""
        wanted = search.casefold()
        for index in range(self.option_count):
            if str(self.get_option_at_index(index).prompt).casefold().startswith(wanted):
                return index
        return None
